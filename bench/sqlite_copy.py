"""Copies a generated PostgreSQL bench database into a fresh SQLite file, so
that the benchmarks can run the same data on SQLite.

    .venv/bin/python bench/sqlite_copy.py [--db clientbook_bench_1m] [--replace]
    .venv/bin/python bench/sqlite_copy.py --db clientbook_bench --out FILE
    .venv/bin/python bench/segments.py --sqlite bench/out/clientbook_bench_1m.sqlite3

Creates FILE (default bench/out/<db>.sqlite3; never the product's var/
database), runs Django's `migrate` on it, then copies every table of the
PostgreSQL database that has rows, streaming: `COPY (SELECT …) TO STDOUT` in
binary from one REPEATABLE READ snapshot, values converted as Django's SQLite
backend stores them (datetimes as naive UTC text, dates ISO, decimals and
booleans as numbers, JSON as text, UUIDs as 32 hex digits), `executemany` in
batches inside one transaction per table. During the load only: journal and
syncing off, foreign keys unchecked, the table's secondary indexes dropped and
made again after its rows are in. At the end: `PRAGMA foreign_key_check`,
a read of the first rows of every model through the ORM compared with
PostgreSQL, and `ANALYZE`.

Not copied: django_migrations (migrate wrote SQLite's own), and
privacy_consentstate, which the triggers on privacy_consent (migration
privacy/0003) fill as the ledger is copied; its rows are checked against
PostgreSQL's. django_content_type and auth_permission are matched by natural
key, and the columns pointing at them renumbered, since migrate numbered
SQLite's own. Prints rows per table, seconds and the file's size; writes
bench/out/sqlite_copy-<db>.json.
"""

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
SERVER = "postgres://postgres@127.0.0.1:5432"
BATCH = 10_000
# Kept by triggers on privacy_consent, or written by migrate.
FILLED_BY_SQLITE = {"privacy_consentstate", "django_migrations"}
MATCHED = ("django_content_type", "auth_permission")


def main() -> None:
    args = _args()
    path = _target(args.out or HERE / "out" / f"{args.db}.sqlite3", args.replace)
    started = time.monotonic()
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "clientbook.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    connection.close()
    migrate_seconds = time.monotonic() - started
    print(f"migrate: {migrate_seconds:.1f} s -> {path}", flush=True)

    lite = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode = OFF",
        "synchronous = OFF",
        "foreign_keys = OFF",
        "cache_size = -262144",  # 256 MB, whatever the size of the copy
        "temp_store = FILE",
    ):
        lite.execute(f"PRAGMA {pragma}")
    pg = psycopg.connect(f"{SERVER}/{args.db}")
    pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    pg.read_only = True
    pg.execute("SET TIME ZONE 'UTC'")  # one snapshot for every table from here

    copy_started = time.monotonic()
    renumber = _match_rows(pg, lite)
    rows: dict[str, int] = {}
    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    lite_tables = _lite_tables(lite)
    for table in _pg_tables(pg):
        if table in FILLED_BY_SQLITE or table in MATCHED:
            continue
        if table not in lite_tables:
            skipped[table] = "not in SQLite's schema"
            continue
        if not pg.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0]:
            continue
        table_started = time.monotonic()
        rows[table] = _copy_table(pg, lite, table, renumber)
        seconds[table] = time.monotonic() - table_started
        print(
            f"{table:<36}{rows[table]:>12,} rows {seconds[table]:>8.1f} s", flush=True
        )
    copy_seconds = time.monotonic() - copy_started

    checks = {
        "consent_state": _check_consent_state(pg, lite),
        "foreign_key_violations": _foreign_key_check(lite),
    }
    checks["orm_rows_compared"] = _compare_through_orm(pg, rows)
    pg.rollback()
    pg.close()

    analyse_started = time.monotonic()
    lite.execute("ANALYZE")
    analyse_seconds = time.monotonic() - analyse_started
    lite.execute("PRAGMA journal_mode = DELETE")
    lite.close()
    result = {
        "database": args.db,
        "sqlite": str(path),
        "rows": rows,
        "skipped": skipped,
        "checks": checks,
        "migrate_seconds": round(migrate_seconds, 1),
        "copy_seconds": round(copy_seconds, 1),
        "table_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "analyze_seconds": round(analyse_seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "size_mb": round(path.stat().st_size / 2**20, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "load_average": os.getloadavg(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _report(result)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"sqlite_copy-{args.db}.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False)
    )
    if checks["foreign_key_violations"] or not checks["consent_state"]["equal"]:
        sys.exit("the copy does not match PostgreSQL (see checks above)")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="clientbook_bench_1m")
    parser.add_argument("--out", type=Path, help="default: bench/out/<db>.sqlite3")
    parser.add_argument(
        "--replace", action="store_true", help="delete FILE first if it exists"
    )
    return parser.parse_args()


def _target(out: Path, replace: bool) -> Path:
    path = Path(out).resolve()
    var = Path(os.environ.get("CLIENTBOOK_VAR", Path.cwd() / "var")).resolve()
    for forbidden in (var, HERE.parent / "var"):
        if path.is_relative_to(forbidden):
            sys.exit(f"refusing to write under {forbidden} (the product's data)")
    if path.suffix not in (".sqlite3", ".sqlite", ".db"):
        sys.exit(f"{path}: expected a .sqlite3 file name")
    if path.exists():
        if not replace:
            sys.exit(f"{path} exists; pass --replace to start again.")
        for extra in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _lite_tables(lite) -> set[str]:
    return {
        name
        for (name,) in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%'"
        )
    }


def _pg_tables(pg) -> list[str]:
    return [
        name
        for (name,) in pg.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            " ORDER BY table_name"
        )
    ]


# PostgreSQL type -> how Django's SQLite backend stores the value psycopg reads
# (None: as it comes). jsonb is read as text, so that JSON null stays 'null'.
def _datetime(value: dt.datetime) -> str:
    # adapt_datetimefield_value: naive in the connection's zone (UTC), str()
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))


CONVERT = {
    "int2": None,
    "int4": None,
    "int8": None,
    "float4": None,
    "float8": None,
    "text": None,
    "varchar": None,
    "bpchar": None,
    "bytea": None,
    "bool": int,
    "numeric": str,  # the adapter Django registers; NUMERIC affinity does the rest
    "date": dt.date.isoformat,
    "timestamptz": _datetime,
    "uuid": lambda value: value.hex,  # UUIDField without a native type
    "jsonb": lambda text: json.dumps(json.loads(text)),  # adapt_json_value
    "json": lambda text: json.dumps(json.loads(text)),
}


def _columns(pg, lite, table: str) -> tuple[list[tuple[str, str]], dict]:
    """(name, PostgreSQL type) of the columns both databases have, and the
    value for each column PostgreSQL lacks (its migration not run there)."""
    lite_columns = {row[1] for row in lite.execute(f'PRAGMA table_info("{table}")')}
    columns = pg.execute(
        "SELECT column_name, udt_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        [table],
    ).fetchall()
    missing = _defaults(table, lite_columns - {name for name, _ in columns})
    if missing:
        print(f"  {table}: not in PostgreSQL, set as AddField would: {missing}")
    dropped = [name for name, _ in columns if name not in lite_columns]
    if dropped:
        print(f"  {table}: not in SQLite's schema, not copied: {dropped}")
    unknown = {kind for name, kind in columns if kind not in CONVERT}
    if unknown:
        sys.exit(f"{table}: no conversion for PostgreSQL types {sorted(unknown)}")
    return [(name, kind) for name, kind in columns if name in lite_columns], missing


def _defaults(table: str, columns: set[str]) -> dict:
    """What migrate's AddField writes into existing rows (effective_default)."""
    from django.apps import apps
    from django.db import connection

    if not columns:
        return {}
    model = next(
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.db_table == table
    )
    editor = connection.SchemaEditorClass(connection)
    fields = {f.column: f for f in model._meta.concrete_fields}
    return {column: editor.effective_default(fields[column]) for column in columns}


def _copy_table(pg, lite, table: str, renumber: dict) -> int:
    columns, missing = _columns(pg, lite, table)
    selected = ", ".join(
        f'"{name}"::text' if kind in ("jsonb", "json") else f'"{name}"'
        for name, kind in columns
    )
    types = ["text" if kind in ("jsonb", "json") else kind for _, kind in columns]
    steps = [(i, CONVERT[kind]) for i, (_, kind) in enumerate(columns) if CONVERT[kind]]
    for column, mapping in renumber.get(table, {}).items():
        i = [name for name, _ in columns].index(column)
        steps.append((i, mapping.__getitem__))

    def convert(row):
        row = list(row)
        for i, step in steps:
            value = row[i]
            if value is not None:
                row[i] = step(value)
        return row

    names = ", ".join(f'"{name}"' for name in [n for n, _ in columns] + [*missing])
    marks = ", ".join("?" * (len(columns) + len(missing)))
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    extra = tuple(missing.values())
    indexes = lite.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        " AND tbl_name = ? AND sql IS NOT NULL",
        [table],
    ).fetchall()
    count = 0
    lite.execute("BEGIN")
    for name, _ in indexes:
        lite.execute(f'DROP INDEX "{name}"')
    with (
        pg.cursor() as cursor,
        cursor.copy(
            f'COPY (SELECT {selected} FROM "{table}") TO STDOUT (FORMAT BINARY)'
        ) as copy,
    ):
        copy.set_types(types)
        batch = []
        for row in copy.rows():
            if steps:
                row = convert(row)
            batch.append((*row, *extra) if extra else row)
            if len(batch) == BATCH:
                lite.executemany(insert, batch)
                count += len(batch)
                batch.clear()
        lite.executemany(insert, batch)
        count += len(batch)
    for _, sql in indexes:
        lite.execute(sql)
    lite.execute("COMMIT")
    return count


def _match_rows(pg, lite) -> dict[str, dict[str, dict[int, int]]]:
    """Content types and permissions by natural key: PostgreSQL id -> SQLite id
    (rows SQLite lacks are added), and the columns that need renumbering."""
    lite.execute("BEGIN")
    types = {}
    ids = {
        (app_label, model): pk
        for pk, app_label, model in lite.execute(
            "SELECT id, app_label, model FROM django_content_type"
        )
    }
    for pk, app_label, model in pg.execute(
        "SELECT id, app_label, model FROM django_content_type"
    ):
        if (app_label, model) not in ids:
            ids[app_label, model] = lite.execute(
                "INSERT INTO django_content_type (app_label, model) VALUES (?, ?)",
                [app_label, model],
            ).lastrowid
        types[pk] = ids[app_label, model]
    permissions = {}
    ids = {
        (kind, codename): pk
        for pk, kind, codename in lite.execute(
            "SELECT id, content_type_id, codename FROM auth_permission"
        )
    }
    for pk, kind, codename, name in pg.execute(
        "SELECT id, content_type_id, codename, name FROM auth_permission"
    ):
        key = (types[kind], codename)
        if key not in ids:
            ids[key] = lite.execute(
                "INSERT INTO auth_permission (content_type_id, codename, name)"
                " VALUES (?, ?, ?)",
                [*key, name],
            ).lastrowid
        permissions[pk] = ids[key]
    lite.execute("COMMIT")
    maps = {"django_content_type": types, "auth_permission": permissions}
    moved = {name: sum(a != b for a, b in m.items()) for name, m in maps.items()}
    print(f"ids renumbered from PostgreSQL's: {moved}")
    renumber: dict[str, dict[str, dict[int, int]]] = {}
    for table in _lite_tables(lite):
        for key in lite.execute(f'PRAGMA foreign_key_list("{table}")'):
            target, column = key[2], key[3]
            if target in maps:
                renumber.setdefault(table, {})[column] = maps[target]
    return renumber


def _check_consent_state(pg, lite) -> dict:
    """The triggers' privacy_consentstate against the latest entry per key of
    the ledger copied (same snapshot), and against PostgreSQL's own table."""
    query = (
        "SELECT count(*), coalesce(sum(entry_id), 0),"
        " coalesce(sum(CASE WHEN status = 'granted' THEN 1 ELSE 0 END), 0)"
        " FROM privacy_consentstate"
    )
    got = tuple(lite.execute(query).fetchone())
    ledger = pg.execute(
        "SELECT count(*), coalesce(sum(id), 0),"
        " coalesce(sum(CASE WHEN status = 'granted' THEN 1 ELSE 0 END), 0)"
        " FROM (SELECT DISTINCT ON (customer_id, channel, purpose) id, status"
        " FROM privacy_consent"
        " ORDER BY customer_id, channel, purpose, occurred_at DESC, id DESC) s"
    ).fetchone()
    ledger = tuple(int(value) for value in ledger)
    table = None
    if pg.execute(
        "SELECT to_regclass('public.privacy_consentstate') IS NOT NULL"
    ).fetchone()[0]:
        table = tuple(int(value) for value in pg.execute(query).fetchone())
    print(
        "privacy_consentstate (rows, sum of entry ids, granted): "
        f"SQLite {got}; PostgreSQL ledger, latest per key {ledger},"
        f" PostgreSQL privacy_consentstate {table or 'absent (before privacy/0003)'}"
    )
    equal = got == ledger
    if table is not None and table != ledger:
        if table == (0, 0, 0):
            # The catalogue is read at its latest, rows at the snapshot's: a
            # migrate that made the table after the copy began shows it empty.
            print("  PostgreSQL's table is empty in this snapshot (made since?)")
        else:
            equal = False
    return {
        "sqlite": list(got),
        "postgresql_ledger": list(ledger),
        "postgresql_table": list(table) if table else None,
        "equal": equal,
    }


def _foreign_key_check(lite) -> int:
    started = time.monotonic()
    violations = lite.execute("PRAGMA foreign_key_check").fetchall()
    for row in violations[:10]:
        print(f"  foreign key violation: {row}")
    print(
        f"foreign_key_check: {len(violations)} violations"
        f" ({time.monotonic() - started:.1f} s)"
    )
    return len(violations)


def _compare_through_orm(pg, rows: dict[str, int], sample: int = 3) -> int:
    """The first rows of every copied model read through the ORM on SQLite
    (Django's converters) must equal what psycopg reads from PostgreSQL."""
    from django.apps import apps
    from django.db import connection

    models = {
        model._meta.db_table: model
        for model in apps.get_models(include_auto_created=True)
        if not model._meta.proxy
    }
    compared = 0
    problems = []
    for table in rows:
        model = models.get(table)
        if model is None:
            continue
        on_pg = {
            name
            for (name,) in pg.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = %s",
                [table],
            )
        }
        # ids pointing at content types and permissions were renumbered
        fields = [
            f
            for f in model._meta.concrete_fields
            if f.column in on_pg
            and (not f.is_relation or f.related_model._meta.db_table not in MATCHED)
        ]
        for obj in model._base_manager.order_by("pk")[:sample]:
            names = ", ".join(f'"{f.column}"' for f in fields)
            pk = model._meta.pk.column
            row = pg.execute(
                f'SELECT {names} FROM "{table}" WHERE "{pk}" = %s', [obj.pk]
            ).fetchone()
            for field, expected in zip(fields, row, strict=True):
                got = getattr(obj, field.attname)
                if got != expected:
                    problems.append((table, obj.pk, field.column, got, expected))
            compared += 1
    connection.close()
    for problem in problems[:10]:
        print(f"  differs: {problem}")
    print(f"ORM read back: {compared} rows compared, {len(problems)} values differ")
    if problems:
        sys.exit("values read through the ORM differ from PostgreSQL's")
    return compared


def _report(result: dict) -> None:
    print()
    print(f"{'table':<36}{'rows':>12}{'s':>8}")
    for table, count in sorted(result["rows"].items(), key=lambda kv: -kv[1]):
        print(f"{table:<36}{count:>12,}{result['table_seconds'][table]:>8.1f}")
    print(
        f"total {sum(result['rows'].values()):,} rows; migrate"
        f" {result['migrate_seconds']} s, copy {result['copy_seconds']} s, ANALYZE"
        f" {result['analyze_seconds']} s, total {result['total_seconds']} s;"
        f" {result['size_mb']:,} MB; peak RSS {result['peak_rss_mb']} MB;"
        f" load average {result['load_average'][0]:.2f}"
    )
    for table, why in result["skipped"].items():
        print(f"skipped {table}: {why}")


if __name__ == "__main__":
    main()
