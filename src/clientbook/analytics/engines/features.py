"""The per-customer feature table, as Ibis expressions over the operational tables.

One row per customer known on the chosen date, built only from what had
happened before that date: orders and interactions on or after it are left
out, so a model trained on features as of one date can be checked against
what followed without leaking the future (the point-in-time feature tables
of e.g. Kuhn & Johnson 2019, *Feature Engineering and Selection*, ch. 1, and
of every feature store).

Because it is an Ibis expression over an Ibis connection, the same code runs
on the embedded SQLite database, on PostgreSQL, on DuckDB and on any other
Ibis backend, and the work happens in the database, not in Python. Dates are
compared and subtracted as epoch seconds, which every backend supports.

Columns: customer_id, branch_id, region (of the branch), province (of the
customer's first address), gender, income_band, age (whole years), tenure_days
(since the record was created), frequency (orders), monetary (net amount),
margin (amount minus cost), average_basket, recency_days (since the last
order), channel shares (``channel_<name>``: share of orders), category shares
(``category_<name>``: share of line amount), interactions, complaints and
days_since_contact, and the custom fields chosen in ``FeatureConfig.custom``
(``custom_<key>``: whole and decimal numbers and yes/no as numbers, choices as
their text, a category for the models to encode). Customers merged into
another record, archived before the date or created after it are left out.

Custom field values keep no history: the table holds today's value whatever
the date, so a model trained on a past date with them may learn from the
future (the training service leaves them out unless asked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

SECONDS_PER_DAY = 86_400
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY
#: The sales channels of ``sales.SalesChannel``.
SALES_CHANNELS = ("store", "online", "phone", "mail", "partner")


@dataclass(frozen=True)
class FeatureTables:
    """Names of the operational tables (the Django defaults)."""

    customers: str = "customers_customer"
    orders: str = "sales_order"
    order_lines: str = "sales_orderline"
    products: str = "sales_product"
    interactions: str = "activity_interaction"
    branches: str = "org_branch"
    addresses: str = "customers_address"
    custom_fields: str = "customers_customfield"
    custom_values: str = "customers_customfieldvalue"


#: The columns the analytics read from each table (here and in
#: ``analytics/loading.py``), by ``FeatureTables`` field: a copy of the tables
#: into another engine needs only these.
FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id",
        "branch_id",
        "gender",
        "income_band",
        "birth_date",
        "created_at",
        "archived_at",
        "merged_into_id",
    ),
    "orders": ("id", "customer_id", "channel", "ordered_at", "amount", "cost"),
    "order_lines": ("order_id", "product_id", "amount"),
    "products": ("id", "name", "category"),
    "interactions": ("customer_id", "type", "occurred_at"),
    "branches": ("id", "region"),
    "addresses": ("id", "customer_id", "province"),
    "custom_fields": ("id", "key", "field_type"),
    "custom_values": (
        "customer_id",
        "field_id",
        "value_text",
        "value_integer",
        "value_decimal",
        "value_boolean",
    ),
}

#: ``customers.FieldType`` values read as numbers (yes/no as 1/0).
NUMBER_FIELD_TYPES = ("integer", "decimal", "boolean")
#: ``customers.FieldType`` values read as categories (their text).
CATEGORY_FIELD_TYPES = ("choice",)
NUMBER, CATEGORY = "number", "category"


def _kind(field_type: str) -> str | None:
    if field_type in NUMBER_FIELD_TYPES:
        return NUMBER
    return CATEGORY if field_type in CATEGORY_FIELD_TYPES else None


@dataclass(frozen=True)
class CustomFeature:
    """A custom field in the feature table: its key and how it is read."""

    key: str
    kind: str  # NUMBER or CATEGORY

    @property
    def column(self) -> str:
        return f"custom_{self.key}"


def custom_features(fields: pd.DataFrame) -> tuple[CustomFeature, ...]:
    """The custom features for declared fields (columns ``key``, ``field_type``).

    One key may be declared for several kinds of customer; it is kept when
    every declaration reads the same way (all numbers or all choices). Text
    and date fields are left out: free text is no model input, and a date
    would need a point in time it does not have.
    """
    found = []
    for key, types in fields.groupby("key", sort=True)["field_type"]:
        kinds = {_kind(t) for t in types}
        if len(kinds) == 1 and None not in kinds:
            found.append(CustomFeature(str(key), kinds.pop()))
    return tuple(found)


@dataclass(frozen=True)
class FeatureConfig:
    """What to compute: the date, which channels and categories get a share,
    and which custom fields are columns."""

    as_of: pd.Timestamp
    channels: tuple[str, ...] = SALES_CHANNELS
    categories: tuple[str, ...] = ()
    custom: tuple[CustomFeature, ...] = ()
    tables: FeatureTables = FeatureTables()

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", pd.Timestamp(self.as_of))
        if self.as_of.tzinfo is not None:
            # the tables hold naive UTC datetimes (Django with SQLite)
            object.__setattr__(
                self, "as_of", self.as_of.tz_convert("UTC").tz_localize(None)
            )


def _seconds(value: ir.Value) -> ir.NumericValue:
    return value.cast("timestamp").epoch_seconds()


def _order_totals(orders: ir.Table, config: FeatureConfig) -> ir.Table:
    """Per customer: orders, money, last order and orders per channel."""
    seen = orders.filter(orders.ordered_at < config.as_of)
    return seen.group_by(order_customer=seen.customer_id).aggregate(
        frequency=seen.count(),
        monetary=seen.amount.sum().cast("float64"),
        margin=(seen.amount - seen.cost).sum().cast("float64"),
        last_order=_seconds(seen.ordered_at).max(),
        **{
            f"orders_{c}": (seen.channel == c).ifelse(1, 0).sum()
            for c in config.channels
        },
    )


def _category_totals(con: ibis.BaseBackend, config: FeatureConfig) -> ir.Table:
    """Per customer: line amount in total and in each chosen category."""
    tables = config.tables
    orders = con.table(tables.orders)
    orders = orders.filter(orders.ordered_at < config.as_of).select(
        order_ref=orders.id, category_customer=orders.customer_id
    )
    lines = con.table(tables.order_lines)
    lines = lines.select(
        order_ref=lines.order_id,
        product_ref=lines.product_id,
        amount=lines.amount.cast("float64"),
    )
    products = con.table(tables.products)
    products = products.select(product_ref=products.id, category=products.category)
    joined = lines.join(orders, "order_ref").join(products, "product_ref")
    return joined.group_by("category_customer").aggregate(
        line_amount=joined.amount.sum(),
        **{
            f"amount_{c}": (joined.category == c).ifelse(joined.amount, 0.0).sum()
            for c in config.categories
        },
    )


def _interaction_totals(interactions: ir.Table, config: FeatureConfig) -> ir.Table:
    seen = interactions.filter(interactions.occurred_at < config.as_of)
    return seen.group_by(contact_customer=seen.customer_id).aggregate(
        interaction_count=seen.count(),
        complaint_count=(seen.type == "complaint").ifelse(1, 0).sum(),
        last_contact=_seconds(seen.occurred_at).max(),
    )


def _custom_totals(con: ibis.BaseBackend, config: FeatureConfig) -> ir.Table:
    """Per customer: one column per custom feature (a pivot of the values).

    Each customer has at most one value per field; a key declared for two
    kinds of customer matches one of them, so ``max`` picks the value.
    """
    tables = config.tables
    fields = con.table(tables.custom_fields)
    values = con.table(tables.custom_values)
    keys = [f.key for f in config.custom]
    fields = fields.filter(fields.key.isin(keys)).select(
        field_ref=fields.id, key=fields.key
    )
    joined = values.join(fields, values.field_id == fields.field_ref)
    # a CASE, not a cast: PostgreSQL casts a boolean to int4 only
    yes_no = ibis.cases((joined.value_boolean, 1.0), (~joined.value_boolean, 0.0))
    number = ibis.coalesce(
        joined.value_integer.cast("float64"),
        joined.value_decimal.cast("float64"),
        yes_no,
    )
    return joined.group_by(custom_customer=joined.customer_id).aggregate(
        **{
            f.column: ibis.cases(
                (joined.key == f.key, number if f.kind == NUMBER else joined.value_text)
            ).max()
            for f in config.custom
        }
    )


def _first_address(addresses: ir.Table) -> ir.Table:
    """Province of each customer's first address (lowest id)."""
    ranked = addresses.mutate(
        _n=ibis.row_number().over(group_by="customer_id", order_by="id")
    )
    first = ranked.filter(ranked._n == 0)
    return first.select(address_customer=first.customer_id, province=first.province)


def customer_features(
    con: ibis.BaseBackend,
    config: FeatureConfig,
    *,
    customer_ids: Sequence | None = None,
) -> ir.Table:
    """The feature table as an Ibis expression; call ``.to_pandas()`` to run it.

    The per-customer totals are joined to the customers in one flat join and
    derived in one select: SQLite's parser rejects deeply nested subqueries.
    """
    tables = config.tables
    now = ibis.literal(config.as_of).epoch_seconds()
    customers = con.table(tables.customers)
    alive = customers.filter(
        customers.merged_into_id.isnull(),
        customers.created_at < config.as_of,
        customers.archived_at.isnull() | (customers.archived_at >= config.as_of),
    )
    if customer_ids is not None:
        alive = alive.filter(alive.id.isin(list(customer_ids)))
    branches = con.table(tables.branches)
    address = _first_address(con.table(tables.addresses))
    orders = _order_totals(con.table(tables.orders), config)
    contacts = _interaction_totals(con.table(tables.interactions), config)
    joined = (
        alive.left_join(branches, alive.branch_id == branches.id)
        .left_join(address, alive.id == address.address_customer)
        .left_join(orders, alive.id == orders.order_customer)
        .left_join(contacts, alive.id == contacts.contact_customer)
    )
    categories = None
    if config.categories:
        categories = _category_totals(con, config)
        joined = joined.left_join(categories, alive.id == categories.category_customer)
    custom = None
    if config.custom:
        custom = _custom_totals(con, config)
        joined = joined.left_join(custom, alive.id == custom.custom_customer)
    frequency = orders.frequency.fill_null(0)
    columns = {
        "customer_id": alive.id,
        "branch_id": alive.branch_id,
        "region": branches.region,
        "province": address.province,
        "gender": alive.gender,
        "income_band": alive.income_band,
        "age": ((now - _seconds(alive.birth_date)) / SECONDS_PER_YEAR).floor(),
        "tenure_days": (now - _seconds(alive.created_at)) / SECONDS_PER_DAY,
        "frequency": frequency,
        "monetary": orders.monetary.fill_null(0),
        "margin": orders.margin.fill_null(0),
        "average_basket": orders.monetary / orders.frequency.nullif(0),
        "recency_days": (now - orders.last_order) / SECONDS_PER_DAY,
        **{
            f"channel_{c}": orders[f"orders_{c}"].cast("float64")
            / orders.frequency.nullif(0)
            for c in config.channels
        },
        "interactions": contacts.interaction_count.fill_null(0),
        "complaints": contacts.complaint_count.fill_null(0),
        "days_since_contact": (now - contacts.last_contact) / SECONDS_PER_DAY,
    }
    if categories is not None:
        total = categories.line_amount.nullif(0)
        columns |= {
            f"category_{c}": categories[f"amount_{c}"] / total
            for c in config.categories
        }
    if custom is not None:
        columns |= {f.column: custom[f.column] for f in config.custom}
    return joined.select(**columns).order_by("customer_id")
