"""Builders for campaign tests: reachable customers, segments, a campaign
ready to send."""

import datetime as dt
import itertools

from django.utils import timezone

from clientbook.campaigns import services
from clientbook.customers.models import Address, Identifier
from clientbook.privacy.models import Consent
from clientbook.segments.services import segment_create
from clientbook.tests.factories import CustomerFactory, SourceFactory

_numbers = itertools.count(1)
EVERYONE = {"version": 1, "match": "all", "conditions": []}


def identifier(customer, type_: str, value: str) -> Identifier:
    now = timezone.now()
    return Identifier.objects.create(
        customer=customer,
        type=type_,
        value=value,
        source=customer.source,
        first_seen=now,
        last_seen=now,
    )


def consent(customer, channel: str, status: str = "granted", **kwargs) -> Consent:
    return Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=kwargs.get("purpose", "marketing"),
        status=status,
        occurred_at=kwargs.get("at") or timezone.now() - dt.timedelta(days=400),
        source=customer.source,
    )


def reachable(*, branch=None, channels=("email", "sms"), **fields):
    """A customer with an e-mail address, a mobile, a postal address and
    marketing consent granted on `channels`."""
    kwargs = {"source": SourceFactory(code="manual")}
    if branch is not None:
        kwargs["branch"] = branch
    customer = CustomerFactory(**kwargs, **fields)
    n = next(_numbers)
    identifier(customer, "email", f"c{n}@example.com")
    identifier(customer, "mobile", f"+86139{n:08d}")
    Address.objects.create(
        customer=customer,
        province="上海市",
        city="上海市",
        district="黄浦区",
        street=f"南京东路{n}号",
        postcode=f"2000{n % 10:02d}",
        source=customer.source,
    )
    for channel in channels:
        consent(customer, channel)
    return customer


def everyone(actor, name: str = "Everyone"):
    return segment_create(name=name, definition=EVERYONE, actor=actor)


def ready_campaign(actor, *, channel="email", variants=("A",), **settings):
    """A campaign over every live customer, with variants on `channel`,
    selected (which assigns the arms too)."""
    segment = everyone(actor, name=f"Everyone {next(_numbers)}")
    campaign = services.campaign_create(
        name=f"Campaign {next(_numbers)}", actor=actor, **settings
    )
    for code in variants:
        services.variant_add(
            campaign=campaign,
            code=code,
            name=f"Variant {code}",
            channel=channel,
            actor=actor,
            subject="您好 {{ name }}",
            body="{{ name }}，您好！{{ link }} 回T退订",
        )
    services.campaign_select(
        campaign=campaign, actor=actor, selection={"segments": [str(segment.uuid)]}
    )
    return campaign
