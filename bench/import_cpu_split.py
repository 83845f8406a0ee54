"""Where an import's CPU goes: the importing process (its main thread apart),
its parsing processes and the PostgreSQL backends serving it, for one file
imported into a fresh database. For A/B comparisons of two versions of the
code on the same file (bench/README.md, "Fifth session"):

    .venv/bin/python bench/import_cpu_split.py FILE.csv [--pg URL]
    PYTHONPATH=../other-checkout/src .venv/bin/python bench/import_cpu_split.py FILE.csv
    .venv/bin/python bench/import_cpu_split.py FILE.csv --pg URL --statements 12

A file comes from `import_customers.py` (it prints where it wrote it). CPU
is sampled from /proc every 0.2 s, so each figure is a lower bound. The
machine's speed varied 2× between days and within one: the last line
times a fixed loop of Python before and after (`pace`, best of 5), so runs
of different days can be scaled to each other.
"""

import argparse
import contextlib
import os
import subprocess
import sys
import time
import timeit
from pathlib import Path

import psycopg

DB = "cb_bench_cpu_split"
_SOURCE = (
    "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='clientbook.settings';"
    "django.setup();from clientbook.privacy.models import Source;"
    "Source.objects.get_or_create(code='bench',defaults=dict(name='bench',"
    "kind='purchased',legal_basis='consent'))"
)


def cpu_seconds(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample(pid: int, conn, seen: dict) -> None:
    """The CPU so far of the importer, its main thread, its children and the
    backends serving the bench database."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        seen["importer"] = cpu_seconds(Path(f"/proc/{pid}/stat"))
        seen["importer's main thread"] = cpu_seconds(
            Path(f"/proc/{pid}/task/{pid}/stat")
        )
        for task in os.listdir(f"/proc/{pid}/task"):
            children = Path(f"/proc/{pid}/task/{task}/children").read_text()
            for child in children.split():
                seen[f"parser {child}"] = cpu_seconds(Path(f"/proc/{child}/stat"))
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB])
    for (backend,) in rows.fetchall():
        with contextlib.suppress(OSError, IndexError, ValueError):
            seen[f"backend {backend}"] = cpu_seconds(Path(f"/proc/{backend}/stat"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/")
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        metavar="N",
        help="also the N statements the server spent most time on"
        " (needs pg_stat_statements, as bench/pg-tuned.sh sets up)",
    )
    args = parser.parse_args()
    paced = pace()
    with psycopg.connect(args.pg + "postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    env = {**os.environ, "DATABASE_URL": args.pg + DB}
    env.setdefault("CLIENTBOOK_VAR", "/tmp/cb-bench-cpu-split")
    cli = [sys.executable, "-m", "clientbook.cli"]
    subprocess.run([*cli, "migrate", "-v0"], env=env, check=True)
    subprocess.run([sys.executable, "-c", _SOURCE], env=env, check=True)
    if args.statements:
        with psycopg.connect(args.pg + "postgres", autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
    with psycopg.connect(args.pg + DB, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # no timed checkpoint of the set-up inside the run
        seen: dict[str, float] = {}
        start = time.perf_counter()
        process = subprocess.Popen(
            [*cli, "import", str(args.file), "--source", "bench", "-v0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        while process.poll() is None:
            sample(process.pid, conn, seen)
            time.sleep(0.2)
        seconds = time.perf_counter() - start
    summary = process.stdout.read().splitlines()[0]
    rows = int(summary.split("read ")[1].split(",")[0])
    print(f"{summary}\n{seconds:.1f} s, {rows / seconds:,.0f} rows/s")
    parsers = sum(v for k, v in seen.items() if k.startswith("parser"))
    server = sum(v for k, v in seen.items() if k.startswith("backend"))
    for name, value in [
        ("importer", seen.get("importer", 0)),
        ("  its main thread", seen.get("importer's main thread", 0)),
        ("parsers", parsers),
        ("server", server),
    ]:
        print(f"{name:20} {value:7.1f} s {value / rows * 1e6:6.1f} µs a row")
    if args.statements:
        print_statements(args.pg, rows, args.statements)
    print(f"pace: sum(range(1000)) in {paced:.1f} µs before, {pace():.1f} after")


def pace() -> float:
    """The machine's speed at Python: 24 µs on the slow day of the twelfth
    session, when 1M rows took 102–106 s."""
    timer = timeit.Timer("sum(range(1000))")
    loops, _seconds = timer.autorange()
    return min(timer.repeat(5, loops)) / loops * 1e6


def print_statements(pg: str, rows: int, limit: int) -> None:
    """The statements of the import the server spent most time on."""
    with psycopg.connect(pg + "postgres") as conn:
        found = conn.execute(
            "SELECT s.total_exec_time, s.calls, s.query FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s"
            " ORDER BY s.total_exec_time DESC LIMIT %s",
            [DB, limit],
        ).fetchall()
    print(f"\n{'ms':>8} {'µs a row':>9} {'calls':>7}  statement")
    for ms, calls, query in found:
        text = " ".join(query.split())[:90]
        print(f"{ms:8.0f} {ms * 1000 / rows:9.1f} {calls:7}  {text}")


if __name__ == "__main__":
    main()
