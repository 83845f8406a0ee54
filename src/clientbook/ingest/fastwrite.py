"""Bulk inserts for imports: COPY on PostgreSQL, executemany on SQLite.

Django's bulk_create compiles and prepares every value of every row through
its field machinery, which was most of an import's time (profiled: 43 of 82
s for 20,000 customers). Here values are converted only where the database
needs it (dates, decimals, UUIDs, JSON), then sent by COPY or one
executemany. Primary keys are allocated first, so the rows keep them for
their children, as bulk_create's RETURNING would.

`insert_rows` and `update_rows` take plain tuples: building a model
instance per row cost more than the write itself (profiled: Model.__init__
was a fifth of an import's time).
"""

import datetime
import functools
import hashlib
from collections.abc import Callable

from django.db import connection, models, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

# Types both drivers take as they are.
_PLAIN = {
    "AutoField",
    "BigAutoField",
    "CharField",
    "TextField",
    "SlugField",
    "IntegerField",
    "BigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "ForeignKey",
    "EmailField",
}


def insert(objs: list[models.Model]) -> None:
    """Inserts unsaved instances of one model and sets their primary keys."""
    if not objs:
        return
    model = type(objs[0])
    fields = list(model._meta.concrete_fields)
    _fill_auto_fields(objs, fields)
    _allocate_ids(model, objs)
    converters = [_converter(f, connection.vendor) for f in fields]
    rows = (
        [c(getattr(o, f.attname)) for f, c in zip(fields, converters, strict=True)]
        for o in objs
    )
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    if connection.vendor == "postgresql":
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(rows)
            )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = "default"


def insert_rows(
    model, columns: list[str], rows: list[tuple], *, ids: bool = True
) -> list[int]:
    """Inserts rows given as tuples of values for `columns` (attnames, the
    primary key left out); every other column takes its default, auto_now
    ones the time of the call. Returns the new primary keys in row order;
    with `ids=False` the database numbers the rows itself and nothing is
    returned (no round trip to allocate keys no one reads)."""
    if not rows:
        return []
    pk = model._meta.pk
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    rest = [f for f in by_name.values() if f.attname not in columns and f is not pk]
    const, per_row = _defaults(rest)
    given = [*columns, *(f.attname for f in per_row)]
    if ids:
        keys = next_ids(model, len(rows))
        given.insert(0, pk.attname)
        rows = [(key, *row) for key, row in zip(keys, rows, strict=True)]
    converters = [_converter(by_name[n], connection.vendor) for n in given]
    changing = [(i, c) for i, c in enumerate(converters) if c is not _same]
    fixed = tuple(
        _converter(by_name[n], connection.vendor)(v) for n, v in const.items()
    )
    makers = [f.default for f in per_row]

    def full(row):
        values = [*row, *(make() for make in makers)] if makers else list(row)
        for i, convert in changing:
            values[i] = convert(values[i])
        return (*values, *fixed)

    if makers or changing:
        rows = [full(r) for r in rows]
    else:  # most tables on PostgreSQL: nothing to convert
        rows = [(*r, *fixed) for r in rows]
    _send(model, [*given, *const], rows)
    return list(keys) if ids else []


def _defaults(fields) -> tuple[dict, list]:
    """The defaults of fields not given: constants, and fields whose default
    is made per row (a UUID)."""
    now, const, per_row = timezone.now(), {}, []
    for field in fields:
        if field.db_default is not models.NOT_PROVIDED and not field.has_default():
            continue  # the database's own default
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            const[field.attname] = now
        elif field.has_default() and callable(field.default):
            per_row.append(field)
        else:
            const[field.attname] = field.get_default()
    return const, per_row


def _send(model, names: list[str], rows: list) -> None:
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    columns = ", ".join(ops.quote_name(model._meta.get_field(n).column) for n in names)
    if connection.vendor == "postgresql":
        with (
            connection.wrap_database_errors,  # as Django's: the caller catches those
            connection.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join(["%s"] * len(names))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows
            )


def insert_select_sql(
    model, select: dict[str, str], source: str, params: list
) -> tuple[str, list]:
    """INSERT … SELECT (PostgreSQL): the columns of `select` (attnames) from
    their SQL expressions over `source` (a FROM clause without placeholders),
    `params` filling the expressions' placeholders in order; every other
    column takes its default, as in `insert_rows`. Returns the SQL and its
    parameters."""
    pk, ops = model._meta.pk, connection.ops
    rest = [
        f
        for f in model._meta.concrete_fields
        if f.attname not in select and f is not pk
    ]
    const, per_row = _defaults(rest)
    if per_row:  # a default made per row (a UUID) must come from the SELECT
        raise ValueError(f"{model.__name__}: give {per_row[0].attname}")
    names = [*select, *const]
    columns = ", ".join(ops.quote_name(model._meta.get_field(n).column) for n in names)
    values = [
        _converter(model._meta.get_field(n), "postgresql")(v) for n, v in const.items()
    ]
    expressions = ", ".join([*select.values(), *["%s"] * len(const)])
    table = ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) SELECT {expressions} FROM {source}"
    return sql, [*params, *values]


def array_literal(values: list) -> tuple[str, str]:
    """A list of ints or of strings as PostgreSQL's text form of an array,
    and the element type: psycopg adapts a list element by element in
    Python, 5 µs a row of an import (profiled); a join is a tenth of it."""
    kind = type(values[0])  # `type`, not isinstance: a bool is no key
    if kind is int:
        return "{" + ",".join(map(str, values)) + "}", "bigint"
    if kind is not str:
        raise TypeError(f"no array literal for {kind.__name__} values")
    text = '{"' + '","'.join(values) + '"}'
    if "\\" in text or text.count('"') != 2 * len(values):  # rare: escape each
        quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        text = '{"' + '","'.join(quoted) + '"}'
    return text, "text"


def update_rows(model, columns: list[str], rows: list[tuple]) -> None:
    """UPDATE of `columns` for rows given as (*values, pk), each with its own
    values: on PostgreSQL in one statement for many rows, from a temporary
    table COPY fills; on SQLite row by row. Re-importing 200,000 rows
    that each rename a customer (PostgreSQL, pairs back to back): 33.7 s
    with one UPDATE a row (executemany: a statement for the server each),
    27.0 with VALUES (psycopg parses a statement's thousand placeholders
    each time), 24.8 so. Django's bulk_update builds a CASE per field and
    row, a hundred times slower to compile."""
    if not rows:
        return
    fields = [model._meta.get_field(c) for c in columns]
    converters = [_converter(f, connection.vendor) for f in fields]
    converted = (
        [row[-1], *(c(v) for c, v in zip(converters, row[:-1], strict=True))]
        for row in rows
    )
    if connection.vendor == "postgresql":
        _update_from_copy(model, fields, converted)
    else:
        _update_one_by_one(model, fields, converted)


def _update_from_copy(model, fields, rows) -> None:
    q, meta = connection.ops.quote_name, model._meta
    table, pk = q(meta.db_table), q(meta.pk.column)
    # A temporary table per target and set of columns, made once a session
    # (named by a digest: within PostgreSQL's 63 bytes for any table).
    names = [f.column for f in fields]
    temp = q(f"clientbook_update_{_digest([meta.db_table, *names])}")
    types = ", ".join(f"{q(f.column)} {f.db_type(connection)}" for f in fields)
    sets = ", ".join(f"{q(c)} = v.{q(c)}" for c in names)
    # One transaction at least: the table is emptied at each commit.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp}"
            f" (pk {meta.pk.rel_db_type(connection)}, {types})"
            " ON COMMIT DELETE ROWS"
        )
        with (
            connection.wrap_database_errors,
            cursor.copy(f"COPY {temp} FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM {temp} v WHERE {table}.{pk} = v.pk"
        )
        cursor.execute(f"DELETE FROM {temp}")  # before the next call, not commit


def _digest(names: list[str]) -> str:
    return hashlib.sha1(",".join(names).encode()).hexdigest()[:12]


def _update_one_by_one(model, fields, rows) -> None:
    # SQLite runs one prepared statement a row in C: 27.5 s for the rename
    # re-import above, against 31.1 with VALUES.
    q, meta = connection.ops.quote_name, model._meta
    sets = ", ".join(f"{q(f.column)} = %s" for f in fields)
    sql = f"UPDATE {q(meta.db_table)} SET {sets} WHERE {q(meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, ([*row[1:], row[0]] for row in rows))


def _converter(field, vendor: str) -> Callable:
    kind = field.get_internal_type()
    if kind in _PLAIN:
        return _same
    if vendor == "postgresql":
        # psycopg adapts decimals and booleans itself; dates, times and UUIDs
        # go as text, which its COPY formats several times faster (measured:
        # 4.6 → 1.8 µs a customer row), and a chunk's one timestamp once.
        if isinstance(field, models.JSONField):
            return _jsonb
        return _PG_TEXT.get(kind, _same)
    # SQLite: the text Django itself stores, without its per-value machinery.
    return _SQLITE.get(kind) or functools.partial(_prepared, field)


def _same(value):
    return value


def _jsonb(value):
    return None if value is None else Jsonb(value)


@functools.lru_cache(maxsize=1024)  # an import stamps many rows with one time
def _sqlite_datetime(value):
    # Django keeps aware datetimes in SQLite as naive UTC text.
    if value is None:
        return None
    if timezone.is_aware(value):
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return str(value)


def _iso_date(value):
    return None if value is None else value.isoformat()


_PG_TEXT = {
    "DateTimeField": functools.lru_cache(maxsize=1024)(_iso_date),
    "DateField": _iso_date,
    "UUIDField": lambda v: None if v is None else str(v),
}

_SQLITE = {
    "DateTimeField": _sqlite_datetime,
    "DateField": _iso_date,
    "UUIDField": lambda v: None if v is None else v.hex,
    "BooleanField": lambda v: None if v is None else int(v),
}


def _prepared(field, value):
    return field.get_db_prep_save(value, connection)


def _fill_auto_fields(objs, fields) -> None:
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                if field.auto_now or getattr(obj, field.attname) is None:
                    setattr(obj, field.attname, now)


def _allocate_ids(model, objs) -> None:
    missing = [o for o in objs if o.pk is None]
    if not missing:
        return
    for obj, value in zip(missing, next_ids(model, len(missing)), strict=True):
        obj.pk = value


def next_ids(model, count: int):
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                [_sequence(table, column), count],
            )
            ids = [value for (value,) in cursor.fetchall()]
        else:
            # AUTOINCREMENT never reuses an id: start above both the highest
            # row and the highest id ever given. The import's write
            # transaction holds SQLite's lock, so no one else takes them.
            cursor.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")
            highest = cursor.fetchone()[0]
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            start = max(highest, row[0] if row else 0) + 1
            ids = range(start, start + count)
    return ids


def id_sequence(model) -> str:
    """The name of the sequence numbering `model`'s ids (PostgreSQL)."""
    return _sequence(model._meta.db_table, model._meta.pk.column)


@functools.cache
def _sequence(table: str, column: str) -> str:
    """The sequence numbering a table's ids, looked up once: asked for by
    each `nextval`, the lookup cost 3 µs an id (measured: 6.2 ms for 2,000
    ids, 0.8 with the name given)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        return cursor.fetchone()[0]
