"""Orders attributed to campaign members within the response window."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from clientbook.campaigns.attribution import campaign_attribute
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    Member,
    Stage,
    StageChange,
    Variant,
    Wave,
)
from clientbook.privacy.models import AuditEntry
from clientbook.sales.models import Order
from clientbook.tests.factories import CustomerFactory

UTC = dt.UTC
EXECUTED = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)
_numbers = itertools.count(1)


def _order(customer, at, amount, cost="0", source=None):
    return Order.objects.create(
        number=f"A{next(_numbers):06d}",
        customer=customer,
        ordered_at=at,
        amount=Decimal(amount),
        cost=Decimal(cost),
        source=source or customer.source,
    )


@pytest.fixture
def campaign(db):
    campaign = Campaign.objects.create(
        name="Spring mailing",
        stage=Stage.EXECUTE,
        executed_at=EXECUTED,
        response_window_days=30,
    )
    Variant.objects.create(campaign=campaign, code="a", name="A", channel="email")
    Variant.objects.create(
        campaign=campaign, code="control", name="Control", is_control=True
    )
    return campaign


def _member(campaign, code, **fields):
    return Member.objects.create(
        campaign=campaign,
        customer=CustomerFactory(),
        variant=campaign.variants.get(code=code) if code else None,
        **fields,
    )


def test_treated_member_counts_orders_from_its_send_within_the_window(campaign):
    sent = EXECUTED + dt.timedelta(days=2)
    member = _member(campaign, "a", status=ContactStatus.SENT, sent_at=sent)
    customer = member.customer
    _order(customer, sent - dt.timedelta(hours=1), "999")  # before the send
    first = _order(customer, sent + dt.timedelta(days=1), "100.00", "60.00")
    _order(customer, sent + dt.timedelta(days=5), "250.50", "100.25")
    _order(customer, sent + dt.timedelta(days=6), "-50.00", "-30.00")  # a return
    _order(customer, sent + dt.timedelta(days=30), "777")  # the window is over

    result = campaign_attribute(campaign=campaign, now=NOW)

    member.refresh_from_db()
    assert member.orders == 2
    assert member.revenue == Decimal("300.50")
    assert member.margin == Decimal("170.25")
    assert member.converted_at == first.ordered_at
    assert result == {"members": 1, "converted": 1, "changed": 1}


def test_control_and_unsent_members_count_from_the_execution(campaign):
    control = _member(campaign, "control", status=ContactStatus.HELD_OUT)
    waiting = _member(campaign, "a", status=ContactStatus.PENDING)
    _order(control.customer, EXECUTED - dt.timedelta(days=1), "80")
    _order(control.customer, EXECUTED + dt.timedelta(days=29), "40.10", "10")
    _order(waiting.customer, EXECUTED + dt.timedelta(minutes=1), "12")

    campaign_attribute(campaign=campaign, now=NOW)

    control.refresh_from_db()
    waiting.refresh_from_db()
    assert (control.orders, control.revenue, control.margin) == (
        1,
        Decimal("40.10"),
        Decimal("30.10"),
    )
    assert waiting.orders == 1
    assert waiting.revenue == Decimal("12.00")


def test_test_wave_control_counts_from_the_start_of_the_test(campaign):
    tested = EXECUTED - dt.timedelta(days=20)
    StageChange.objects.create(
        campaign=campaign, from_stage=Stage.PLAN, to_stage=Stage.TEST, at=tested
    )
    test_control = _member(campaign, "control", wave=Wave.TEST)
    rollout_control = _member(campaign, "control", wave=Wave.ROLLOUT)
    for member in (test_control, rollout_control):
        _order(member.customer, tested + dt.timedelta(days=1), "10")

    campaign_attribute(campaign=campaign, now=NOW)

    test_control.refresh_from_db()
    rollout_control.refresh_from_db()
    assert test_control.orders == 1
    assert rollout_control.orders == 0


def test_only_buying_counts_as_converting(campaign):
    member = _member(campaign, "a", sent_at=EXECUTED)
    _order(member.customer, EXECUTED + dt.timedelta(days=1), "-20", "-12")

    campaign_attribute(campaign=campaign, now=NOW)

    member.refresh_from_db()
    assert member.orders == 0
    assert member.converted_at is None
    assert member.revenue == Decimal("-20.00")
    assert member.margin == Decimal("-8.00")


def test_orders_after_now_and_unassigned_members_are_left_out(campaign):
    member = _member(campaign, "a", sent_at=EXECUTED)
    suppressed = _member(campaign, None, suppression="no_consent")
    _order(member.customer, EXECUTED + dt.timedelta(days=3), "10")
    _order(suppressed.customer, EXECUTED + dt.timedelta(days=3), "10")

    now = EXECUTED + dt.timedelta(days=2)
    campaign_attribute(campaign=campaign, now=now)

    member.refresh_from_db()
    suppressed.refresh_from_db()
    assert member.orders == 0
    assert suppressed.orders == 0


def test_before_execution_nothing_is_attributed_to_unsent_members(db):
    campaign = Campaign.objects.create(name="Planned", stage=Stage.PLAN)
    variant = Variant.objects.create(campaign=campaign, code="a", name="A")
    member = Member.objects.create(
        campaign=campaign, customer=CustomerFactory(), variant=variant
    )
    _order(member.customer, NOW - dt.timedelta(days=1), "10")

    assert campaign_attribute(campaign=campaign, now=NOW)["converted"] == 0


def test_running_twice_gives_the_same_figures_and_writes_nothing(campaign):
    members = [
        _member(campaign, "a", sent_at=EXECUTED + dt.timedelta(hours=i))
        for i in range(5)
    ] + [_member(campaign, "control") for _ in range(3)]
    for i, member in enumerate(members):
        for k in range(i % 3):
            _order(
                member.customer,
                EXECUTED + dt.timedelta(days=k + 1, hours=6),
                f"{10 * (k + 1)}.25",
                "4.10",
            )

    first = campaign_attribute(campaign=campaign, now=NOW)
    figures = list(
        Member.objects.order_by("pk").values_list(
            "orders", "revenue", "margin", "converted_at"
        )
    )
    second = campaign_attribute(campaign=campaign, now=NOW)

    assert second["changed"] == 0
    assert first["converted"] == second["converted"] == 5
    assert figures == list(
        Member.objects.order_by("pk").values_list(
            "orders", "revenue", "margin", "converted_at"
        )
    )
    assert AuditEntry.objects.filter(action="campaign.attribute").count() == 2


def test_a_shorter_window_takes_orders_away_again(campaign):
    member = _member(campaign, "a", sent_at=EXECUTED)
    _order(member.customer, EXECUTED + dt.timedelta(days=20), "10")
    campaign_attribute(campaign=campaign, now=NOW)

    campaign.response_window_days = 7
    campaign.save()
    campaign_attribute(campaign=campaign, now=NOW)

    member.refresh_from_db()
    assert (member.orders, member.revenue, member.converted_at) == (
        0,
        Decimal("0.00"),
        None,
    )


def test_an_imported_history_campaign_keeps_its_outcomes(campaign):
    campaign.selection = {"history": {"rows": 1}}
    campaign.save()
    member = _member(campaign, "a", sent_at=EXECUTED, orders=1, revenue=5)

    assert campaign_attribute(campaign=campaign, now=NOW)["changed"] == 0

    member.refresh_from_db()
    assert (member.orders, member.revenue) == (1, Decimal("5.00"))
