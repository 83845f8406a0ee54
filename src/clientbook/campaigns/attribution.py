"""Orders attributed to a campaign: what each member bought within the
response window, treated and control alike, so the evaluation can compare
the arms on orders, revenue and margin.

A member's window starts when the message went out (`sent_at`); for a
member never sent to (the control group, or a treated member still waiting)
it starts when the campaign did: the test stage for the test wave, the
execution for the rest. It lasts `response_window_days`, and never reaches
past `now`. Returns (negative orders) count in the revenue and margin,
net, but not as orders: a member converted when they bought something.

One UPDATE … FROM over an aggregate of the members' orders, on PostgreSQL
and SQLite alike (SQLite ≥ 3.33), so a million members never pass through
Python; rows whose figures do not change are not written, which also makes
a second run cheap.
"""

import datetime as dt

from django.db import connection, transaction
from django.db.models import Count, Min, Q, Sum
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


def _sql(vendor: str) -> str:
    member, order = Member._meta.db_table, Order._meta.db_table
    if vendor == "postgresql":
        end = "o.ordered_at < w.start + make_interval(days => %(days)s)"
        stamp = "timestamptz"
    else:
        end = "julianday(o.ordered_at) < julianday(w.start) + %(days)s"
        stamp = "text"
    # The CASTs give PostgreSQL the type of a parameter that may be NULL.
    return f"""
        WITH w AS (
            SELECT m.id, m.customer_id,
                   COALESCE(m.sent_at, CASE WHEN m.wave = 'test'
                       THEN CAST(%(tested)s AS {stamp})
                       ELSE CAST(%(executed)s AS {stamp}) END) AS start
            FROM {member} m
            WHERE m.campaign_id = %(campaign)s AND m.variant_id IS NOT NULL
        ), a AS (
            SELECT w.id,
                   COUNT(o.id) FILTER (WHERE o.amount > 0) AS orders,
                   ROUND(COALESCE(SUM(o.amount), 0), 2) AS revenue,
                   ROUND(COALESCE(SUM(o.amount - o.cost), 0), 2) AS margin,
                   MIN(o.ordered_at) FILTER (WHERE o.amount > 0) AS converted_at
            FROM w
            LEFT JOIN {order} o
              ON o.customer_id = w.customer_id
             AND o.ordered_at >= w.start
             AND {end}
             AND o.ordered_at < CAST(%(now)s AS {stamp})
            GROUP BY w.id
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
              IS DISTINCT FROM (a.orders, a.revenue, a.margin, a.converted_at)
    """  # noqa: S608 (table names from the models, values as parameters)


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
    params = {
        "campaign": campaign.pk,
        "tested": _param(tested_at),
        "executed": _param(executed_at),
        "now": _param(now),
        "days": int(campaign.response_window_days),
    }
    sql = _sql(connection.vendor)
    if connection.vendor != "postgresql":
        # SQLite spells IS DISTINCT FROM as IS NOT.
        sql = sql.replace("IS DISTINCT FROM", "IS NOT")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        changed = cursor.rowcount
        if connection.vendor == "sqlite":
            # Python's sqlite3 gives no rowcount for a statement led by WITH.
            cursor.execute("SELECT changes()")
            changed = cursor.fetchone()[0]
    counts = Member.objects.filter(campaign=campaign, variant__isnull=False).aggregate(
        members=Count("pk"),
        converted=Count("pk", filter=Q(orders__gt=0)),
        revenue=Sum("revenue"),
    )
    result = {
        "members": counts["members"],
        "converted": counts["converted"],
        "changed": max(changed, 0),
    }
    audit_record(
        actor=actor,
        action="campaign.attribute",
        obj=campaign,
        after={**result, "revenue": str(counts["revenue"] or 0), "at": now.isoformat()},
    )
    return result
