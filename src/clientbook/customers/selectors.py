"""Reads of customers: scoped lists, search, the 360 view's pieces."""

import re
import uuid as uuid_lib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet, Sum

from clientbook.customers import normalise
from clientbook.customers.models import (
    HARD_IDENTIFIER_TYPES,
    Customer,
    Identifier,
    IdentifierType,
)
from clientbook.org.access import scope_by_branch


def customer_list_for_user(
    *, user, include_inactive: bool = False
) -> QuerySet[Customer]:
    """Customers `user` may see: live ones unless `include_inactive`."""
    qs = scope_by_branch(Customer.objects.all(), user)
    if not include_inactive:
        qs = qs.filter(archived_at__isnull=True, merged_into__isnull=True)
    return qs


def customer_get_for_user(*, user, uuid: Any) -> Customer | None:
    """One customer by UUID if `user` may see it (archived and merged included)."""
    try:
        key = uuid_lib.UUID(str(uuid))
    except ValueError:
        return None
    return (
        customer_list_for_user(user=user, include_inactive=True)
        .select_related("branch", "owner", "source", "merged_into")
        .filter(uuid=key)
        .first()
    )


def customer_map_for_user(*, user, uuids: Iterable[str]) -> dict[str, Customer]:
    """{uuid string: customer} for the live customers among `uuids` that `user` sees."""
    keys = set()
    for value in uuids:
        try:
            keys.add(uuid_lib.UUID(str(value)))
        except ValueError:
            continue
    qs = Customer.objects.filter(
        uuid__in=keys, archived_at__isnull=True, merged_into__isnull=True
    )
    if user is not None:
        qs = scope_by_branch(qs, user)
    return {str(c.uuid): c for c in qs}


_DIGITS = re.compile(r"^[\d\s+\-()]+[xX]?$")


def customer_search(
    *, user, query: str, limit: int | None = None
) -> QuerySet[Customer]:
    """Finds customers by name (prefix, pinyin or initials), phone, national ID,
    email, membership or any other identifier.

    Each way of matching runs as its own indexed lookup with a limit, and the
    ids are combined: one query OR-ing them makes PostgreSQL scan every
    customer (measured in bench/: 126 ms p99 at 100k customers, against 6 ms).
    """
    limit = limit or settings.CLIENTBOOK["SEARCH_LIMIT"]
    text = normalise.halfwidth(query or "").strip()
    base = customer_list_for_user(user=user)
    if not text:
        return base.none()
    by_identifier = Identifier.objects.filter(_identifier_matches(text))
    ids = set(by_identifier.values_list("customer_id", flat=True)[: limit * 4])
    if not _DIGITS.match(text):
        pinyin, _initials = normalise.name_keys(text)
        prefixes = [("name", normalise.name(text))]
        if pinyin:
            prefixes += [("name_pinyin", pinyin), ("name_initials", pinyin)]
        for column, prefix in prefixes:
            matches = base.filter(**{f"{column}__startswith": prefix}).order_by(column)
            ids.update(matches.values_list("pk", flat=True)[:limit])
    return (
        base.filter(pk__in=ids).select_related("branch").order_by("name", "id")[:limit]
    )


def _identifier_matches(text: str) -> Q:
    """Identifier lookups the query could be, each in its normalised form."""
    candidates: list[Q] = []
    compact = text.replace(" ", "")
    for type_ in (
        IdentifierType.MOBILE,
        IdentifierType.LANDLINE,
        IdentifierType.NATIONAL_ID,
        IdentifierType.EMAIL,
    ):
        try:
            candidates.append(
                _identifier_is(type_, normalise.identifier(type_, compact))
            )
        except normalise.NormaliseError:
            continue
    # Membership, loyalty, WeChat and external numbers are matched as typed.
    candidates.append(_identifier_is(IdentifierType.MEMBERSHIP, compact))
    candidates.append(
        Q(
            value=compact,
            type__in=[
                IdentifierType.LOYALTY,
                IdentifierType.WECHAT,
                IdentifierType.EXTERNAL,
                IdentifierType.PASSPORT,
            ],
        )
    )
    condition = Q()
    for q in candidates:
        condition |= q
    return condition


def _identifier_is(type_: str, value: str) -> Q:
    """A hard identifier is only indexed by value while live (the unique
    index of its holders): searches find live customers, whose identifiers
    are live."""
    if type_ in HARD_IDENTIFIER_TYPES:
        return Q(type=type_, value=value, is_live=True)
    return Q(type=type_, value=value)


@dataclass
class ValueSummary:
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    order_count: int
    first_purchase: Any
    last_purchase: Any


def customer_value_summary(customer: Customer) -> ValueSummary:
    """Lifetime revenue and margin, net of returns (orders with negative lines)."""
    row = customer.orders.aggregate(
        revenue=Sum("amount"),
        cost=Sum("cost"),
        orders=Count("id", filter=Q(amount__gt=0)),
        first=Min("ordered_at"),
        last=Max("ordered_at", filter=Q(amount__gt=0)),
    )
    revenue = row["revenue"] or Decimal("0.00")
    cost = row["cost"] or Decimal("0.00")
    return ValueSummary(
        revenue=revenue,
        cost=cost,
        margin=revenue - cost,
        order_count=row["orders"],
        first_purchase=row["first"],
        last_purchase=row["last"],
    )


@dataclass
class TimelineEntry:
    kind: str  # "order" or "interaction"
    at: Any
    item: Any


def customer_timeline(customer: Customer, *, limit: int = 100) -> list[TimelineEntry]:
    """Orders and interactions in one list, newest first."""
    orders = (
        customer.orders.select_related("branch")
        .prefetch_related("lines__product")
        .order_by("-ordered_at")[:limit]
    )
    interactions = customer.interactions.select_related("staff").order_by(
        "-occurred_at"
    )[:limit]
    entries = [TimelineEntry("order", o.ordered_at, o) for o in orders]
    entries += [TimelineEntry("interaction", i.occurred_at, i) for i in interactions]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def custom_values_for_display(customer: Customer) -> list[tuple[str, Any]]:
    return [
        (v.field.label, v.value)
        for v in customer.custom_values.select_related("field").order_by(
            "field__position"
        )
    ]
