"""Hand-built customers for the quality tests."""

import datetime as dt

from django.utils import timezone

from clientbook.customers.models import Customer
from clientbook.customers.services import customer_create
from clientbook.privacy.models import AuditEntry

# 110105 19491231 002 X: born 1949-12-31, female (the 17th digit, 2, is even).
NATIONAL_ID = "11010519491231002X"
NATIONAL_ID_BIRTH = dt.date(1949, 12, 31)


def person(source, branch, *, name="张三", identifiers=(), addresses=(), **profile):
    return customer_create(
        name=name,
        source=source,
        branch=branch,
        identifiers=[{"type": t, "value": v} for t, v in identifiers],
        addresses=list(addresses),
        **profile,
    )


def bare(source, branch, *, name="李四") -> Customer:
    """A record with a name and nothing else."""
    return person(source, branch, name=name, gender="", birth_date=None)


def audit_at(customer, action: str, at: dt.datetime) -> AuditEntry:
    """An audit entry at a given time (auto_now_add ignores the value)."""
    entry = AuditEntry.objects.create(
        action=action,
        entity="customers.customer",
        entity_id=str(customer.pk),
        customer=customer,
    )
    AuditEntry.objects.filter(pk=entry.pk).update(at=at)
    return entry


def days_ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)
