"""Fills a separate PostgreSQL database with a large generated company.

    .venv/bin/python bench/generate.py --customers 100000
    .venv/bin/python bench/generate.py --customers 1000000 --lines 10000000

Creates the database `clientbook_bench` on 127.0.0.1:5432 (user postgres) if
needed, migrates it, creates the demo's branches, staff, sources and products
through the services, then streams customers, identifiers, addresses,
consents, orders, order lines and interactions into it with COPY, a chunk of
customers at a time so memory stays flat. Values come from the demo's
generators (`clientbook.demo.people`, `clientbook.demo.history`): normalised
E.164 mobiles, valid 身份证 numbers, pinyin name keys, seasonal purchases.
"""

import argparse
import datetime as dt
import json
import os
import random
import resource
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
SERVER = "postgres://postgres@127.0.0.1:5432"
CHUNK = 5000
# Order lines per customer the demo's purchase model gives at rate scale 1.
LINES_PER_CUSTOMER = 15.8


def main() -> None:
    args = _args()
    url = f"{SERVER}/{args.db}"
    _create_database(args.db, recreate=args.recreate)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    import django

    django.setup()
    from django.core.management import call_command

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    setup = _setup_rows(args.seed)
    scale = args.lines / args.customers / LINES_PER_CUSTOMER
    with psycopg.connect(url, autocommit=False) as conn:
        totals = _stream(conn, setup, args, rate_scale=scale)
        _fix_sequences(conn)
    load_seconds = time.monotonic() - started
    with psycopg.connect(url, autocommit=True) as conn:
        analyse_started = time.monotonic()
        conn.execute("VACUUM ANALYZE")
        analyse_seconds = time.monotonic() - analyse_started
    result = {
        "database": args.db,
        "customers": args.customers,
        "rows": totals,
        "load_seconds": round(load_seconds, 1),
        "vacuum_analyze_seconds": round(analyse_seconds, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "database_size": _size(url, args.db),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _write("generate", result)
    print(json.dumps(result, indent=2, ensure_ascii=False))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--lines",
        type=int,
        default=None,
        help="order lines wanted in total (default: 10 per customer)",
    )
    parser.add_argument("--db", default="clientbook_bench")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--recreate", action="store_true", help="drop the database first"
    )
    args = parser.parse_args()
    if args.db in ("test", "postgres", "template0", "template1"):
        parser.error(f"refusing to fill the database {args.db!r}")
    args.lines = args.lines or args.customers * 10
    return args


def _create_database(name: str, *, recreate: bool) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists and recreate:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if exists:
            sys.exit(f"{name} exists; pass --recreate to start again.")
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup_rows(seed: int):
    """Branches, staff, sources, products and custom fields, as in the demo."""
    from django.db import transaction

    from clientbook.demo.builder import Loader

    with transaction.atomic():
        loader = Loader(customers=0, seed=seed, today=_today(), progress=None)
        loader.sources = loader._sources()
        loader.branches = loader._branches()
        loader.staff = loader._staff()
        loader.products = loader._products()
    return loader


def _today() -> dt.date:
    return dt.date.today()


class Copier:
    """One COPY per table per chunk, with the columns in model order."""

    def __init__(self, model, columns: list[str]) -> None:
        self.table = model._meta.db_table
        self.columns = columns
        self.sql = f"COPY {self.table} ({', '.join(columns)}) FROM STDIN"

    def write(self, cursor, rows) -> int:
        count = 0
        with cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count


def _copiers():
    from clientbook.activity.models import Interaction
    from clientbook.customers.models import Address, Customer, Identifier
    from clientbook.privacy.models import Consent
    from clientbook.sales.models import Order, OrderLine

    return {
        "customers": Copier(
            Customer,
            [
                "id",
                "uuid",
                "kind",
                "name",
                "name_pinyin",
                "name_initials",
                "gender",
                "birth_date",
                "occupation",
                "employer",
                "position",
                "income_band",
                "lifecycle_stage",
                "branch_id",
                "notes",
                "source_id",
                "created_at",
                "updated_at",
            ],
        ),
        "identifiers": Copier(
            Identifier,
            [
                "customer_id",
                "type",
                "value",
                "is_live",
                "is_verified",
                "source_id",
                "first_seen",
                "last_seen",
            ],
        ),
        "addresses": Copier(
            Address,
            [
                "customer_id",
                "type",
                "country",
                "province",
                "city",
                "district",
                "street",
                "postcode",
                "raw",
                "is_valid",
                "source_id",
                "created_at",
                "updated_at",
            ],
        ),
        "consents": Copier(
            Consent,
            [
                "customer_id",
                "channel",
                "purpose",
                "status",
                "occurred_at",
                "source_id",
                "evidence",
                "recorded_at",
            ],
        ),
        "orders": Copier(
            Order,
            [
                "id",
                "uuid",
                "number",
                "customer_id",
                "branch_id",
                "channel",
                "ordered_at",
                "currency",
                "amount",
                "cost",
                "source_id",
                "created_at",
            ],
        ),
        "order_lines": Copier(
            OrderLine,
            ["order_id", "product_id", "quantity", "unit_price", "amount", "cost"],
        ),
        "interactions": Copier(
            Interaction,
            [
                "uuid",
                "customer_id",
                "channel",
                "direction",
                "type",
                "occurred_at",
                "staff_id",
                "summary",
                "outcome",
                "source_id",
                "created_at",
            ],
        ),
    }


def _stream(conn, loader, args, *, rate_scale: float) -> dict[str, int]:
    from clientbook.demo.history import Calendar, HistoryMaker
    from clientbook.demo.people import PersonMaker
    from clientbook.demo.progress import Progress

    rng = random.Random(args.seed)
    today = _today()
    first = today - dt.timedelta(days=round(365.25 * 3))
    calendar = Calendar(first, today - dt.timedelta(days=1))
    people = PersonMaker(rng, today, check=False)
    history = HistoryMaker(rng, calendar, list(loader.products.values()))
    state = {"customer": _max_id(conn, "customers_customer"), "order": 0}
    state["order"] = _max_id(conn, "sales_order")
    copiers = _copiers()
    totals = dict.fromkeys(copiers, 0)
    with Progress("customers", args.customers) as bar:
        done = 0
        while done < args.customers:
            size = min(CHUNK, args.customers - done)
            tables = _chunk(size, people, history, loader, state, rng, rate_scale)
            with conn.cursor() as cursor:
                for name, rows in tables.items():
                    totals[name] += copiers[name].write(cursor, rows)
            conn.commit()
            done += size
            bar.advance(size)
    return totals


def _max_id(conn, table: str) -> int:
    return conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]


def _chunk(size, people, history, loader, state, rng, rate_scale):
    tables: dict[str, list] = {
        name: []
        for name in (
            "customers",
            "identifiers",
            "addresses",
            "consents",
            "orders",
            "order_lines",
            "interactions",
        )
    }
    for _ in range(size):
        state["customer"] += 1
        _customer(tables, state, people, history, loader, rng, rate_scale)
    return tables


def _customer(tables, state, people, history, loader, rng, rate_scale) -> None:
    pk = state["customer"]
    organisation = rng.random() < 0.02
    person = people.person(organisation=organisation)
    if organisation:
        purchases = history.organisation_purchases(person.branch_code, 0.1)
    elif rng.random() < 0.1:
        purchases = []
    else:
        habits = history.habits(person.income_band)
        habits.rate *= rate_scale
        existing = rng.random() < 0.25
        purchases = history.purchases(
            habits, person.branch_code, history.join_position(existing=existing)
        )
    joined = (
        purchases[0].at
        if purchases
        else dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(rng.randint(0, 600))
    )
    last = purchases[-1].at if purchases else joined
    stage = "prospect"
    if purchases:
        recent = (dt.datetime.now(dt.UTC) - last).days <= 180
        stage = "active" if recent else "lapsed"
    source = loader.sources["pos" if purchases else "tea-fair"].pk
    branch = loader.branches[person.branch_code].pk
    tables["customers"].append(
        (
            pk,
            uuid.UUID(int=rng.getrandbits(128), version=4),
            person.kind,
            person.name,
            person.name_pinyin,
            person.name_initials,
            person.gender,
            person.birth_date,
            person.occupation,
            person.employer,
            person.position,
            person.income_band,
            stage,
            branch,
            "",
            source,
            joined,
            last,
        )
    )
    for type_, value in person.identifiers.items():
        tables["identifiers"].append(
            (pk, type_, value, True, type_ == "national_id", source, joined, last)
        )
    for address in person.addresses:
        tables["addresses"].append(
            (
                pk,
                address.type,
                "CN",
                address.province,
                address.city,
                address.district,
                address.street,
                address.postcode,
                address.raw,
                True,
                source,
                joined,
                joined,
            )
        )
    if "mobile" in person.identifiers and rng.random() < 0.7:
        tables["consents"].append(
            (pk, "sms", "marketing", "granted", joined, source, "", joined)
        )
    _orders(tables, state, pk, purchases, loader)
    _interactions(tables, pk, person, joined, loader, rng)


def _orders(tables, state, customer_pk, purchases, loader) -> None:
    sources = {
        "store": loader.sources["pos"].pk,
        "online": loader.sources["open-api"].pk,
        "phone": loader.sources["call-centre"].pk,
    }
    for purchase in purchases:
        state["order"] += 1
        order_pk = state["order"]
        amount = cost = Decimal(0)
        for line in purchase.lines:
            tables["order_lines"].append(
                (
                    order_pk,
                    loader.products[line.sku].pk,
                    line.quantity,
                    line.unit_price,
                    line.amount,
                    line.cost,
                )
            )
            amount += line.amount
            cost += line.cost
        tables["orders"].append(
            (
                order_pk,
                uuid.uuid4(),
                f"BO{order_pk:010d}",
                customer_pk,
                loader.branches[purchase.branch_code].pk,
                purchase.channel,
                purchase.at,
                "CNY",
                amount,
                cost,
                sources[purchase.channel],
                purchase.at,
            )
        )


def _interactions(tables, pk, person, joined, loader, rng) -> None:
    if rng.random() > 0.3:
        return
    staff = loader.staff[person.branch_code]
    at = joined + dt.timedelta(days=rng.randint(0, 300))
    tables["interactions"].append(
        (
            uuid.uuid4(),
            pk,
            "phone",
            "out",
            "call",
            at,
            rng.choice(staff).pk,
            "新茶上市回访",
            "有兴趣,稍后再联系",
            loader.sources["staff-entry"].pk,
            at,
        )
    )


def _fix_sequences(conn) -> None:
    """Explicit ids were copied in: move the identity sequences past them."""
    for table in ("customers_customer", "sales_order"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )
    conn.commit()


def _size(url: str, name: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT pg_size_pretty(pg_database_size(%s))", [name]
        ).fetchone()[0]


def _write(name: str, result: dict) -> None:
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{result.get('customers', 'x')}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
