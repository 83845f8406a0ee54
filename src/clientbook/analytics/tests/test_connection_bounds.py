"""DuckDB's memory for the analytics is bounded as the settings say: its own
defaults were 80% of the machine's RAM and the process's current directory."""

import duckdb
import pytest
from django.core.exceptions import ImproperlyConfigured

from clientbook.analytics.connection import (
    AnalyticsConnectionConfig,
    analytics_connection,
)

pytestmark = pytest.mark.django_db


def _bounds(con) -> tuple[str, str]:
    return con.con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()


def test_the_copy_of_the_tables_is_bounded_as_the_settings_say(settings, tmp_path):
    # given: a memory limit and a directory to spill into
    spill = tmp_path / "spill"
    settings.CLIENTBOOK_ANALYTICS = {
        "BACKEND": "duckdb",
        "MEMORY_LIMIT": "512MB",
        "SPILL_DIR": spill,
    }
    # when
    con = analytics_connection()
    # then
    assert _bounds(con) == ("488.2 MiB", str(spill)) and spill.is_dir()
    con.disconnect()


def test_a_warehouse_file_is_bounded_too(settings, tmp_path, monkeypatch):
    # given: a DuckDB file, and the limit from the environment
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    settings.CLIENTBOOK_ANALYTICS = {"BACKEND": "duckdb", "DUCKDB_PATH": str(path)}
    monkeypatch.setenv("CLIENTBOOK_ANALYTICS_MEMORY_LIMIT", "1GB")
    # when
    con = analytics_connection()
    # then: the spill directory defaults to var/
    assert _bounds(con) == ("953.6 MiB", str(settings.VAR_DIR / "analytics-spill"))
    con.disconnect()


def test_a_limit_duckdb_cannot_read_is_refused_by_name(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    config = AnalyticsConnectionConfig(
        backend="duckdb", duckdb_path=str(path), memory_limit="lots"
    )
    with pytest.raises(ImproperlyConfigured, match="'memory_limit': 'lots'"):
        analytics_connection(config)
