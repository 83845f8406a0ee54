"""Customer import throughput: a generated CSV (5% bad rows, 10% duplicates)
imported by `clientbook import` into SQLite and into PostgreSQL, with wall
time and peak RSS, against PostgreSQL COPY of the same file in the same run.

    .venv/bin/python bench/import_customers.py --rows 100000
    .venv/bin/python bench/import_customers.py --rows 1000000 --skip-sqlite

The import runs with normalisation and validation on (phones, 身份证 check
digits, dates, addresses split into province/city/district, pinyin keys).
"""

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
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


def run_import(path: Path, env: dict) -> dict:
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
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "clientbook.cli",
            "import",
            str(path),
            "--source",
            "bench",
            "-v0",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = done.stdout.strip().splitlines()[0]  # the counts; rejects follow
    return {"seconds": seconds, "peak_rss_mb": rss, "summary": summary}


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


def fresh_pg(db: str) -> None:
    with psycopg.connect(PG + "test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cb-import-"))
    path = work / "customers.csv"
    start = time.perf_counter()
    generate(path, args.rows, args.seed)
    print(
        f"generated {args.rows:,} rows in {time.perf_counter() - start:.0f} s: {path}"
    )
    results = {"rows": args.rows}
    if not args.skip_sqlite:
        env = {**os.environ, "CLIENTBOOK_VAR": str(work / "sqlite")}
        env.pop("DATABASE_URL", None)
        results["sqlite"] = run_import(path, env)
    fresh_pg("cb_bench_import")
    results["copy_seconds"] = copy_baseline(path, "cb_bench_import")
    env = {
        **os.environ,
        "DATABASE_URL": PG + "cb_bench_import",
        "CLIENTBOOK_VAR": str(work / "pg"),
    }
    results["postgresql"] = run_import(path, env)
    report(results)
    OUT.mkdir(exist_ok=True)
    (OUT / f"import_{args.rows}.json").write_text(json.dumps(results, indent=2))


def report(results: dict) -> None:
    rows, copy = results["rows"], results["copy_seconds"]
    print(
        "\n| run | seconds | rows/s | peak RSS MB | × COPY |\n|---|---:|---:|---:|---:|"
    )
    rate = f"{rows / copy:,.0f}"
    print(f"| PostgreSQL COPY (raw text, baseline) | {copy:.1f} | {rate} | | 1.0 |")
    for name in ("sqlite", "postgresql"):
        if name in results:
            r = results[name]
            print(
                f"| import into {name} | {r['seconds']:.1f} | "
                f"{rows / r['seconds']:,.0f} | {r['peak_rss_mb']:.0f} | "
                f"{r['seconds'] / copy:.1f} |"
            )
            print(f"|  {r['summary']} |||||")


if __name__ == "__main__":
    main()
