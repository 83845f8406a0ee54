"""The DuckDB copy holds what the analytics read, and reads the same answers.

Data: the demo company (300 customers, 3 years), committed so that Ibis's own
connection sees it. On PostgreSQL the copy goes through COPY ... TO STDOUT
and pyarrow's CSV parser; on SQLite through Ibis's Arrow batches.
"""

import datetime as dt

import pandas as pd
import pytest
from django.db import connection

from clientbook.analytics import loading
from clientbook.analytics.connection import (
    _arrow_stream,
    duckdb_copy,
    fetch_frame,
    operational_connection,
)
from clientbook.analytics.engines import clv, features
from clientbook.analytics.engines.features import FEATURE_COLUMNS, FeatureTables

from .fixtures import AS_OF, demo_data  # noqa: F401

pytestmark = pytest.mark.usefixtures("demo_data")

SINCE = dt.date(2024, 7, 1)


@pytest.fixture(scope="module")
def both(demo_data, django_db_blocker):  # noqa: F811
    with django_db_blocker.unblock():
        source = operational_connection()
        duck = duckdb_copy(operational_connection())
        yield source, duck
        source.disconnect()
        duck.disconnect()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_copy_holds_only_the_columns_read_and_every_row(both, db):
    source, duck = both
    tables = FeatureTables()
    for key, columns in FEATURE_COLUMNS.items():
        name = getattr(tables, key)
        assert tuple(duck.table(name).columns) == columns
        assert (
            duck.table(name).count().execute() == source.table(name).count().execute()
        )


def test_copied_orders_equal_the_source(both, db):
    source, duck = both
    columns = FEATURE_COLUMNS["orders"]
    ours = duck.table("sales_order").to_pandas()
    theirs = source.table("sales_order").select(*columns).to_pandas()
    ours, theirs = _sorted(ours), _sorted(theirs)
    assert ours["id"].tolist() == theirs["id"].tolist()
    assert ours["amount"].tolist() == theirs["amount"].tolist()
    assert ours["channel"].tolist() == theirs["channel"].tolist()
    assert (
        pd.to_datetime(ours["ordered_at"], utc=True).tolist()
        == pd.to_datetime(theirs["ordered_at"], utc=True).tolist()
    )


def test_every_loader_reads_the_same_from_the_copy(both, db):
    source, duck = both
    for con in (source, duck):
        assert loading.categories(con) == loading.categories(source)
        assert loading.buyers_between(
            con, since=SINCE, before=AS_OF
        ) == loading.buyers_between(source, since=SINCE, before=AS_OF)
    pd.testing.assert_frame_equal(
        _sorted(loading.daily_purchases(duck, before=AS_OF)),
        _sorted(loading.daily_purchases(source, before=AS_OF)),
        check_dtype=False,
    )
    for level in ("category", "product"):
        pd.testing.assert_frame_equal(
            _sorted(loading.purchased_items(duck, before=AS_OF, level=level)),
            _sorted(loading.purchased_items(source, before=AS_OF, level=level)),
            check_dtype=False,
        )


PROBE = "analytics_copy_probe"


@pytest.fixture
def probe(django_db_blocker):
    """A committed table of values CSV could get wrong (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    source = operational_connection()
    raw = source.con
    with django_db_blocker.unblock():
        raw.execute(
            f"create table {PROBE} (id bigint, name text, at timestamptz,"
            " amount numeric(14, 2), day date, share float8, flag boolean)"
        )
        raw.execute(
            f"insert into {PROBE} values"
            " (1, 'Tea, \"green\"\nleaf', '2024-03-01 10:00:00.5+08', -12.30,"
            " '2024-02-29', 0.1, true),"
            " (2, '', '2024-03-01 00:00:00+00', 0, null, 'NaN', false),"
            " (3, null, null, null, '1969-12-31', null, null),"
            " (4, 'NA', '1999-12-31 23:59:59.999999+00', 123456789012.34, null,"
            " 'Infinity', true),"
            " (5, 'x', null, null, null, 1.0000000000000002e-300, false)"
        )
        yield source
        raw.execute(f"drop table {PROBE}")
        source.disconnect()


def test_postgres_copy_keeps_nulls_quotes_newlines_and_instants(probe):
    columns = ("id", "name", "at", "amount", "day", "share", "flag")
    ours = _arrow_stream(probe, PROBE, columns).read_all().sort_by("id")
    theirs = probe.table(PROBE).to_pyarrow().sort_by("id")
    assert ours.drop(["share"]).to_pylist() == theirs.drop(["share"]).to_pylist()
    names = dict(zip(ours["id"].to_pylist(), ours["name"].to_pylist(), strict=True))
    assert names == {1: 'Tea, "green"\nleaf', 2: "", 3: None, 4: "NA", 5: "x"}
    # NaN is not equal to itself: compare the floats as text
    assert [str(v) for v in ours["share"].to_pylist()] == [
        "0.1",
        "nan",
        "None",
        "inf",
        "1.0000000000000002e-300",
    ]


def test_fetch_frame_gives_what_ibis_gives(probe):
    table = probe.table(PROBE)
    expected = table.to_pandas()
    frame = fetch_frame(probe, table)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.dtypes.to_dict() == expected.dtypes.to_dict()


def test_no_rows_come_as_an_empty_table_of_the_columns(probe):
    # COPY of no rows writes nothing, which pyarrow's CSV reader refused
    table = probe.table(PROBE)
    none = table.filter(table.id < 0)
    ours = _arrow_stream(probe, PROBE, ("id", "name")).read_all()
    assert ours.num_rows == 5
    empty = fetch_frame(probe, none)
    assert empty.empty and list(empty.columns) == list(table.columns)
    pd.testing.assert_frame_equal(empty, none.to_pandas(), check_index_type=False)


def test_fetch_frame_of_the_feature_table_is_ibis_own(both, db):
    source, _ = both
    categories = tuple(loading.categories(source)[:2])
    expr = features.customer_features(
        source, features.FeatureConfig(as_of=AS_OF, categories=categories)
    )
    pd.testing.assert_frame_equal(fetch_frame(source, expr), expr.to_pandas())


def test_summary_in_the_database_equals_the_engine_on_purchase_days(both, db):
    source, duck = both
    daily = loading.daily_purchases(source, before=AS_OF)
    end = pd.Timestamp(AS_OF) - pd.Timedelta(days=1)
    expected = clv.summary_from_transactions(daily, observation_end=end, date_col="day")
    expected_holdout = clv.calibration_holdout_summary(
        daily,
        calibration_end=end - pd.Timedelta(days=180),
        holdout_end=end,
        date_col="day",
    )
    for con in (source, duck):
        pd.testing.assert_frame_equal(
            loading.clv_summary(con, before=AS_OF), expected, check_names=False
        )
        pd.testing.assert_frame_equal(
            loading.clv_summary(con, before=AS_OF, holdout_days=180),
            expected_holdout,
            check_names=False,
        )
    with pytest.raises(ValueError):
        loading.clv_summary(source, before=AS_OF, holdout_days=0)


def test_postgres_copy_stopped_early_leaves_the_connection_usable(probe):
    stream = _arrow_stream(probe, PROBE, ("id", "name"))
    next(iter(stream))  # the first batch only
    stream.close()
    assert probe.table(PROBE).count().execute() == 5
