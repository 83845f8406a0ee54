"""Orders attributed to a campaign: what each member bought within the
response window, treated and control alike, so the evaluation can compare
the arms on orders, revenue and margin.

A member's window starts when the message went out (`sent_at`); for a
member never sent to (the control group, or a treated member still waiting)
it starts when the campaign did: the test stage for the test wave, the
execution for the rest. It lasts `response_window_days`, and never reaches
past `now`. Returns (negative orders) count in the revenue and margin,
net, but not as orders: a member converted when they bought something.

Two set-based statements, on PostgreSQL and SQLite alike (SQLite ≥ 3.33),
so a million members never pass through Python: one UPDATE … FROM over the
members joined to the orders in their window (only the orders of the weeks
the windows cover are read), one that zeroes the few members left with
figures but no order any more. Rows whose figures do not change are not
written, which also makes a second run cheap.
"""

import datetime as dt

from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from clientbook.campaigns.models import Campaign, Member, Stage, StageChange
from clientbook.privacy.services import audit_record
from clientbook.sales.models import Order

HISTORY_KEY = "history"


def is_history(campaign: Campaign) -> bool:
    """True for a past experiment imported with its outcomes
    (`history.campaign_history_import`): its figures came with it."""
    return bool((campaign.selection or {}).get(HISTORY_KEY))


def _starts(campaign: Campaign) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(when the test started, when the execution started)."""
    test = StageChange.objects.filter(campaign=campaign, to_stage=Stage.TEST)
    tested_at = test.aggregate(at=Min("at"))["at"]
    return tested_at or campaign.executed_at, campaign.executed_at


def _window(vendor: str, start: str) -> str:
    """SQL: order `o` falls in the window opening at `start`, within the
    constant bounds."""
    if vendor == "postgresql":
        end = f"o.ordered_at < {start} + make_interval(days => %(days)s)"
    else:
        # SQLite keeps datetimes as text; julianday does the arithmetic.
        end = f"julianday(o.ordered_at) < julianday({start}) + %(days)s"
    stamp = _stamp(vendor)
    return f"""o.ordered_at >= {start} AND {end}
        AND o.ordered_at >= CAST(%(lower)s AS {stamp})
        AND o.ordered_at < CAST(%(upper)s AS {stamp})"""


def _stamp(vendor: str) -> str:
    # The CASTs give PostgreSQL the type of a parameter that may be NULL.
    return "timestamptz" if vendor == "postgresql" else "text"


def _start(vendor: str, m: str) -> str:
    """SQL: when the window of member `m` opens."""
    stamp = _stamp(vendor)
    return f"""COALESCE({m}.sent_at, CASE WHEN {m}.wave = 'test'
        THEN CAST(%(tested)s AS {stamp}) ELSE CAST(%(executed)s AS {stamp}) END)"""


def _reset_sql(vendor: str) -> str:
    """Zeroes the members with figures but no order in their window any
    more (a shorter window, a moved order): few rows, checked one by one."""
    member, order = Member._meta.db_table, Order._meta.db_table
    return f"""
        UPDATE {member} SET orders = 0, revenue = 0, margin = 0, converted_at = NULL
        WHERE campaign_id = %(campaign)s AND variant_id IS NOT NULL
          AND (orders <> 0 OR revenue <> 0 OR margin <> 0
               OR converted_at IS NOT NULL)
          AND NOT EXISTS (
              SELECT 1 FROM {order} o
              WHERE o.customer_id = {member}.customer_id
                AND {_window(vendor, _start(vendor, member))})
    """  # noqa: S608 (table names from the models, values as parameters)


def _set_sql(vendor: str) -> str:
    """Sets the figures of the members with orders in their window: an inner
    join, so only those members are aggregated (not every member sorted)."""
    member, order = Member._meta.db_table, Order._meta.db_table
    distinct = "IS DISTINCT FROM" if vendor == "postgresql" else "IS NOT"
    window = _window(vendor, _start(vendor, "m"))
    return f"""
        WITH a AS (
            SELECT m.id,
                   COUNT(*) FILTER (WHERE o.amount > 0) AS orders,
                   ROUND(SUM(o.amount), 2) AS revenue,
                   ROUND(SUM(o.amount - o.cost), 2) AS margin,
                   MIN(o.ordered_at) FILTER (WHERE o.amount > 0) AS converted_at
            FROM {member} m
            JOIN {order} o
              ON o.customer_id = m.customer_id AND {window}
            WHERE m.campaign_id = %(campaign)s AND m.variant_id IS NOT NULL
            GROUP BY m.id
        )
        UPDATE {member} SET
            orders = a.orders,
            revenue = a.revenue,
            margin = a.margin,
            converted_at = a.converted_at
        FROM a
        WHERE {member}.id = a.id
          AND ({member}.orders, {member}.revenue, {member}.margin,
               {member}.converted_at)
              {distinct} (a.orders, a.revenue, a.margin, a.converted_at)
    """  # noqa: S608 (table names from the models, values as parameters)


def _bounds(campaign, tested_at, executed_at, now) -> tuple:
    """The first and last moment any member's window covers (capped at
    `now`): constant bounds let the database read only the orders of those
    weeks instead of the whole order history."""
    sent = Member.objects.filter(campaign=campaign, variant__isnull=False).aggregate(
        first=Min("sent_at"), last=Max("sent_at")
    )
    starts = [t for t in (sent["first"], sent["last"], tested_at, executed_at) if t]
    if not starts:
        return now, now  # nobody's window has started: no orders
    window = dt.timedelta(days=int(campaign.response_window_days))
    return min(starts), min(max(starts) + window, now)


def _rowcount(cursor) -> int:
    if connection.vendor == "sqlite":
        # Python's sqlite3 gives no rowcount for a statement led by WITH.
        cursor.execute("SELECT changes()")
        return cursor.fetchone()[0]
    return max(cursor.rowcount, 0)


def _param(value: dt.datetime | None):
    # SQLite compares the text Django stores; PostgreSQL takes the datetime.
    return connection.ops.adapt_datetimefield_value(value)


@transaction.atomic
def campaign_attribute(
    *, campaign: Campaign, actor=None, now: dt.datetime | None = None
) -> dict[str, int]:
    """Writes each assigned member's orders, net revenue, margin and first
    purchase within the response window. Idempotent: a second run changes
    nothing unless orders changed. A history campaign keeps the outcomes it
    was imported with. Returns {"members", "converted", "changed"}.
    """
    if is_history(campaign):
        return {"members": 0, "converted": 0, "changed": 0}
    now = now or timezone.now()
    tested_at, executed_at = _starts(campaign)
    lower, upper = _bounds(campaign, tested_at, executed_at, now)
    params = {
        "campaign": campaign.pk,
        "tested": _param(tested_at),
        "executed": _param(executed_at),
        "lower": _param(lower),
        "upper": _param(upper),
        "days": int(campaign.response_window_days),
    }
    changed = 0
    with connection.cursor() as cursor:
        for sql in (_reset_sql(connection.vendor), _set_sql(connection.vendor)):
            cursor.execute(sql, params)
            changed += _rowcount(cursor)
    counts = Member.objects.filter(campaign=campaign, variant__isnull=False).aggregate(
        members=Count("pk"),
        converted=Count("pk", filter=Q(orders__gt=0)),
        revenue=Sum("revenue"),
    )
    result = {
        "members": counts["members"],
        "converted": counts["converted"],
        "changed": changed,
    }
    audit_record(
        actor=actor,
        action="campaign.attribute",
        obj=campaign,
        after={**result, "revenue": str(counts["revenue"] or 0), "at": now.isoformat()},
    )
    return result
