"""The feature table on DuckDB and SQLite, over small tables made with SQL.

The tables copy the columns the Django models create (see
``customers/models.py``, ``sales/models.py``, ``activity/models.py``,
``org/models.py``); Django is not involved.
"""

import math

import ibis
import pandas as pd
import pytest

from clientbook.analytics.engines import features

AS_OF = "2024-07-01"

TYPES = {
    "duckdb": {"ts": "TIMESTAMP", "money": "DECIMAL(14, 2)", "bool": "BOOLEAN"},
    "sqlite": {"ts": "datetime", "money": "decimal", "bool": "bool"},
}

SCHEMA = """
create table org_branch (id integer, code varchar, region varchar);
create table customers_customer (
    id integer, branch_id integer, gender varchar, income_band varchar,
    birth_date date, created_at {ts}, archived_at {ts}, merged_into_id integer);
create table customers_address (id integer, customer_id integer, province varchar);
create table sales_product (id integer, sku varchar, category varchar);
create table sales_order (
    id integer, customer_id integer, branch_id integer, channel varchar,
    ordered_at {ts}, amount {money}, cost {money});
create table sales_orderline (
    id integer, order_id integer, product_id integer, amount {money}, cost {money});
create table activity_interaction (
    id integer, customer_id integer, channel varchar, direction varchar,
    type varchar, occurred_at {ts});
create table customers_customfield (id integer, key varchar, field_type varchar);
create table customers_customfieldvalue (
    id integer, customer_id integer, field_id integer, value_text varchar,
    value_integer bigint, value_decimal decimal(20, 6), value_date date,
    value_boolean {bool});
"""

ROWS = """
insert into org_branch values (1, 'SH01', '华东'), (2, 'BJ01', '华北');
insert into customers_customer values
    (1, 1, 'F', 'mid', '1990-06-15', '2023-01-01 00:00:00', null, null),
    (2, 2, 'M', '', null, '2023-06-01 00:00:00', null, null),
    (3, 1, 'F', '', null, '2024-12-01 00:00:00', null, null),
    (4, 1, 'F', '', null, '2023-01-01 00:00:00', null, 1),
    (5, 1, 'F', '', null, '2023-01-01 00:00:00', '2024-01-01 00:00:00', null);
insert into customers_address values (7, 1, '江苏'), (5, 1, '上海');
insert into sales_product values (1, 'T1', 'tea'), (2, 'C1', 'cup');
insert into sales_order values
    (1, 1, 1, 'store', '2024-01-01 09:00:00', 100.00, 60.00),
    (2, 1, 1, 'online', '2024-06-01 00:00:00', 50.00, 20.00),
    (3, 1, 1, 'online', '2024-08-01 00:00:00', 999.00, 0.00);
insert into sales_orderline values
    (1, 1, 1, 80.00, 50.00), (2, 1, 2, 20.00, 10.00),
    (3, 2, 1, 50.00, 20.00), (4, 3, 2, 999.00, 0.00);
insert into activity_interaction values
    (1, 1, 'phone', 'in', 'complaint', '2024-05-01 00:00:00'),
    (2, 1, 'phone', 'out', 'call', '2024-06-21 00:00:00'),
    (3, 2, 'phone', 'out', 'call', '2024-07-05 00:00:00');
insert into customers_customfield values
    (1, 'level', 'choice'), (2, 'level', 'choice'), (3, 'visits', 'integer'),
    (4, 'budget', 'decimal'), (5, 'opted', 'boolean'), (6, 'note', 'text');
insert into customers_customfieldvalue values
    (1, 1, 1, '金卡', null, null, null, null),
    (2, 2, 2, '普通', null, null, null, null),
    (3, 1, 3, null, 12, null, null, null),
    (4, 2, 4, null, null, 2500.5, null, null),
    (5, 1, 5, null, null, null, null, true),
    (6, 2, 5, null, null, null, null, false),
    (7, 1, 6, 'likes oolong', null, null, null, null);
"""


def _connection(backend: str) -> ibis.BaseBackend:
    con = ibis.connect(f"{backend}://")
    for statement in (SCHEMA.format(**TYPES[backend]) + ROWS).split(";"):
        if statement.strip():
            con.raw_sql(statement)
    return con


@pytest.fixture(params=["duckdb", "sqlite"])
def table(request) -> pd.DataFrame:
    config = features.FeatureConfig(as_of=AS_OF, categories=("tea", "cup"))
    expression = features.customer_features(_connection(request.param), config)
    return expression.to_pandas().set_index("customer_id")


def test_only_customers_known_on_the_date(table):
    # 3 was created later, 4 was merged into 1, 5 was archived before the date
    assert table.index.tolist() == [1, 2]


def test_orders_before_the_date_only(table):
    one = table.loc[1]
    assert one["frequency"] == 2
    assert one["monetary"] == pytest.approx(150.0)
    assert one["margin"] == pytest.approx(70.0)
    assert one["average_basket"] == pytest.approx(75.0)
    assert one["recency_days"] == pytest.approx(30.0)
    assert one["channel_store"] == pytest.approx(0.5)
    assert one["channel_online"] == pytest.approx(0.5)
    assert one["channel_phone"] == pytest.approx(0.0)
    assert one["category_tea"] == pytest.approx(130 / 150)
    assert one["category_cup"] == pytest.approx(20 / 150)


def test_interactions_and_demographics(table):
    one, two = table.loc[1], table.loc[2]
    assert one["interactions"] == 2
    assert one["complaints"] == 1
    assert one["days_since_contact"] == pytest.approx(10.0)
    assert one["age"] == 34
    assert one["tenure_days"] == pytest.approx(547.0)
    assert one["region"] == "华东"
    assert one["province"] == "上海"
    assert one["gender"] == "F"
    assert two["region"] == "华北"


def test_customer_without_history_gets_zeros_and_nulls(table):
    two = table.loc[2]
    assert two["frequency"] == 0
    assert two["monetary"] == 0
    assert two["interactions"] == 0  # the July call is after the date
    assert two["complaints"] == 0
    assert pd.isna(two["recency_days"])
    assert pd.isna(two["days_since_contact"])
    assert pd.isna(two["age"])


def test_a_later_date_sees_more():
    con = _connection("duckdb")
    later = features.customer_features(
        con, features.FeatureConfig(as_of="2024-09-01")
    ).to_pandas()
    one = later.set_index("customer_id").loc[1]
    assert one["frequency"] == 3
    assert math.isclose(one["monetary"], 1149.0)


def test_custom_fields_numbers_and_categories():
    fields = pd.DataFrame(
        {
            "key": [
                "level",
                "level",
                "visits",
                "budget",
                "opted",
                "note",
                "mixed",
                "mixed",
            ],
            "field_type": [
                "choice",
                "choice",
                "integer",
                "decimal",
                "boolean",
                "text",
                "integer",
                "choice",
            ],
        }
    )
    found = features.custom_features(fields)
    # text is no model input; a key that is a number for one kind of
    # customer and a choice for another is left out
    assert {(f.key, f.kind) for f in found} == {
        ("budget", "number"),
        ("level", "category"),
        ("opted", "number"),
        ("visits", "number"),
    }


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_custom_fields_in_the_table(backend):
    custom = (
        features.CustomFeature("level", "category"),
        features.CustomFeature("visits", "number"),
        features.CustomFeature("budget", "number"),
        features.CustomFeature("opted", "number"),
    )
    config = features.FeatureConfig(as_of=AS_OF, custom=custom)
    table = features.customer_features(_connection(backend), config).to_pandas()
    rows = table.set_index("customer_id")
    assert rows.loc[1, "custom_level"] == "金卡"
    assert rows.loc[2, "custom_level"] == "普通"
    assert rows.loc[1, "custom_visits"] == 12.0
    assert pd.isna(rows.loc[2, "custom_visits"])
    assert rows.loc[2, "custom_budget"] == pytest.approx(2500.5)
    assert (rows.loc[1, "custom_opted"], rows.loc[2, "custom_opted"]) == (1.0, 0.0)
    assert "custom_note" not in rows
