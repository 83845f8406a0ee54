"""The bulk computation behind `quality_compute`: customers are read in
chunks by primary key, and each chunk costs a fixed handful of queries (its
customers, identifiers, addresses, the last maintenance per customer, its
selections, its usage), whatever its size. Rows are written with one upsert
per chunk. The rules themselves are in `rules.py`."""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Max, Q

from clientbook.activity.models import Interaction
from clientbook.customers.models import Address, Customer, Identifier
from clientbook.privacy.models import AuditEntry
from clientbook.quality import rules
from clientbook.quality.config import QualityConfig
from clientbook.quality.models import CustomerQuality, CustomerSelection, QualityIssue
from clientbook.sales.models import Order

LIVE = Q(archived_at__isnull=True, merged_into__isnull=True)
QUALITY_COLUMNS = [
    "completeness",
    "missing",
    "issue_count",
    "last_maintained_at",
    "selections_recent",
    "selections_total",
    "last_selected_at",
    "has_past_usage",
    "grade",
    "computed_at",
]


@dataclass(frozen=True)
class Clock:
    now: dt.datetime
    today: dt.date
    since: dt.datetime  # start of the grade window


def _profiles(queryset) -> dict[int, dict]:
    columns = ["id", *rules.PROFILE_COLUMNS]
    return {row["id"]: row for row in queryset.values(*columns)}


def _by_customer(rows) -> dict[int, list]:
    grouped: dict[int, list] = defaultdict(list)
    for customer_id, *rest in rows:
        grouped[customer_id].append(rest[0] if len(rest) == 1 else tuple(rest))
    return grouped


def compute_range(
    lo: int, hi: int, *, config: QualityConfig, clock: Clock, profiles=None
) -> int:
    """Recomputes the live customers with lo ≤ id ≤ hi; returns how many."""
    if profiles is None:
        live = Customer.objects.filter(LIVE, id__gte=lo, id__lte=hi)
        profiles = _profiles(live.order_by("id"))
    span = {"customer_id__gte": lo, "customer_id__lte": hi}
    identifiers = _by_customer(
        Identifier.objects.filter(**span).values_list("customer_id", "type", "value")
    )
    addresses = defaultdict(list)
    for row in Address.objects.filter(**span).values("customer_id", "city", "is_valid"):
        addresses[row["customer_id"]].append(row)
    maintained = dict(
        AuditEntry.objects.filter(action__in=config.maintenance_actions, **span)
        .order_by()
        .values("customer_id")
        .annotate(last=Max("at"))
        .values_list("customer_id", "last")
    )
    selections = {
        row[0]: row[1:]
        for row in CustomerSelection.objects.filter(**span)
        .order_by()
        .values("customer_id")
        .annotate(
            recent=Count("id", filter=Q(selected_at__gte=clock.since)),
            total=Count("id"),
            last=Max("selected_at"),
        )
        .values_list("customer_id", "recent", "total", "last")
    }
    used = set(
        Order.objects.filter(**span).values_list("customer_id", flat=True).distinct()
    )
    used.update(
        Interaction.objects.filter(**span)
        .values_list("customer_id", flat=True)
        .distinct()
    )
    rows, issues = [], []
    for customer_id, profile in profiles.items():
        record = rules.Record(
            profile=profile,
            identifiers=identifiers.get(customer_id, []),
            addresses=addresses.get(customer_id, []),
        )
        share, missing = rules.completeness(record, config)
        found = rules.validity_issues(record, config, today=clock.today)
        recent, total, last_selected = selections.get(customer_id, (0, 0, None))
        last_maintained = maintained.get(customer_id)
        rows.append(
            CustomerQuality(
                customer_id=customer_id,
                completeness=round(share, 4),
                missing=missing,
                issue_count=len(found),
                last_maintained_at=last_maintained,
                selections_recent=recent,
                selections_total=total,
                last_selected_at=last_selected,
                has_past_usage=customer_id in used,
                grade=rules.grade(
                    last_maintained_at=last_maintained,
                    selections_recent=recent,
                    has_past_usage=customer_id in used,
                    since=clock.since,
                    config=config,
                ),
                computed_at=clock.now,
            )
        )
        issues.extend(
            QualityIssue(customer_id=customer_id, field=f, code=c) for f, c in found
        )
    with transaction.atomic():
        CustomerQuality.objects.filter(**span).exclude(
            customer_id__in=list(profiles)
        ).delete()
        QualityIssue.objects.filter(**span).delete()
        CustomerQuality.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["customer"],
            update_fields=QUALITY_COLUMNS,
        )
        QualityIssue.objects.bulk_create(issues)
    return len(rows)


def compute_all(
    *,
    config: QualityConfig,
    clock: Clock,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recomputes every live customer, chunk by chunk; returns how many."""
    done, last = 0, 0
    live = Customer.objects.filter(LIVE)
    while True:
        chunk = live.filter(id__gt=last).order_by("id")[: config.chunk_size]
        profiles = _profiles(chunk)
        if not profiles:
            break
        ids = list(profiles)
        # The range runs from just after the last chunk, so rows of customers
        # archived or merged in a gap are dropped too.
        count = compute_range(
            last + 1, ids[-1], config=config, clock=clock, profiles=profiles
        )
        done, last = done + count, ids[-1]
        if progress is not None:
            progress(count)
    with transaction.atomic():
        CustomerQuality.objects.filter(customer_id__gt=last).delete()
        QualityIssue.objects.filter(customer_id__gt=last).delete()
    return done
