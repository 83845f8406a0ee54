"""Small builders for segment tests: orders, consents, scores, quality rows."""

import datetime as dt
import itertools
from decimal import Decimal

from django.utils import timezone

from clientbook.analytics.models import CustomerScore
from clientbook.privacy.models import Consent
from clientbook.quality.models import CustomerQuality
from clientbook.sales.models import Order, OrderLine
from clientbook.tests.factories import ProductFactory

_numbers = itertools.count(1)


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def order(
    customer,
    *,
    days: float,
    amount: str = "100",
    sku: str = "SKU-A",
    category: str = "饮品",
    quantity: str = "1",
    channel: str = "store",
):
    """One order of one line; a negative amount is a return."""
    product = ProductFactory(sku=sku, category=category)
    value = Decimal(amount)
    placed = Order.objects.create(
        number=f"T{next(_numbers):07d}",
        customer=customer,
        branch=customer.branch,
        channel=channel,
        ordered_at=days_ago(days),
        amount=value,
        cost=value / 2,
        source=customer.source,
    )
    OrderLine.objects.create(
        order=placed,
        product=product,
        quantity=Decimal(quantity) * (1 if value >= 0 else -1),
        unit_price=abs(value),
        amount=value,
        cost=value / 2,
    )
    return placed


def consent(
    customer,
    *,
    status: str,
    days: float,
    channel: str = "sms",
    purpose: str = "marketing",
):
    return Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        status=status,
        occurred_at=days_ago(days),
        source=customer.source,
    )


def score(customer, **values):
    return CustomerScore.objects.create(customer=customer, **values)


def quality(customer, grade: int):
    return CustomerQuality.objects.create(
        customer=customer, completeness=0.5, grade=grade, computed_at=timezone.now()
    )
