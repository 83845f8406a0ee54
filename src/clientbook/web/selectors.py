"""Reads for the home page, each scoped to the branches the user may see."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from clientbook.activity.models import Interaction
from clientbook.customers.selectors import customer_list_for_user
from clientbook.org.access import scope_by_branch
from clientbook.sales.models import Order


@dataclass
class Overview:
    live_customers: int
    orders_this_month: int
    revenue_this_month: Decimal


def home_overview(*, user) -> Overview:
    """Counts for the home page; the month starts at local midnight on the 1st."""
    today = timezone.localdate()
    month_start = timezone.make_aware(dt.datetime(today.year, today.month, 1))
    orders = scope_by_branch(
        Order.objects.filter(ordered_at__gte=month_start),
        user,
        field="customer__branch",
    ).aggregate(count=Count("id", filter=Q(amount__gt=0)), revenue=Sum("amount"))
    return Overview(
        live_customers=customer_list_for_user(user=user).count(),
        orders_this_month=orders["count"],
        revenue_this_month=orders["revenue"] or Decimal("0.00"),
    )


def recent_interactions(*, user, limit: int = 10) -> QuerySet[Interaction]:
    return scope_by_branch(
        Interaction.objects.select_related("customer", "staff"),
        user,
        field="customer__branch",
    ).order_by("-occurred_at", "-id")[:limit]
