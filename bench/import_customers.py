"""Customer import throughput: a generated CSV (5% bad rows, 10% duplicates)
imported by `clientbook import` into SQLite and into PostgreSQL, with wall
time and peak RSS, against PostgreSQL COPY of the same file in the same run.

    .venv/bin/python bench/import_customers.py --rows 100000
    .venv/bin/python bench/import_customers.py --rows 1000000 --skip-sqlite

The import runs with normalisation and validation on (phones, 身份证 check
digits, dates, addresses split into province/city/district, pinyin keys).
It parses in worker processes (one per core) unless `--workers` says
otherwise. Peak RSS is the largest sum over the import's process tree
(sampled every half second; shared pages counted in every process, so an
upper bound), peak PSS the same with each shared page split among the
processes sharing it (the tree's real footprint, pages shared with other
programs apart); CPU is the importing process's own (sampled: a lower bound), the
tree's (its parsers added) user + system time, and on PostgreSQL also the
CPU of the server backends serving the import (sampled; the server shares the
cores); load is the machine's
1-minute load average before and after (the machine is shared).
"""

import argparse
import contextlib
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from faker import Faker
from stdnum.cn import ric

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG = "postgres://postgres@127.0.0.1:5432/"
HEADERS = ["姓名", "性别", "生日", "手机", "身份证号", "邮箱", "地址"]
PLACES = [
    "上海市黄浦区南京东路",
    "北京市海淀区中关村大街",
    "浙江省杭州市西湖区文三路",
    "广东省深圳市南山区科技园",
    "四川省成都市武侯区人民南路",
    "江苏省南京市鼓楼区中山路",
]


def generate(path: Path, rows: int, seed: int) -> None:
    fake, rng = Faker("zh_CN"), random.Random(seed)
    Faker.seed(seed)
    kept: list[list[str]] = []
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADERS)
        for i in range(rows):
            roll = rng.random()
            if roll < 0.10 and kept:  # a duplicate, its phone written otherwise
                row = list(rng.choice(kept))
                row[3] = f"+86 {row[3][:3]} {row[3][3:7]} {row[3][7:]}"
            else:
                row = _person(fake, rng, i)
                if len(kept) < 50_000:
                    kept.append(row)
            if 0.10 <= roll < 0.15:  # a bad row
                row = _spoil(list(row), rng)
            writer.writerow(row)


def _person(fake, rng, i: int) -> list[str]:
    born = fake.date_of_birth(minimum_age=18, maximum_age=85)
    male = rng.random() < 0.5
    body = f"{rng.choice(['110108', '310101', '330106', '440305'])}{born:%Y%m%d}"
    body += f"{rng.randrange(100):02d}{rng.choice('13579' if male else '02468')}"
    national_id = body + ric.calc_check_digit(body + "0") if rng.random() < 0.6 else ""
    return [
        fake.name_male() if male else fake.name_female(),
        "男" if male else "女",
        born.isoformat()
        if rng.random() < 0.5
        else f"{born.year}/{born.month}/{born.day}",
        f"1{rng.choice('3589')}{i:09d}",
        national_id,
        f"u{i}@example.com" if rng.random() < 0.5 else "",
        f"{rng.choice(PLACES)}{rng.randrange(1, 999)}号",
    ]


def _spoil(row: list[str], rng) -> list[str]:
    kind = rng.randrange(4)
    if kind == 0:
        row[3] = "12345"
    elif kind == 1:
        row[2] = "明年"
    elif kind == 2:
        row[0] = ""
    else:
        row[4] = (
            (row[4][:-1] + ("0" if row[4][-1:] != "0" else "1")) if row[4] else "123"
        )
    return row


def run_import(path: Path, env: dict, *, db: str = "") -> dict:
    subprocess.run(
        [sys.executable, "-m", "clientbook.cli", "migrate", "-v0"], env=env, check=True
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import django,os;"
                "os.environ['DJANGO_SETTINGS_MODULE']='clientbook.settings';"
                "django.setup();from clientbook.privacy.models import Source;"
                "Source.objects.get_or_create(code='bench',defaults=dict(name='bench',"
                "kind='purchased',legal_basis='consent'))"
            ),
        ],
        env=env,
        check=True,
    )
    before, load = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "clientbook.cli", "import", str(path)]
        + ["--source", "bench", "-v0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = _watch_rss(process.pid, db)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(err)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_mb = peak.wait()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "server_cpu_seconds": peak.server_cpu() if db else None,
        "importer_cpu_seconds": peak.importer,
        "peak_rss_mb": peak_mb,
        "peak_pss_mb": peak.peak_pss / 1024,
        "largest_process_rss_mb": after.ru_maxrss / 1024,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "summary": out.strip().splitlines()[0],  # the counts; rejects follow
    }


class _Peak(threading.Thread):
    """The largest total RSS of a process and its descendants, and the CPU
    time of the PostgreSQL backends serving database `db` (the server's
    share of the import: it runs on the same two cores)."""

    def __init__(self, pid: int, db: str = ""):
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_pss, self.db = pid, 0, 0, db
        self.backends: dict[int, float] = {}  # pid → CPU seconds last seen
        self.importer = 0.0  # the importing process's own CPU, last seen

    def run(self) -> None:
        conn = psycopg.connect(PG + "postgres", autocommit=True) if self.db else None
        while Path(f"/proc/{self.pid}").exists():
            rss, pss = _tree_memory_kb(self.pid)
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            with contextlib.suppress(OSError, IndexError, ValueError):
                self.importer = _cpu_seconds(self.pid)
            if conn is not None:
                self._sample_backends(conn)
            time.sleep(0.5)
        if conn is not None:
            conn.close()

    def _sample_backends(self, conn) -> None:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.db]
        ).fetchall()
        for (pid,) in pids:
            with contextlib.suppress(OSError, IndexError, ValueError):
                self.backends[pid] = _cpu_seconds(pid)

    def wait(self) -> float:
        self.join()
        return self.peak / 1024

    def server_cpu(self) -> float:
        """A lower bound: CPU a backend used after its last sample is missed."""
        return sum(self.backends.values())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _watch_rss(pid: int, db: str = "") -> _Peak:
    watcher = _Peak(pid, db)
    watcher.start()
    return watcher


def _tree_memory_kb(pid: int) -> tuple[int, int]:
    """RSS and PSS of a process and its descendants."""
    rss, pss, todo = 0, 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            rss += int(status.split("VmRSS:")[1].split()[0])
            pss += int(rollup.split("\nPss:")[1].split()[0])
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                todo += [int(c) for c in children.split()]
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
    return rss, pss


def copy_baseline(path: Path, db: str) -> float:
    with psycopg.connect(PG + db, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS copy_baseline")
        conn.execute(
            "CREATE TABLE copy_baseline (name text, gender text, birth text, "
            "mobile text, national_id text, email text, address text)"
        )
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            path.open("rb") as stream,
            cur.copy(
                "COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy,
        ):
            while block := stream.read(1 << 20):
                copy.write(block)
        seconds = time.perf_counter() - start
        conn.execute("DROP TABLE copy_baseline")
    return seconds


def _head(source: Path, target: Path, rows: int) -> None:
    with (
        source.open(encoding="utf-8") as src,
        target.open("w", encoding="utf-8") as out,
    ):
        for i, line in enumerate(src):
            if i > rows:
                break
            out.write(line)


def fresh_pg(db: str) -> None:
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")


def main() -> None:
    global PG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--sqlite-rows", type=int, help="fewer rows for SQLite")
    parser.add_argument(
        "--skip-postgresql",
        action="store_true",
        help="only COPY on PostgreSQL (for the ratio), no import there",
    )
    parser.add_argument(
        "--workers", type=int, help="parsing processes (default: one per core)"
    )
    parser.add_argument(
        "--pg",
        default=PG,
        help="PostgreSQL server URL ending in / (bench/pg-tuned.sh starts a tuned one)",
    )
    args = parser.parse_args()
    PG = args.pg
    if args.workers is not None:
        os.environ["CLIENTBOOK_IMPORT_WORKERS"] = str(args.workers)
    work = Path(tempfile.mkdtemp(prefix="cb-import-"))
    path = work / "customers.csv"
    start = time.perf_counter()
    generate(path, args.rows, args.seed)
    print(
        f"generated {args.rows:,} rows in {time.perf_counter() - start:.0f} s: {path}"
    )
    results = {"rows": args.rows, "cores": os.cpu_count()}
    if not args.skip_sqlite:
        env = {**os.environ, "CLIENTBOOK_VAR": str(work / "sqlite")}
        env.pop("DATABASE_URL", None)
        sqlite_path = path
        if args.sqlite_rows and args.sqlite_rows < args.rows:
            sqlite_path = work / "customers_sqlite.csv"
            _head(path, sqlite_path, args.sqlite_rows)
        results["sqlite"] = run_import(sqlite_path, env)
        results["sqlite"]["rows"] = args.sqlite_rows or args.rows
    fresh_pg("cb_bench_import")
    results["copy_seconds"] = copy_baseline(path, "cb_bench_import")
    results["server"] = server_settings()
    env = {
        **os.environ,
        "DATABASE_URL": PG + "cb_bench_import",
        "CLIENTBOOK_VAR": str(work / "pg"),
    }
    if not args.skip_postgresql:
        results["postgresql"] = run_import(path, env, db="cb_bench_import")
    report(results)
    OUT.mkdir(exist_ok=True)
    (OUT / f"import_{args.rows}.json").write_text(json.dumps(results, indent=2))


def server_settings() -> str:
    """What decides how the server copes with indexes larger than memory."""
    names = ["shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression"]
    with psycopg.connect(PG + "postgres") as conn:
        return ", ".join(
            f"{n} {conn.execute(f'SHOW {n}').fetchone()[0]}" for n in names
        )


def report(results: dict) -> None:
    rows, copy = results["rows"], results["copy_seconds"]
    print(f"\nPostgreSQL: {results['server']}")
    print(
        "\n| run | rows | seconds | rows/s | CPU µs/row: importer / tree (+ server) "
        "| peak RSS / PSS MB (tree) | × COPY | load before/after |"
        "\n|---|---:|---:|---:|---:|---:|---:|---|"
    )
    rate = f"{rows / copy:,.0f}"
    print(
        f"| PostgreSQL COPY (raw text) | {rows:,} | {copy:.1f} | {rate} | | | 1.0 | |"
    )
    for name in ("sqlite", "postgresql"):
        if name in results:
            r = results[name]
            n = r.get("rows", rows)
            ratio = r["seconds"] / (copy * n / rows)  # against COPY of as many rows
            cpu = f"{r['importer_cpu_seconds'] / n * 1e6:.0f} / "
            cpu += f"{r['cpu_seconds'] / n * 1e6:.0f}"
            if r.get("server_cpu_seconds"):
                total = r["cpu_seconds"] + r["server_cpu_seconds"]
                cpu += f" ({total / n * 1e6:.0f})"
            print(
                f"| import into {name} | {n:,} | {r['seconds']:.1f} | "
                f"{n / r['seconds']:,.0f} | {cpu} | "
                f"{r['peak_rss_mb']:.0f} / {r['peak_pss_mb']:.0f} | {ratio:.1f} | "
                f"{r['load_before']:.1f} / {r['load_after']:.1f} |"
            )
            print(f"|  {r['summary']} ||||||||")


if __name__ == "__main__":
    main()
