"""Writing many member rows at once, each row its own values.

Django's `bulk_update` builds one CASE WHEN per column over every row of the
batch, which at a million members is minutes; here PostgreSQL gets the values
by COPY into a temporary table and one UPDATE … FROM, and SQLite one
executemany of a prepared UPDATE (in-process, so that is fast too).
"""

from collections.abc import Sequence

from django.conf import settings
from django.db import connection

from clientbook.campaigns.models import Member

_PG_TYPES = {"variant_id": "bigint", "assigned_to_id": "bigint"}


def members_set(columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """`rows` are (member id, *values for columns)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _postgres(columns, rows)
    else:
        _sqlite(columns, rows)


def _sqlite(columns: Sequence[str], rows: Sequence[tuple]) -> None:
    sets = ", ".join(f"{c} = ?" for c in columns)
    sql = f"UPDATE {Member._meta.db_table} SET {sets} WHERE id = ?"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(*row[1:], row[0]) for row in rows])


def _postgres(columns: Sequence[str], rows: Sequence[tuple]) -> None:
    defs = ", ".join(f"{c} {_PG_TYPES.get(c, 'text')}" for c in columns)
    sets = ", ".join(f"{c} = v.{c}" for c in columns)
    table = Member._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE member_values (id bigint, {defs}) ON COMMIT DROP"
        )
        names = ", ".join(["id", *columns])
        with cursor.copy(f"COPY member_values ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"UPDATE {table} m SET {sets} FROM member_values v"  # noqa: S608
            " WHERE m.id = v.id"
        )
        cursor.execute("DROP TABLE member_values")


def temp_table(name: str, columns: dict[str, str], rows: Sequence[tuple]) -> None:
    """A temporary table `name` (replacing one of that name) holding `rows`;
    `columns` maps each column to its SQL type."""
    defs = ", ".join(f"{c} {t}" for c, t in columns.items())
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(f"CREATE TEMPORARY TABLE {name} ({defs})")
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {name} ({names}) VALUES ({marks})", rows)  # noqa: S608


def temp_table_drop(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def work_mem_raise() -> None:
    """For the rest of the transaction, lets PostgreSQL hash a million
    customers in memory (`CLIENTBOOK["BULK_WORK_MEM"]`): with the default
    4 MB it probes an index once per customer for each suppression rule
    instead, twice as slow at a million."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('work_mem', %s, true)",
                [settings.CLIENTBOOK["BULK_WORK_MEM"]],
            )
