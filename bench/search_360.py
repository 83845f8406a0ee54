"""Customer search (by phone, by name prefix) and the customer 360 page.

    .venv/bin/python bench/search_360.py [--db clientbook_bench] [--samples 300]

Runs in one process against the generated database (bench/generate.py):
search through the `customer_search` selector as an administrator, the 360
page as full HTML through Django's test client (URL resolution, middleware,
selectors, template render), and the selectors the page uses one by one.
Prints p50 / p99 / max in milliseconds and writes bench/out/search_360-*.json.
"""

import argparse
import datetime as dt
import json
import os
import random
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    args = _args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    import django

    django.setup()
    rng = random.Random(args.seed)
    user = _bench_user()
    sample = _sample(rng, args.samples)
    results = {
        "search by mobile": _time_search(user, sample["mobiles"]),
        "search by name prefix": _time_search(user, sample["names"]),
        "search by pinyin prefix": _time_search(user, sample["pinyin"]),
        "  name prefix, UNION form": _time_union_search(sample["names"]),
        "360 page (HTML)": _time_page(user, sample["uuids"]),
        **_time_selectors(user, sample["uuids"]),
    }
    report = {
        "database": args.db,
        "customers": _count("customers_customer"),
        "order_lines": _count("sales_orderline"),
        "samples": args.samples,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "results_ms": results,
    }
    _print(report)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / f"search_360-{report['customers']}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="clientbook_bench")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def _bench_user():
    from clientbook.org.models import User

    return User.objects.get(username="demo")


def _count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        # The planner's estimate: exact counts of 10M rows take seconds.
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table]
        )
        return cursor.fetchone()[0]


def _sample(rng: random.Random, size: int) -> dict[str, list[str]]:
    """Random customers, picked by id so no sequential scan is needed."""
    from clientbook.customers.models import Customer, Identifier

    top = Customer.objects.order_by("-id").values_list("id", flat=True).first()
    ids = [rng.randint(1, top) for _ in range(size * 3)]
    customers = list(
        Customer.objects.filter(id__in=ids).values_list(
            "id", "uuid", "name", "name_pinyin"
        )
    )
    rng.shuffle(customers)
    mobiles = list(
        Identifier.objects.filter(
            customer_id__in=[c[0] for c in customers], type="mobile"
        ).values_list("value", flat=True)[:size]
    )
    return {
        # As staff type them: national form with spaces.
        "mobiles": [f"{m[3:6]} {m[6:10]} {m[10:]}" for m in mobiles],
        # Surname and the first character of the given name: "张伟".
        "names": [c[2][:2] for c in customers[:size]],
        "pinyin": [c[3][:6] for c in customers[:size]],
        "uuids": [str(c[1]) for c in customers[:size]],
    }


def _stats(times: list[float]) -> dict[str, float]:
    times = sorted(t * 1000 for t in times)
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    return {
        "n": len(times),
        "p50": round(statistics.median(times), 2),
        "p99": round(p99, 2),
        "max": round(times[-1], 2),
    }


def _timed(func, items, warmup: int = 10) -> dict[str, float]:
    for item in items[:warmup]:
        func(item)
    times = []
    for item in items:
        started = time.perf_counter()
        func(item)
        times.append(time.perf_counter() - started)
    return _stats(times)


def _time_search(user, queries: list[str]) -> dict[str, float]:
    from clientbook.customers.selectors import customer_search

    def search(query: str) -> None:
        list(customer_search(user=user, query=query))

    return _timed(search, queries)


def _time_union_search(queries: list[str]) -> dict[str, float]:
    """The same name search with each indexed branch as its own SELECT joined
    by UNION: a proposal for `customer_search`, whose single WHERE with
    `id IN (subquery) OR name LIKE ...` PostgreSQL answers by a sequential
    scan of the customers."""
    from django.db.models.expressions import RawSQL

    from clientbook.customers import normalise
    from clientbook.customers.models import Customer

    sql = (
        "SELECT id FROM customers_customer WHERE name LIKE %s "
        "UNION SELECT id FROM customers_customer WHERE name_pinyin LIKE %s "
        "UNION SELECT id FROM customers_customer WHERE name_initials LIKE %s "
        "UNION SELECT customer_id FROM customers_identifier WHERE value = %s "
        "AND type IN ('membership', 'loyalty', 'wechat', 'external', 'passport')"
    )

    def search(query: str) -> None:
        pinyin, _ = normalise.name_keys(query)
        params = (f"{query}%", f"{pinyin}%", f"{pinyin}%", query)
        list(
            Customer.objects.filter(
                id__in=RawSQL(sql, params),
                archived_at__isnull=True,
                merged_into__isnull=True,
            )
            .select_related("branch")
            .order_by("name", "id")[:50]
        )

    return _timed(search, queries)


def _time_page(user, uuids: list[str]) -> dict[str, float]:
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    def page(uuid: str) -> None:
        response = client.get(f"/customers/{uuid}/")
        assert response.status_code == 200, response.status_code

    return _timed(page, uuids)


def _time_selectors(user, uuids: list[str]) -> dict[str, dict[str, float]]:
    from clientbook.customers.selectors import (
        customer_get_for_user,
        customer_timeline,
        customer_value_summary,
    )
    from clientbook.privacy.selectors import consent_current

    customers = [customer_get_for_user(user=user, uuid=u) for u in uuids]
    return {
        "  customer_get_for_user": _timed(
            lambda u: customer_get_for_user(user=user, uuid=u), uuids
        ),
        "  customer_value_summary": _timed(customer_value_summary, customers),
        "  customer_timeline": _timed(customer_timeline, customers),
        "  consent_current": _timed(consent_current, customers),
    }


def _print(report: dict) -> None:
    print(
        f"{report['database']}: {report['customers']:,} customers, "
        f"{report['order_lines']:,} order lines, {report['samples']} samples"
    )
    print(f"{'operation':<28}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, row in report["results_ms"].items():
        print(f"{name:<28}{row['p50']:>10.2f}{row['p99']:>10.2f}{row['max']:>10.2f}")


if __name__ == "__main__":
    main()
