"""Segment counts over the generated database: a 5-condition profile segment
and a behaviour segment, compiled by `clientbook.segments` and counted with
`.count()`, against hand-written SQL with the same meaning, in one process,
alternating, so both see the same cache.

    .venv/bin/python bench/segments.py [--db clientbook_bench_1m] [--runs 7] [--no-jit]
    .venv/bin/python bench/segments.py --sqlite var/bench.sqlite3

Reads only (no segment is saved). Prints p50 and max ms per query and the
ratio ORM / hand-written; writes bench/out/segments-*.json.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FIVE_CONDITIONS = {
    "version": 1,
    "match": "all",
    "conditions": [
        {"field": "gender", "op": "eq", "value": "F"},
        {"field": "age", "op": "between", "value": [25, 45]},
        {"field": "city", "op": "in", "value": ["上海市", "北京市", "杭州市"]},
        {
            "field": "consent",
            "channel": "sms",
            "purpose": "marketing",
            "op": "eq",
            "value": "granted",
        },
        {"field": "identifier", "type": "mobile", "op": "exists"},
    ],
}

BEHAVIOUR = {
    "version": 1,
    "match": "all",
    "conditions": [
        {
            "field": "bought",
            "op": "exists",
            "category": ["茶叶"],
            "window": {"last_days": 365},
        },
        {"field": "spent", "op": "gte", "value": 1000, "window": {"last_days": 365}},
        {"field": "order_count", "op": "gte", "value": 2, "window": {"last_days": 365}},
        {
            "field": "complained",
            "op": "exists",
            "negate": True,
            "window": {"last_days": 180},
        },
    ],
}

LIVE = "c.archived_at IS NULL AND c.merged_into_id IS NULL"

FIVE_SQL = f"""
SELECT count(*) FROM customers_customer c
WHERE {LIVE}
  AND c.gender = 'F'
  AND c.birth_date <= %(born_by)s AND c.birth_date > %(born_after)s
  AND EXISTS (SELECT 1 FROM customers_address a
              WHERE a.customer_id = c.id AND a.city IN ('上海市', '北京市', '杭州市'))
  AND EXISTS (SELECT 1 FROM privacy_consentstate p
              WHERE p.customer_id = c.id AND p.channel = 'sms'
                AND p.purpose = 'marketing' AND p.status = 'granted')
  AND EXISTS (SELECT 1 FROM customers_identifier i
              WHERE i.customer_id = c.id AND i.type = 'mobile')
"""

BEHAVIOUR_SQL = f"""
SELECT count(*) FROM customers_customer c
WHERE {LIVE}
  AND EXISTS (SELECT 1 FROM sales_orderline l
              JOIN sales_order o ON o.id = l.order_id
              JOIN sales_product p ON p.id = l.product_id
              WHERE o.customer_id = c.id AND l.quantity > 0 AND p.category = '茶叶'
                AND o.ordered_at >= %(year_ago)s)
  AND COALESCE((SELECT sum(o.amount) FROM sales_order o
                WHERE o.customer_id = c.id AND o.ordered_at >= %(year_ago)s), 0)
      >= 1000
  AND COALESCE((SELECT count(*) FROM sales_order o
                WHERE o.customer_id = c.id AND o.amount > 0
                  AND o.ordered_at >= %(year_ago)s), 0) >= 2
  AND NOT EXISTS (SELECT 1 FROM activity_interaction i
                  WHERE i.customer_id = c.id AND i.type = 'complaint'
                    AND i.occurred_at >= %(half_year_ago)s)
"""


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def main() -> None:
    args = _args()
    if args.sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(args.sqlite).resolve()}"
        label = f"SQLite {args.sqlite}"
    else:
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
        label = f"PostgreSQL {args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from clientbook.customers.models import Customer
    from clientbook.segments.compiler import customers_matching
    from clientbook.segments.language import validate

    now = timezone.now()
    today = timezone.localdate(now)
    params = {
        "born_by": _years_before(today, 25),
        "born_after": _years_before(today, 46),
        "year_ago": now - dt.timedelta(days=365),
        "half_year_ago": now - dt.timedelta(days=180),
    }
    if connection.vendor == "sqlite":
        # the same literals Django binds on SQLite
        params = {k: str(v).replace("+00:00", "") for k, v in params.items()}
        sql = {
            k: v.replace("%(", ":").replace(")s", "")
            for k, v in {"five": FIVE_SQL, "behaviour": BEHAVIOUR_SQL}.items()
        }
    else:
        sql = {"five": FIVE_SQL, "behaviour": BEHAVIOUR_SQL}
    if args.no_jit and connection.vendor == "postgresql":
        # this session only: the database's own settings are untouched
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        label += " (jit off)"
    customers = Customer.objects.count()
    cases = {"five": FIVE_CONDITIONS, "behaviour": BEHAVIOUR}
    results = {}
    for name, definition in cases.items():
        definition = validate(definition)

        def orm(definition=definition):
            return customers_matching(definition, now=now).count()

        def hand(text=sql[name]):
            with connection.cursor() as cursor:
                cursor.execute(text, params)
                return cursor.fetchone()[0]

        orm_count, hand_count = orm(), hand()  # warm-up, and the same answer
        assert orm_count == hand_count, (name, orm_count, hand_count)
        times: dict[str, list[float]] = {"orm": [], "sql": []}
        for _ in range(args.runs):
            for kind, run in (("orm", orm), ("sql", hand)):
                start = time.perf_counter()
                run()
                times[kind].append((time.perf_counter() - start) * 1000)
        results[name] = {
            "members": orm_count,
            "orm_p50_ms": statistics.median(times["orm"]),
            "orm_max_ms": max(times["orm"]),
            "sql_p50_ms": statistics.median(times["sql"]),
            "sql_max_ms": max(times["sql"]),
        }
        results[name]["ratio_p50"] = (
            results[name]["orm_p50_ms"] / results[name]["sql_p50_ms"]
        )
    _report(label, customers, args.runs, results)


def _report(label: str, customers: int, runs: int, results: dict) -> None:
    print(f"{label}: {customers:,} customers, {runs} runs each after a warm-up")
    print(
        f"{'segment':<12}{'members':>10}{'ORM p50':>10}{'ORM max':>10}"
        f"{'SQL p50':>10}{'SQL max':>10}{'ratio':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<12}{r['members']:>10,}{r['orm_p50_ms']:>10.0f}"
            f"{r['orm_max_ms']:>10.0f}{r['sql_p50_ms']:>10.0f}"
            f"{r['sql_max_ms']:>10.0f}{r['ratio_p50']:>8.2f}"
        )
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"segments-{stamp}.json").write_text(
        json.dumps(
            {"database": label, "customers": customers, "results": results}, indent=2
        )
    )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="clientbook_bench_1m")
    parser.add_argument("--sqlite", help="an SQLite file instead of PostgreSQL")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--no-jit", action="store_true", help="SET jit = off for the session"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
