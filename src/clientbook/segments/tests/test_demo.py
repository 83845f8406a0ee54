"""A realistic smoke test on the demo data: the compiled consent and purchase
conditions agree with the other apps' own per-customer reads."""

import datetime as dt

import pytest
from django.utils import timezone

from clientbook import demo
from clientbook.customers.models import Customer
from clientbook.privacy.selectors import consent_status
from clientbook.segments.compiler import customers_matching, live_customers
from clientbook.segments.language import validate


@pytest.mark.slow
def test_demo_segment_agrees_with_per_customer_reads(db):
    demo.build(customers=300, seed=1)
    definition = validate(
        {
            "conditions": [
                {
                    "field": "consent",
                    "channel": "sms",
                    "purpose": "marketing",
                    "op": "eq",
                    "value": "granted",
                },
                {"field": "bought", "window": {"last_days": 365}},
            ],
        }
    )
    found = set(customers_matching(definition).values_list("pk", flat=True))
    year_ago = timezone.now() - dt.timedelta(days=365)
    expected = {
        c.pk
        for c in live_customers().prefetch_related("orders")
        if consent_status(c, channel="sms", purpose="marketing") == "granted"
        and any(
            o.ordered_at >= year_ago and o.lines.filter(quantity__gt=0).exists()
            for o in c.orders.all()
        )
    }
    assert found == expected
    assert 0 < len(found) < Customer.objects.count()
