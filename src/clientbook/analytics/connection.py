"""The Ibis connection the analytics read through.

Engines work on Ibis tables (see ``engines/features.py``); this module opens
one over the operational database Django uses, read from the *live*
connection settings (under tests that is the test database, not the one
named in the settings module):

- SQLite: the same file, opened read-only by Ibis's SQLite backend.
- PostgreSQL: the same database, through Ibis's PostgreSQL backend, with the
  session time zone pinned to UTC so naive UTC literals compare correctly
  with ``timestamptz`` columns.
- DuckDB, chosen by setting: either a DuckDB file that already holds the
  tables (a warehouse copy), or an in-memory DuckDB into which the tables the
  features need are copied from the operational database as Arrow. DuckDB's
  own ``sqlite``/``postgres`` scanners would attach them without a copy, but
  they are extensions downloaded at run time, which an offline install
  cannot do.

Settings: ``CLIENTBOOK_ANALYTICS = {"BACKEND": "duckdb", "DUCKDB_PATH": ...}``
in the Django settings, or the environment variable
``CLIENTBOOK_ANALYTICS_BACKEND``. The default is the operational database.
Remember that another connection cannot see rows of a transaction that has
not committed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

import ibis
from django.conf import settings
from django.db import connections

from clientbook.analytics.engines.features import FeatureTables

Backend = Literal["operational", "duckdb"]


@dataclass(frozen=True)
class AnalyticsConnectionConfig:
    """Where the analytics read from: the operational database or DuckDB."""

    backend: Backend = "operational"
    duckdb_path: str = ""
    database_alias: str = "default"
    tables: FeatureTables = field(default_factory=FeatureTables)

    def __post_init__(self) -> None:
        if self.backend not in ("operational", "duckdb"):
            raise ValueError("backend must be 'operational' or 'duckdb'")

    @classmethod
    def from_settings(cls) -> AnalyticsConnectionConfig:
        """Read once from ``settings.CLIENTBOOK_ANALYTICS`` and the environment."""
        options = dict(getattr(settings, "CLIENTBOOK_ANALYTICS", {}) or {})
        backend = os.environ.get(
            "CLIENTBOOK_ANALYTICS_BACKEND", options.get("BACKEND", "operational")
        )
        return cls(backend=backend, duckdb_path=options.get("DUCKDB_PATH", ""))


def operational_connection(alias: str = "default") -> ibis.BaseBackend:
    """Ibis over the database Django's connection ``alias`` points at now."""
    settings_dict = connections[alias].settings_dict
    vendor = connections[alias].vendor
    if vendor == "sqlite":
        return ibis.sqlite.connect(str(settings_dict["NAME"]))
    if vendor == "postgresql":
        con = ibis.postgres.connect(
            host=settings_dict.get("HOST") or None,
            port=int(settings_dict["PORT"]) if settings_dict.get("PORT") else None,
            user=settings_dict.get("USER") or None,
            password=settings_dict.get("PASSWORD") or None,
            database=settings_dict["NAME"],
        )
        con.raw_sql("SET TIME ZONE 'UTC'")
        return con
    raise ValueError(f"analytics cannot read a {vendor} database")


def _table_names(tables: FeatureTables) -> list[str]:
    return [getattr(tables, name) for name in tables.__dataclass_fields__]


def duckdb_copy(
    source: ibis.BaseBackend, tables: FeatureTables | None = None
) -> ibis.BaseBackend:
    """An in-memory DuckDB holding the feature tables copied from ``source``."""
    con = ibis.duckdb.connect()
    raw = con.con  # the duckdb connection: Ibis 12's create_table(arrow) fails
    for name in _table_names(tables or FeatureTables()):
        view = f"_arrow_{name}"
        table = source.table(name)
        # UUID and JSON columns do not convert to Arrow, and no feature needs them
        kept = [
            column
            for column, dtype in table.schema().items()
            if not (dtype.is_uuid() or dtype.is_json() or dtype.is_binary())
        ]
        raw.register(view, table.select(kept).to_pyarrow())
        raw.execute(f'create table "{name}" as select * from "{view}"')
        raw.unregister(view)
    return con


def analytics_connection(
    config: AnalyticsConnectionConfig | None = None,
) -> ibis.BaseBackend:
    """The Ibis connection the analytics services read through."""
    config = config or AnalyticsConnectionConfig.from_settings()
    if config.backend == "duckdb":
        if config.duckdb_path:
            return ibis.duckdb.connect(config.duckdb_path, read_only=True)
        return duckdb_copy(operational_connection(config.database_alias), config.tables)
    return operational_connection(config.database_alias)
