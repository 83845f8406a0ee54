"""A chunk's plain new customers, fanned out into their tables by PostgreSQL.

Most rows of a first import are new customers, and each became five rows in
four tables (customer, identifiers, address, source record; its audit entry
is now the job's, see `pipeline._import_created`), every one built as a
tuple and formatted for COPY in Python: 40 of the importer's ~70 µs a row
(py-spy, 200,000 rows). Here each such customer is one row COPYed into a
temporary table, and one INSERT … SELECT per table makes its rows inside the
server (the importer's thread: 103 → 69 µs a row, its waits for the server
included). The parsing workers make that row, as COPY text (`line`),
with the new customer's UUID; PostgreSQL numbers it. (COPYing each
table's rows straight in instead was tried in the tenth session: it saved
the server 1.6 µs a row and cost the parsers and the importer more; no
faster.) Customers who bring more (preferences, key dates, consents,
custom fields, tags, several rows of the file) take the general path in
`pipeline`, and so does SQLite, where each row is one executemany tuple
anyway.
"""

import functools
import operator
import re

from django.db import connection

from clientbook.customers import normalise
from clientbook.customers.models import Address, Customer, Identifier, uuid7_text
from clientbook.ingest import fastwrite
from clientbook.ingest.models import SourceRecord
from clientbook.ingest.rows import (
    ADDRESS_COLUMNS,
    NEW_CUSTOMER,
    PROFILE_ORDER,
    CustomerRecord,
    profile_defaults,
)

TABLE = "clientbook_import_new"


def is_used() -> bool:
    return connection.vendor == "postgresql"


def line(record: CustomerRecord) -> str | None:
    """A parsed record as the staging table's row, in COPY's text form, or
    None if it brings more than a plain new customer does. The importer
    puts its customer's branch in front (`with_branch`). Made where the
    record is parsed, in a worker process: formatted by the importer, these
    rows were a seventh of its time (py-spy, 200,000 rows)."""
    if (
        record.errors
        or record.preferences
        or record.key_dates
        or record.consents
        or record.custom
        or record.tags
        or len(set(record.identifiers)) < len(record.identifiers)
    ):
        return None
    return row(
        uuid7_text(),  # here, not by PostgreSQL: 1.5 µs of its time a customer
        record.profile,
        record.identifiers,
        record.name_keys,
        record.address_row,
        record.source_key(),
        record.content_hash(),
    )


def row(uuid: str, profile, identifiers, name_keys, address_row, key, digest) -> str:
    """`line` of a record's parts, for one known to be a plain new customer."""
    profile = {**profile_defaults(), **profile}
    types, values = zip(*identifiers, strict=True) if identifiers else ((), ())
    cells = [
        uuid,
        *_profile(profile),
        *(name_keys or normalise.name_keys(profile["name"])),
        _array(types),
        _array(values),
        *(address_row or _NO_ADDRESS),
        key,
        digest,
    ]
    return _copy_text(cells)


def with_branch(branch_id: int | None, staged: str) -> str:
    """A staged row (`line`) given its customer's branch. PostgreSQL gives it
    the customer's id (`_create`): asking for a chunk's ids first was a
    round trip, and a cell to format a row."""
    return f"{_text(branch_id)}\t{staged}\n"


_profile = operator.itemgetter(*PROFILE_ORDER)
_NO_ADDRESS = (None,) * len(ADDRESS_COLUMNS)
# COPY's text form: backslash escapes for these, \N for NULL.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_ESCAPED = re.compile(r"[\\\n\r]")  # and tabs, counted


def _copy_text(cells: list) -> str:
    """Cells as one row of COPY text. Values rarely hold a character COPY
    escapes, so the row is joined first and escaped cell by cell only if
    one turns up: escaping each cell was most of `line` (16 → 9 µs a row)."""
    # NUL marks the NULLs meanwhile: PostgreSQL text never holds it (a value
    # with one takes the slow path, and COPY refuses it).
    text = "\t".join([c if type(c) is str else _plain(c) for c in cells])
    if (
        text.count("\t") == len(cells) - 1
        and text.count("\0") == cells.count(None)
        and _ESCAPED.search(text) is None
    ):
        return text.replace("\0", "\\N")
    return "\t".join(map(_text, cells))


def _plain(value) -> str:
    return "\0" if value is None else _text(value)


def _text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)  # numbers, and dates in ISO form


def _array(values: tuple[str, ...]) -> str:
    return fastwrite.array_literal(values)[0] if values else "{}"


def write(ctx, lines: list[str]) -> None:
    """Writes the customers of `lines` (made by `with_branch`) and all that
    goes with them, as `pipeline` would."""
    if not lines:
        return
    with connection.cursor() as cursor:
        cursor.execute(_create())
        with connection.wrap_database_errors, cursor.copy(_copy()) as copy:
            copy.write("".join(lines))
        for sql, params in _inserts(ctx):
            cursor.execute(sql, params)
        cursor.execute(f"DELETE FROM {TABLE}")  # a dry run stages many chunks


@functools.cache
def _columns() -> list[tuple[str, str]]:
    fields = {f.attname: f for f in Customer._meta.concrete_fields}
    return [
        ("branch_id", fields["branch_id"].db_type(connection)),
        ("uuid", "uuid"),
        *((c, fields[c].db_type(connection)) for c in NEW_CUSTOMER if c != "branch_id"),
        ("identifier_types", "text[]"),
        ("identifier_values", "text[]"),
        *(
            (f"address_{c}", "boolean" if c == "is_valid" else "text")
            for c in ADDRESS_COLUMNS
        ),
        ("source_key", "text"),
        ("content_hash", "text"),
    ]


def _create() -> str:
    # Made once per session (again after a rolled-back transaction took it).
    sequence = fastwrite.id_sequence(Customer).replace("'", "''")
    columns = ", ".join(
        [
            f"id bigint DEFAULT nextval('{sequence}')",  # the customer's
            *(f"{connection.ops.quote_name(n)} {t}" for n, t in _columns()),
        ]
    )
    return (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {TABLE} ({columns})"
        " ON COMMIT DELETE ROWS"
    )


def _copy() -> str:
    names = ", ".join(connection.ops.quote_name(n) for n, _t in _columns())
    return f"COPY {TABLE} ({names}) FROM STDIN"


def _inserts(ctx):
    source, job, now = ctx.job.source_id, ctx.job.pk, ctx.now
    quote = connection.ops.quote_name
    staged = f"{TABLE} s"
    yield fastwrite.insert_select_sql(
        Customer,
        {
            "id": "s.id",
            "uuid": "s.uuid",
            **{c: f"s.{quote(c)}" for c in NEW_CUSTOMER},
            "source_id": "%s",
            "import_job_id": "%s",
        },
        staged,
        [source, job],
    )
    yield fastwrite.insert_select_sql(
        Identifier,
        {
            "customer_id": "s.id",
            "type": "i.type",
            "value": "i.value",
            "source_id": "%s",
            "is_live": "true",
            "first_seen": "%s",
            "last_seen": "%s",
        },
        f"{staged} CROSS JOIN LATERAL"
        " unnest(s.identifier_types, s.identifier_values) AS i(type, value)",
        [source, now, now],
    )
    yield fastwrite.insert_select_sql(
        Address,
        {
            "customer_id": "s.id",
            "source_id": "%s",
            **{c: f"s.{quote('address_' + c)}" for c in ADDRESS_COLUMNS},
        },
        f"{staged} WHERE s.address_type IS NOT NULL",
        [source],
    )
    yield fastwrite.insert_select_sql(
        SourceRecord,
        {
            "source_id": "%s",
            "key": "s.source_key",
            "customer_id": "s.id",
            "content_hashes": "s.content_hash",
            "job_id": "%s",
        },
        staged,
        [source, job],
    )
