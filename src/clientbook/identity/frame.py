"""The live customers as one flat table in DuckDB, ready for Splink.

Read with plain SQL in batches straight into Arrow (no model instances: a
million customers are read in seconds and never sit in memory as Python
objects all at once), then joined and cleaned in DuckDB.
"""

import re
from collections.abc import Callable, Iterator, Sequence

import duckdb
import pyarrow as pa
from django.db import connection

from clientbook.customers.models import (
    Address,
    Customer,
    CustomField,
    CustomFieldValue,
    Identifier,
)

BATCH = 50_000
MATCH_IDENTIFIERS = ("national_id", "mobile", "landline", "email")

# Suffixes that are often left out: 上海市 → 上海, 浦东新区 → 浦东. The
# regex engine takes the leftmost match, so longer suffixes are found first.
PROVINCE_SUFFIX = "(壮族自治区|回族自治区|维吾尔自治区|特别行政区|自治区|省|市)$"
CITY_SUFFIX = "(自治州|地区|市|盟)$"
DISTRICT_SUFFIX = "(新区|自治县|区|县|市|旗)$"


def _batches(sql: str, params: Sequence, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            columns = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(col, type=f.type)
                    for col, f in zip(columns, schema, strict=True)
                ],
                schema=schema,
            )


def _load(con: duckdb.DuckDBPyConnection, table: str, sql: str, params, schema):
    # Read here, not lazily: DuckDB would pull from its own threads, and a
    # Django connection belongs to the thread that opened it.
    incoming = pa.Table.from_batches(list(_batches(sql, params, schema)), schema)
    con.register("_incoming", incoming)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _incoming")
    con.unregister("_incoming")


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _schema(*names: str) -> pa.Schema:
    """The id column first (an integer), text for the rest."""
    return pa.schema([(names[0], pa.int64()), *((n, pa.string()) for n in names[1:])])


CUSTOMER_COLUMNS = _schema(
    "id",
    "name",
    "name_pinyin",
    "birth_date",
    "gender",
    *MATCH_IDENTIFIERS,
    "province",
    "city",
    "district",
    "street",
    "postcode",
)


def _customers_sql() -> tuple[str, list]:
    """One pass over the live customers with what matching compares: the
    profile, one value of each identifier type (pivoted in the database,
    one row a customer) and the first address; nothing else is read."""
    pivot = ", ".join(
        f"MIN(CASE WHEN type = %s THEN value END) AS {t}" for t in MATCH_IDENTIFIERS
    )
    marks = ", ".join(["%s"] * len(MATCH_IDENTIFIERS))
    address = _t(Address)
    sql = (
        "SELECT c.id, c.name, c.name_pinyin, CAST(c.birth_date AS VARCHAR(10)),"
        f" c.gender, {', '.join(f'i.{t}' for t in MATCH_IDENTIFIERS)},"
        " a.province, a.city, a.district, a.street, a.postcode"
        f" FROM {_t(Customer)} c"
        f" LEFT JOIN (SELECT customer_id, {pivot} FROM {_t(Identifier)}"
        f" WHERE is_live = %s AND type IN ({marks}) GROUP BY customer_id) i"
        " ON i.customer_id = c.id"
        f" LEFT JOIN (SELECT customer_id, MIN(id) AS id FROM {address}"
        " GROUP BY customer_id) fa ON fa.customer_id = c.id"
        f" LEFT JOIN {address} a ON a.id = fa.id"
        " WHERE c.merged_into_id IS NULL AND c.archived_at IS NULL"
    )
    return sql, [*MATCH_IDENTIFIERS, True, *MATCH_IDENTIFIERS]


def load_customers(
    con: duckdb.DuckDBPyConnection,
    *,
    extra_fields: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
) -> int:
    """Creates table `customers_input` in `con`; returns its row count."""
    steps = 2 + len(extra_fields)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done / steps)

    sql, params = _customers_sql()
    _load(con, "raw_customers", sql, params, CUSTOMER_COLUMNS)
    step()
    for key in extra_fields:
        _load(
            con,
            f"raw_{column_name(key)}",
            f"SELECT v.customer_id, v.value_text"
            f" FROM {_t(CustomFieldValue)} v JOIN {_t(CustomField)} f"
            " ON f.id = v.field_id WHERE f.key = %s",
            [key],
            _schema("customer_id", "value"),
        )
        step()
    con.execute(_input_sql(extra_fields))
    for table in ["raw_customers", *(f"raw_{column_name(k)}" for k in extra_fields)]:
        con.execute(f"DROP TABLE {table}")
    step()
    return con.execute("SELECT count(*) FROM customers_input").fetchall()[0][0]


def column_name(key: str) -> str:
    """The column of a custom field's key (slugs may hold dashes)."""
    return "extra_" + re.sub(r"\W", "_", key)


def _clean(expr: str) -> str:
    return f"nullif(trim(lower({expr})), '')"


def _input_sql(extra_fields: Sequence[str]) -> str:
    cols = [column_name(k) for k in extra_fields]
    extra_cols = "".join(f", {_clean(f'{c}.value')} AS {c}" for c in cols)
    extra_joins = "".join(
        f" LEFT JOIN (SELECT customer_id, min(value) AS value FROM raw_{c}"
        f" GROUP BY 1) {c} ON {c}.customer_id = c.id"
        for c in cols
    )
    name = _clean("c.name")
    # Han names have no spaces: the family name is the first character.
    tokens = (
        f"CASE WHEN contains({name}, ' ') THEN string_split({name}, ' ')"
        f" WHEN regexp_matches({name}, '^[a-z0-9]+$') THEN [{name}]"
        f" ELSE [substr({name}, 1, 1), substr({name}, 2)] END"
    )
    return f"""
    CREATE OR REPLACE TABLE customers_input AS
    WITH base AS (
        SELECT CAST(c.id AS BIGINT) AS unique_id,
            {name} AS name,
            nullif(c.name_pinyin, '') AS name_pinyin,
            nullif(array_to_string(list_sort(string_split(c.name_pinyin, '')), ''),
                '') AS name_letters,
            {tokens} AS name_tokens,
            nullif(c.birth_date, '') AS birth_date,
            nullif(c.gender, '') AS gender,
            c.national_id, c.mobile, c.landline, c.email,
            nullif(split_part(c.email, '@', 1), '') AS email_local,
            nullif(regexp_replace({_clean("c.province")}, '{PROVINCE_SUFFIX}', ''),
                '') AS province,
            nullif(regexp_replace({_clean("c.city")}, '{CITY_SUFFIX}', ''), '')
                AS city,
            nullif(regexp_replace({_clean("c.district")}, '{DISTRICT_SUFFIX}', ''),
                '') AS district,
            {_clean("c.street")} AS street,
            {_clean("c.postcode")} AS postcode
            {extra_cols}
        FROM raw_customers c
        {extra_joins}
    )
    SELECT * EXCLUDE (name_tokens),
        nullif(name_tokens[1], '') AS name_first,
        CASE WHEN len(name_tokens) > 1 THEN nullif(name_tokens[-1], '') END
            AS name_last
    FROM base
    """
