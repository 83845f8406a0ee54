"""Past experiments imported as campaigns with their arms and outcomes."""

import datetime as dt
from decimal import Decimal

import pytest

from clientbook.campaigns.attribution import campaign_attribute
from clientbook.campaigns.evaluation import campaign_report
from clientbook.campaigns.history import campaign_history_import
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    Member,
    Response,
    Stage,
    StageChange,
)
from clientbook.customers.models import Customer, Identifier
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.privacy.models import AuditEntry, Source
from clientbook.tests.factories import CustomerFactory, IdentifierFactory

STARTED = dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC)


def _import(actor, rows, name="Past mailing", **options):
    options = {"control": "Control", "channel": "mail", "started_at": STARTED} | options
    return campaign_history_import(name=name, rows=rows, actor=actor, **options)


def test_import_makes_an_evaluated_campaign_with_members_and_responses(marketer):
    known = CustomerFactory()
    by_phone = IdentifierFactory(type="mobile", value="+8613812345678").customer
    rows = [
        {"customer": str(known.uuid), "arm": "Letter A", "visited": "1",
         "converted": "1", "spend": "199.90", "margin": "80"},
        {"identifier_type": "mobile", "identifier": "138 1234 5678",
         "arm": "Letter A", "visited": "0", "converted": "0"},
        {"external_id": "old-17", "arm": "Control", "visited": "yes",
         "converted": "no", "wave": "test"},
        {"external_id": "old-18", "arm": "Control", "visited": 0, "converted": 0,
         "occurred_at": "2025-09-03 10:00"},
    ]  # fmt: skip

    campaign = _import(marketer, rows)

    assert campaign.stage == Stage.EVALUATE
    assert campaign.executed_at == STARTED
    assert campaign.holdout_share == Decimal("0.500")
    variants = {v.name: v for v in campaign.variants.all()}
    assert variants["Letter A"].code == "letter-a"
    assert variants["Letter A"].channel == "mail"
    assert variants["Control"].is_control
    members = {m.customer_id: m for m in Member.objects.filter(campaign=campaign)}
    first = members[known.pk]
    assert (first.status, first.sent_at, first.responded_at) == (
        ContactStatus.SENT, STARTED, STARTED,
    )  # fmt: skip
    assert (first.orders, first.revenue, first.margin) == (
        1, Decimal("199.90"), Decimal("80.00"),
    )  # fmt: skip
    assert first.converted_at == STARTED
    assert members[by_phone.pk].responded_at is None
    created = Customer.objects.filter(identifiers__value__in=["old-17", "old-18"])
    assert created.count() == 2
    control = members[created.get(identifiers__value="old-17").pk]
    assert (control.status, control.sent_at, control.wave) == (
        ContactStatus.HELD_OUT, None, "test",
    )  # fmt: skip
    responses = Response.objects.filter(member__campaign=campaign)
    assert sorted(responses.values_list("kind", "amount")) == [
        ("purchase", Decimal("199.90")), ("visit", None), ("visit", None),
    ]  # fmt: skip
    assert set(responses.values_list("via", flat=True)) == {"file"}
    assert StageChange.objects.get(campaign=campaign).to_stage == Stage.EVALUATE
    entry = AuditEntry.objects.get(action="campaign.history_import")
    assert entry.after["rows"] == 4 and entry.after["customers_created"] == 2
    source = Source.objects.get(code="campaign-history")
    assert (source.kind, source.legal_basis) == ("manual", "legitimate_interest")
    assert created.first().source == source


def test_the_report_reads_the_imported_outcomes(marketer):
    rows = [
        {"external_id": f"x{i}", "arm": "Mail" if i < 6 else "Control",
         "visited": int(i in (0, 1, 6)), "converted": int(i == 0),
         "spend": "30" if i == 0 else ""}
        for i in range(10)
    ]  # fmt: skip
    campaign = _import(marketer, rows)
    campaign_attribute(campaign=campaign)  # no orders here: leaves them

    arms = {a.label: a for a in campaign_report(campaign).overall.arms}
    assert (arms["Mail"].members, arms["Mail"].responded, arms["Mail"].converted) == (
        6, 2, 1,
    )  # fmt: skip
    assert arms["Mail"].revenue == Decimal("30.00")
    assert arms["Control"].response_rate == pytest.approx(1 / 4)


def test_external_customers_are_found_again_by_a_second_import(marketer):
    _import(marketer, [{"external_id": "e1", "arm": "Control", "visited": 0,
                        "converted": 0}])  # fmt: skip
    customers = Customer.objects.count()
    second = _import(
        marketer,
        [{"external_id": "e1", "arm": "Control", "visited": 1, "converted": 0}],
        name="Again",
    )
    assert Customer.objects.count() == customers
    assert Member.objects.get(campaign=second).customer.identifiers.get().value == "e1"


def test_bad_rows_reject_the_whole_file_naming_row_field_and_value(marketer):
    customers, identifiers = Customer.objects.count(), Identifier.objects.count()
    rows = [
        {"external_id": "ok-1", "arm": "Control", "visited": 0, "converted": 0},
        {"customer": "not-a-uuid", "arm": "A", "visited": 0, "converted": 0},
        {"external_id": "ok-2", "arm": "A", "visited": "maybe", "converted": 0},
        {"external_id": "ok-3", "arm": "A", "visited": 1, "converted": 0,
         "spend": "12"},
        {"external_id": "ok-4", "arm": "", "visited": 1, "converted": 0},
        {"external_id": "ok-5", "arm": "A", "visited": 1, "converted": 1,
         "spend": "abc"},
        {"arm": "A", "visited": 1, "converted": 0},
    ]  # fmt: skip

    with pytest.raises(ValidationFailed) as caught:
        _import(marketer, rows)

    errors = caught.value.details["errors"]
    assert [(e["row"], e["field"], e["value"]) for e in errors] == [
        (2, "customer", "not-a-uuid"),
        (3, "visited", "maybe"),
        (4, "spend", "12"),
        (5, "arm", ""),
        (6, "spend", "abc"),
        (7, "customer", ""),
    ]
    assert caught.value.details["row"] == 2
    assert caught.value.field == "customer"
    assert not Campaign.objects.exists()
    assert (Customer.objects.count(), Identifier.objects.count()) == (
        customers, identifiers,
    )  # fmt: skip


def test_unknown_or_repeated_customers_are_rejected_and_nothing_written(marketer):
    known = CustomerFactory()
    rows = [
        {"customer": str(known.uuid), "arm": "Control", "visited": 0, "converted": 0},
        {"customer": str(known.uuid), "arm": "A", "visited": 0, "converted": 0},
        {"external_id": "new-1", "arm": "A", "visited": 0, "converted": 0},
    ]
    with pytest.raises(ValidationFailed) as caught:
        _import(marketer, rows)
    assert caught.value.details["row"] == 2
    assert not Customer.objects.filter(identifiers__value="new-1").exists()

    unknown = [
        {"identifier_type": "mobile", "identifier": "13900000000", "arm": "Control",
         "visited": 0, "converted": 0},
    ]  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        _import(marketer, unknown)
    assert caught.value.field == "identifier"
    assert not Campaign.objects.exists()


def test_the_control_arm_must_be_in_the_file(marketer):
    with pytest.raises(ValidationFailed) as caught:
        _import(
            marketer,
            [{"external_id": "z", "arm": "A", "visited": 0, "converted": 0}],
        )
    assert caught.value.value == "Control"


def test_name_taken_channel_unknown_and_read_only_roles(marketer, auditor):
    row = {"external_id": "n", "arm": "Control", "visited": 0, "converted": 0}
    _import(marketer, [row])
    with pytest.raises(Conflict):
        _import(marketer, [row])
    with pytest.raises(ValidationFailed):
        _import(marketer, [row], name="Other", channel="pigeon")
    with pytest.raises(AccessDenied):
        _import(auditor, [row], name="Third")
