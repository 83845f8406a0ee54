"""Duplicate detection over N generated customers: wall time and peak RSS.

    .venv/bin/python bench/dedupe.py --customers 100000
    .venv/bin/python bench/dedupe.py --customers 1000000 --merge-sample 2000

Generates N live customers, 10% of them second records of another customer
(homophones, typos, pinyin-only names, 上海 for 上海市, a missing birth date;
no shared hard identifier, since the import would have matched those), into
a separate SQLite file under bench/out/ (never the product's database).
Then, in a child process so its memory is measured alone, runs
`dedupe_run(dry_run=True)`: read the customer table, train the Splink model
(u by sampling, m by EM), score every blocked pair. Finally, optionally,
times real merges on a sample of the found pairs.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def _django(db: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["CLIENTBOOK_VAR"] = str(OUT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    sys.path.insert(0, str(HERE.parent / "src"))
    import django

    django.setup()


def generate(db: Path, customers: int, seed: int) -> dict:
    if db.exists():
        db.unlink()
    _django(db)
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from clientbook.customers.normalise import name_keys
    from clientbook.identity.tests.people import people, variant
    from clientbook.privacy.models import Source

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    source = Source.objects.create(
        code="bench", name="bench", kind="manual", legal_basis="contract"
    )
    rnd = random.Random(seed)
    originals = int(customers / 1.1)
    base = people(originals, seed=seed)
    sampled = rnd.sample(range(originals), customers - originals)
    dups = [variant(base[k], f"V{i}", rnd) for i, k in enumerate(sampled)]
    # (second record's id, first record's id): the truth the found pairs
    # are scored against.
    _truth_path(db).write_text(
        "\n".join(f"{originals + 1 + i},{k + 1}" for i, k in enumerate(sampled))
    )
    now = timezone.now().isoformat()
    cust, idents, addrs = [], [], []
    for pk, person in enumerate([*base, *dups], start=1):
        pinyin, initials = name_keys(person.name)
        cust.append(
            (
                pk,
                uuid.uuid4().hex,
                "individual",
                person.name,
                pinyin,
                initials,
                "",
                person.birth_date or None,
                "",
                "",
                "",
                "",
                "active",
                "",
                source.pk,
                now,
                now,
            )
        )
        if not person.key.startswith("V"):  # second records share no hard id
            idents.append(
                (pk, "mobile", "+86" + person.mobile, True, False, source.pk, now, now)
            )
            if person.national_id:
                idents.append(
                    (
                        pk,
                        "national_id",
                        person.national_id,
                        True,
                        False,
                        source.pk,
                        now,
                        now,
                    )
                )
        addrs.append(
            (
                pk,
                "home",
                "CN",
                person.province,
                person.city,
                person.district,
                person.street,
                "",
                "",
                True,
                source.pk,
                now,
                now,
            )
        )
    with transaction.atomic(), connection.cursor() as cur:
        cur.executemany(
            "INSERT INTO customers_customer (id, uuid, kind, name, name_pinyin,"
            " name_initials, gender, birth_date, occupation, employer, position,"
            " income_band, lifecycle_stage, notes, source_id, created_at,"
            " updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
            "%s,%s)",
            cust,
        )
        cur.executemany(
            "INSERT INTO customers_identifier (customer_id, type, value, is_live,"
            " is_verified, source_id, first_seen, last_seen) VALUES"
            " (%s,%s,%s,%s,%s,%s,%s,%s)",
            idents,
        )
        cur.executemany(
            "INSERT INTO customers_address (customer_id, type, country, province,"
            " city, district, street, postcode, raw, is_valid, source_id,"
            " created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
            "%s,%s)",
            addrs,
        )
    return {"generate_seconds": round(time.monotonic() - started, 1)}


def _truth_path(db: Path) -> Path:
    return db.with_suffix(".truth.csv")


def _accuracy(db: Path, run) -> dict:
    """Precision and recall of the pairs a dry run would merge, against the
    generator's truth (chains count pair by pair, as found)."""
    path = _truth_path(db)
    if not path.exists() or run.dry_run is False:
        return {}
    truth = {
        tuple(sorted(map(int, line.split(","))))
        for line in path.read_text().splitlines()
    }
    found = set(run.found_pairs["merge"])
    review = set(run.found_pairs["review"])
    hits = len(found & truth)
    return {
        "true_pairs": len(truth),
        "precision_at_merge": round(hits / len(found), 4) if found else None,
        "recall_at_merge": round(hits / len(truth), 4),
        "recall_at_review": round(len((found | review) & truth) / len(truth), 4),
    }


def detect(db: Path, merge_sample: int, write: bool) -> None:
    """The child: one dry run, then optional real merges; prints JSON."""
    _django(db)
    from clientbook.identity.config import DedupeConfig
    from clientbook.identity.services import dedupe_run

    stages: dict[str, float] = {}
    started, cpu_started = time.monotonic(), time.process_time()

    def progress(run) -> None:
        stages[run.stage] = round(time.monotonic() - started, 1)

    run = dedupe_run(dry_run=not write, progress=progress, config=DedupeConfig())
    result = {
        "detect_seconds": round(time.monotonic() - started, 1),
        "detect_cpu_seconds": round(time.process_time() - cpu_started, 1),
        "stage_ends": stages,
        "customers": run.customers,
        "candidates": run.candidates,
        "would_merge": run.auto_merged,
        "would_queue": run.queued,
        **_accuracy(db, run),
    }
    if write and run.auto_merged:
        seconds = stages["merging"] - stages["scoring"]
        result["bulk_merges_per_second"] = round(run.auto_merged / seconds, 1)
    if merge_sample:
        result.update(_merges(merge_sample))
    print(json.dumps(result))


def _merges(sample: int) -> dict:
    from clientbook.customers.models import Customer
    from clientbook.identity.services import customer_merge

    count = Customer.objects.count()
    originals = int(count / 1.1)
    ids = list(range(originals + 1, originals + 1 + sample))
    pairs = [(pk, random.Random(pk).randrange(1, originals)) for pk in ids]
    started, merged = time.monotonic(), 0
    for dup, surv in pairs:
        customers = Customer.objects.select_related("source").in_bulk([dup, surv])
        if customers[surv].is_live and customers[dup].is_live:
            customer_merge(survivor=customers[surv], duplicate=customers[dup])
            merged += 1
    seconds = time.monotonic() - started
    return {
        "merges": merged,
        "merge_seconds": round(seconds, 1),
        "merges_per_second": round(merged / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--merge-sample", type=int, default=0)
    parser.add_argument("--detect", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the generated database of that size"
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="make the database and stop"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="a real run: merge the sure pairs (bulk path), queue the likely ones;"
        " the database is changed, so generate it again afterwards",
    )
    args = parser.parse_args()
    if args.detect:
        detect(args.detect, args.merge_sample, args.write)
        return
    OUT.mkdir(exist_ok=True)
    db = OUT / f"dedupe-{args.customers}.sqlite3"
    result = {"customers_generated": args.customers}
    if not (args.reuse and db.exists()):
        result.update(generate(db, args.customers, args.seed))
    if args.generate_only:
        print(json.dumps(result))
        return
    load_before = round(os.getloadavg()[0], 2)
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--detect",
            str(db),
            "--merge-sample",
            str(args.merge_sample),
            *(["--write"] if args.write else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result.update(json.loads(child.stdout.strip().splitlines()[-1]))
    child_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["detect_peak_rss_mb"] = round(child_usage.ru_maxrss / 1024)
    # CPU of the child (all its threads): on a busy machine the wall time
    # depends on the neighbours, the CPU time much less.
    result["child_cpu_seconds"] = round(child_usage.ru_utime + child_usage.ru_stime, 1)
    result["load_average_1min"] = [load_before, round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    (OUT / f"dedupe-{args.customers}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
