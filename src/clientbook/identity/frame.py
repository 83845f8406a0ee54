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


def _batches(sql: str, params: Sequence, names: list[str]) -> Iterator[pa.RecordBatch]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            columns = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(col, type=pa.string()) for col in columns], names=names
            )


def _load(con: duckdb.DuckDBPyConnection, table: str, sql: str, params, names):
    # Read here, not lazily: DuckDB would pull from its own threads, and a
    # Django connection belongs to the thread that opened it.
    schema = pa.schema([(n, pa.string()) for n in names])
    incoming = pa.Table.from_batches(list(_batches(sql, params, names)), schema)
    con.register("_incoming", incoming)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _incoming")
    con.unregister("_incoming")


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def load_customers(
    con: duckdb.DuckDBPyConnection,
    *,
    extra_fields: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
) -> int:
    """Creates table `customers_input` in `con`; returns its row count."""
    steps = 4 + len(extra_fields)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done / steps)

    _load(
        con,
        "raw_customers",
        f"SELECT CAST(id AS VARCHAR(20)), name, name_pinyin,"
        f" CAST(birth_date AS VARCHAR(10)), gender, kind FROM {_t(Customer)}"
        " WHERE merged_into_id IS NULL AND archived_at IS NULL",
        [],
        ["id", "name", "name_pinyin", "birth_date", "gender", "kind"],
    )
    step()
    marks = ", ".join(["%s"] * len(MATCH_IDENTIFIERS))
    _load(
        con,
        "raw_identifiers",
        f"SELECT CAST(customer_id AS VARCHAR(20)), type, value FROM {_t(Identifier)}"
        f" WHERE is_live = %s AND type IN ({marks})",
        [True, *MATCH_IDENTIFIERS],
        ["customer_id", "type", "value"],
    )
    step()
    address = _t(Address)
    _load(
        con,
        "raw_addresses",
        f"SELECT CAST(customer_id AS VARCHAR(20)), province, city, district, street,"
        f" postcode FROM {address} WHERE id IN"
        f" (SELECT MIN(id) FROM {address} GROUP BY customer_id)",
        [],
        ["customer_id", "province", "city", "district", "street", "postcode"],
    )
    step()
    for key in extra_fields:
        _load(
            con,
            f"raw_{column_name(key)}",
            f"SELECT CAST(v.customer_id AS VARCHAR(20)), v.value_text"
            f" FROM {_t(CustomFieldValue)} v JOIN {_t(CustomField)} f"
            " ON f.id = v.field_id WHERE f.key = %s",
            [key],
            ["customer_id", "value"],
        )
        step()
    con.execute(_input_sql(extra_fields))
    raw = ["raw_customers", "raw_identifiers", "raw_addresses"]
    for table in raw + [f"raw_{column_name(k)}" for k in extra_fields]:
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
    WITH ids AS (
        SELECT customer_id,
            min(value) FILTER (WHERE type = 'national_id') AS national_id,
            min(value) FILTER (WHERE type = 'mobile') AS mobile,
            min(value) FILTER (WHERE type = 'landline') AS landline,
            min(value) FILTER (WHERE type = 'email') AS email
        FROM raw_identifiers GROUP BY customer_id
    ), base AS (
        SELECT CAST(c.id AS BIGINT) AS unique_id,
            {name} AS name,
            nullif(c.name_pinyin, '') AS name_pinyin,
            nullif(array_to_string(list_sort(string_split(c.name_pinyin, '')), ''),
                '') AS name_letters,
            {tokens} AS name_tokens,
            nullif(c.birth_date, '') AS birth_date,
            nullif(c.gender, '') AS gender,
            ids.national_id, ids.mobile, ids.landline, ids.email,
            nullif(split_part(ids.email, '@', 1), '') AS email_local,
            nullif(regexp_replace({_clean("a.province")}, '{PROVINCE_SUFFIX}', ''),
                '') AS province,
            nullif(regexp_replace({_clean("a.city")}, '{CITY_SUFFIX}', ''), '')
                AS city,
            nullif(regexp_replace({_clean("a.district")}, '{DISTRICT_SUFFIX}', ''),
                '') AS district,
            {_clean("a.street")} AS street,
            {_clean("a.postcode")} AS postcode
            {extra_cols}
        FROM raw_customers c
        LEFT JOIN ids ON ids.customer_id = c.id
        LEFT JOIN raw_addresses a ON a.customer_id = c.id
        {extra_joins}
    )
    SELECT * EXCLUDE (name_tokens),
        nullif(name_tokens[1], '') AS name_first,
        CASE WHEN len(name_tokens) > 1 THEN nullif(name_tokens[-1], '') END
            AS name_last
    FROM base
    """
