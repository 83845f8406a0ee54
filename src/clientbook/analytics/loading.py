"""Data frames the services hand to the engines, read through Ibis.

Every read is an Ibis expression run in the database (SQLite, PostgreSQL or
DuckDB); only per-customer or per-day aggregates travel to Python (from
PostgreSQL through COPY, see ``connection.fetch_frame``). Dates are
naive UTC, as the engines expect; ``as_of`` is exclusive: what happened on
that day and later is not seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import pandas as pd

from clientbook.analytics.connection import fetch_frame
from clientbook.analytics.engines import features as feature_engine
from clientbook.analytics.engines.features import FeatureTables

TABLES = FeatureTables()


def _timestamp(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day)


def custom_features(con: ibis.BaseBackend) -> tuple[feature_engine.CustomFeature, ...]:
    """The declared custom fields the feature table can hold."""
    fields = con.table(TABLES.custom_fields).select("key", "field_type")
    return feature_engine.custom_features(fields.to_pandas())


def feature_frame(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    categories: Sequence[str] = (),
    custom: bool = True,
) -> pd.DataFrame:
    """The per-customer feature table as of ``as_of``, indexed by customer id.

    ``custom``: with the custom fields' columns (``custom_<key>``).
    """
    config = feature_engine.FeatureConfig(
        as_of=_timestamp(as_of),
        categories=tuple(categories),
        custom=custom_features(con) if custom else (),
    )
    frame = fetch_frame(con, feature_engine.customer_features(con, config))
    return frame.set_index("customer_id")


def _known_customers(con: ibis.BaseBackend, as_of: dt.date):
    """Ids of the customers the feature table includes as of ``as_of``."""
    customers = con.table(TABLES.customers)
    moment = _timestamp(as_of)
    known = customers.filter(
        customers.merged_into_id.isnull(),
        customers.created_at < moment,
        customers.archived_at.isnull() | (customers.archived_at >= moment),
    )
    return known.select(live_id=known.id)


def _daily(con: ibis.BaseBackend, *, before: dt.date, since: dt.date | None = None):
    """Ibis expression: customer_id, day, amount (net) per customer and day."""
    orders = con.table(TABLES.orders)
    live = _known_customers(con, before)
    seen = orders.filter(orders.ordered_at < _timestamp(before))
    if since is not None:
        seen = seen.filter(seen.ordered_at >= _timestamp(since))
    seen = seen.join(live, seen.customer_id == live.live_id)
    return seen.group_by(
        customer_id=seen.customer_id, day=seen.ordered_at.cast("timestamp").date()
    ).aggregate(amount=seen.amount.cast("float64").sum())


def daily_purchases(
    con: ibis.BaseBackend, *, before: dt.date, since: dt.date | None = None
) -> pd.DataFrame:
    """One row per customer and purchase day: net amount of that day's orders.

    Only customers the feature table knows on that date count (not merged,
    created before it, not archived before it). Columns: customer_id,
    day (datetime), amount (float).
    """
    frame = fetch_frame(con, _daily(con, before=before, since=since))
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def _day_seconds(day) -> ibis.expr.types.NumericValue:
    return day.cast("timestamp").epoch_seconds()


def _summary(daily, end: dt.date, unit_days: float):
    """Ibis expression of ``clv.summary_from_transactions`` over ``daily``.

    The first day's amount is picked with a window, not a join of ``daily``
    to its own aggregate, which PostgreSQL would compute twice.
    """
    seen = daily.filter(daily.day <= end)
    seen = seen.mutate(first=seen.day.min().over(group_by=seen.customer_id))
    per = seen.group_by("customer_id").aggregate(
        first=seen.first.min(),
        last=seen.day.max(),
        days=seen.count(),
        repeat_amount=(seen.day == seen.first).ifelse(0.0, seen.amount).sum(),
    )
    frequency = per.days - 1
    unit = unit_days * 86_400
    return per.select(
        customer_id=per.customer_id,
        frequency=frequency,
        recency=(_day_seconds(per.last) - _day_seconds(per.first)) / unit,
        T=(_day_seconds(ibis.literal(end)) - _day_seconds(per.first)) / unit,
        monetary_value=(frequency > 0).ifelse(
            per.repeat_amount / frequency.nullif(0), 0.0
        ),
    )


def clv_summary(
    con: ibis.BaseBackend,
    *,
    before: dt.date,
    holdout_days: int | None = None,
    unit_days: float = 7.0,
) -> pd.DataFrame:
    """The BG/NBD summary of the purchase days before ``before``, in the database.

    The same frame as ``clv.summary_from_transactions`` over
    :func:`daily_purchases` observed to the day before ``before`` (and, with
    ``holdout_days``, as ``clv.calibration_holdout_summary`` with the
    calibration ending that many days earlier), but only one row per customer
    leaves the database instead of one per purchase day.
    """
    if holdout_days is not None and holdout_days < 1:
        raise ValueError("holdout_days must be at least 1")
    daily = _daily(con, before=before)
    end = before - dt.timedelta(days=1)
    calibration_end = end - dt.timedelta(days=holdout_days or 0)
    summary = _summary(daily, calibration_end, unit_days)
    if holdout_days:
        summary = _with_holdout(summary, daily, calibration_end, end)
    frame = fetch_frame(con, summary.order_by("customer_id")).set_index("customer_id")
    frame["frequency"] = frame["frequency"].astype("int64")
    if holdout_days:
        frame["frequency_holdout"] = frame["frequency_holdout"].astype("int64")
        frame["duration_holdout"] = holdout_days / unit_days
    return frame


def _with_holdout(summary, daily, calibration_end: dt.date, end: dt.date):
    """Purchase days and their mean amount after the calibration period."""
    later = daily.filter(daily.day > calibration_end, daily.day <= end)
    holdout = later.group_by(holdout_customer=later.customer_id).aggregate(
        frequency_holdout=later.count(), monetary_value_holdout=later.amount.mean()
    )
    joined = summary.left_join(holdout, summary.customer_id == holdout.holdout_customer)
    return joined.select(
        *summary.columns,
        frequency_holdout=joined.frequency_holdout.fill_null(0),
        monetary_value_holdout=joined.monetary_value_holdout.fill_null(0.0),
    )


def purchased_items(
    con: ibis.BaseBackend,
    *,
    before: dt.date,
    since: dt.date | None = None,
    level: str = "category",
) -> pd.DataFrame:
    """Distinct (customer, order, item) rows of orders in [since, before).

    ``level`` is ``category`` (the product's category) or ``product`` (its
    name). Lines with a negative amount (returns) are not purchases.
    """
    orders = con.table(TABLES.orders)
    lines = con.table(TABLES.order_lines)
    products = con.table(TABLES.products)
    seen = orders.filter(orders.ordered_at < _timestamp(before))
    if since is not None:
        seen = seen.filter(seen.ordered_at >= _timestamp(since))
    seen = seen.select(order_ref=seen.id, customer_id=seen.customer_id)
    lines = lines.filter(lines.amount > 0).select(
        order_ref=lines.order_id, product_ref=lines.product_id
    )
    item = products.category if level == "category" else products.name
    products = products.select(product_ref=products.id, item=item)
    joined = lines.join(seen, "order_ref").join(products, "product_ref")
    items = joined.select(
        customer_id=joined.customer_id, order_id=joined.order_ref, item=joined.item
    )
    return fetch_frame(con, items.distinct())


def item_buyers(
    con: ibis.BaseBackend, *, before: dt.date, item: str, level: str = "category"
) -> set[int]:
    """Customers who bought ``item`` (a category or a product name) before the date.

    A line with a negative amount (a return) is not a purchase.
    """
    orders = con.table(TABLES.orders)
    lines = con.table(TABLES.order_lines)
    products = con.table(TABLES.products)
    column = products.category if level == "category" else products.name
    products = products.filter(column == item).select(product_ref=products.id)
    seen = orders.filter(orders.ordered_at < _timestamp(before)).select(
        order_ref=orders.id, customer_id=orders.customer_id
    )
    lines = lines.filter(lines.amount > 0).select(
        order_ref=lines.order_id, product_ref=lines.product_id
    )
    joined = lines.join(products, "product_ref").join(seen, "order_ref")
    found = fetch_frame(con, joined.select("customer_id").distinct())
    return set(found["customer_id"].tolist())


def buyers_between(
    con: ibis.BaseBackend,
    *,
    since: dt.date,
    before: dt.date,
    category: str = "",
) -> set[int]:
    """Customers with an order (of ``category``, when given) in [since, before)."""
    if category:
        items = purchased_items(con, since=since, before=before)
        return set(items.loc[items["item"] == category, "customer_id"].tolist())
    orders = con.table(TABLES.orders)
    window = orders.filter(
        orders.ordered_at >= _timestamp(since), orders.ordered_at < _timestamp(before)
    )
    found = window.select(customer_id=window.customer_id).distinct().to_pandas()
    return set(found["customer_id"].tolist())


def categories(con: ibis.BaseBackend, limit: int = 20) -> list[str]:
    """The product categories, most sold first (at most ``limit``)."""
    products = con.table(TABLES.products)
    lines = con.table(TABLES.order_lines)
    joined = lines.join(products, lines.product_id == products.id)
    top = (
        joined.group_by(category=joined.category)
        .aggregate(amount=joined.amount.cast("float64").sum())
        .order_by(ibis.desc("amount"))
        .limit(limit)
        .to_pandas()
    )
    return [str(c) for c in top["category"] if c]
