"""Data quality over the generated database: the bulk computation of every
live customer's completeness, validity, freshness, usage and grade, the
monthly verification rotation, and the dashboard's summary.

    .venv/bin/python bench/quality.py [--db clientbook_bench] [--select 0.3]

Migrates the quality app into the database first (its tables only), logs a
selection of a share of the customers (`selection_record`, so grades 1–2
appear), then times each step in one process and reports the peak RSS.
Writes bench/out/quality-*.json.
"""

import argparse
import datetime as dt
import json
import os
import resource
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    args = _args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from clientbook.customers.models import Customer
    from clientbook.quality.models import CustomerSelection, VerificationTask
    from clientbook.quality.selectors import quality_summary
    from clientbook.quality.services import (
        quality_compute,
        selection_record,
        verification_rotate,
    )

    call_command("migrate", "quality", verbosity=0)
    customers = Customer.objects.filter(archived_at__isnull=True).count()
    results: dict[str, float] = {}
    if args.select and not CustomerSelection.objects.exists():
        live = Customer.objects.filter(archived_at__isnull=True).order_by("id")
        chosen = live.filter(id__lte=_nth_id(live, int(customers * args.select)))
        t = time.perf_counter()
        run = selection_record(customers=chosen, purpose="bench", actor=None)
        results[f"selection_record ({run.count:,} customers)"] = time.perf_counter() - t
    t = time.perf_counter()
    done = quality_compute()
    results[f"quality_compute ({done['customers']:,} customers)"] = (
        time.perf_counter() - t
    )
    VerificationTask.objects.filter(month=dt.date(2000, 1, 1)).delete()
    t = time.perf_counter()
    created = verification_rotate(month=dt.date(2000, 1, 1))
    results[f"verification_rotate ({sum(created.values()):,} checks)"] = (
        time.perf_counter() - t
    )
    VerificationTask.objects.filter(month=dt.date(2000, 1, 1)).delete()
    admin = _admin()
    t = time.perf_counter()
    summary = quality_summary(user=admin)
    results["dashboard summary (all branches)"] = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.db}: {customers:,} live customers, PostgreSQL "
        f"{connection.pg_version // 10000}"
    )
    for name, seconds in results.items():
        print(f"  {name:<48} {seconds:8.1f} s")
    print(f"  peak RSS {rss:,.0f} MB; grades {summary.figures.grades}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"quality-{stamp}.json").write_text(
        json.dumps(
            {
                "db": args.db,
                "customers": customers,
                "seconds": results,
                "peak_rss_mb": rss,
            },
            indent=2,
        )
    )


def _nth_id(queryset, n: int) -> int:
    row = queryset.values_list("id", flat=True)[max(n - 1, 0) : n]
    return row[0] if row else 0


def _admin():
    from clientbook.org.models import User

    return User.objects.filter(is_superuser=True).first() or User(is_superuser=True)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="clientbook_bench")
    parser.add_argument(
        "--select", type=float, default=0.3, help="share of customers to select"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
