import datetime as dt
from collections import Counter

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from clientbook.activity.models import Interaction
from clientbook.analytics.models import CustomerScore
from clientbook.campaigns import services
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    Member,
    Response,
    StageChange,
    Suppression,
    Wave,
)
from clientbook.campaigns.tests.helpers import (
    consent,
    everyone,
    reachable,
    ready_campaign,
)
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.identity.services import customer_merge
from clientbook.privacy.models import AuditEntry, Consent
from clientbook.quality.models import CustomerSelection
from clientbook.segments.models import SegmentKind
from clientbook.segments.services import segment_create
from clientbook.tests.factories import BranchFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def test_create_validates_and_records_the_first_stage(marketer):
    campaign = services.campaign_create(
        name="  春季  新茶 ", actor=marketer, holdout_share="0.2", cost_per_contact=1
    )
    assert campaign.name == "春季 新茶" and campaign.stage == "idea"
    assert campaign.owner == marketer and campaign.stratify_by == ["branch"]
    assert StageChange.objects.get(campaign=campaign).to_stage == "idea"
    assert AuditEntry.objects.filter(action="campaign.create").count() == 1
    with pytest.raises(Conflict):
        services.campaign_create(name="春季 新茶", actor=marketer)
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_create(name="X", actor=marketer, holdout_share="1.5")
    assert caught.value.field == "holdout_share" and caught.value.value == "1.5"
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_create(name="X", actor=marketer, stratify_by=["shoe"])
    assert caught.value.field == "stratify_by"


def test_branch_staff_and_auditors_may_not_run_campaigns(branch_staff, auditor):
    for actor in (branch_staff, auditor):
        with pytest.raises(AccessDenied):
            services.campaign_create(name="X", actor=actor)
    assert not Campaign.objects.exists()


def test_select_needs_a_variant_and_a_selection(marketer):
    segment = everyone(marketer)
    campaign = services.campaign_create(name="C", actor=marketer)
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_select(
            campaign=campaign,
            actor=marketer,
            selection={"segments": [str(segment.uuid)]},
        )
    assert caught.value.code == ErrorCode.NO_VARIANT
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_select(
            campaign=campaign, actor=marketer, selection={"segments": ["nope"]}
        )
    assert caught.value.code == ErrorCode.UNKNOWN_SEGMENT
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_update(
            campaign=campaign,
            actor=marketer,
            selection={"score": {"field": "clv", "top_n": 10, "min": 3}},
        )
    assert caught.value.field == "selection.score"


def test_suppression_counts_every_reason_once(marketer, branch):
    ok = reachable(branch=branch)
    no_consent = reachable(branch=branch, channels=())
    withdrawn = reachable(branch=branch)
    consent(withdrawn, "email", "withdrawn", at=timezone.now())
    service_only = reachable(branch=branch, channels=())
    consent(service_only, "email", purpose="service")
    sms_only = reachable(branch=branch, channels=("sms",))
    no_email = CustomerFactory(branch=branch)
    consent(no_email, "email")
    listed = reachable(branch=branch)
    services.do_not_contact_add(actor=marketer, customer=listed, reason="asked")
    listed_number = reachable(branch=branch)
    email = listed_number.identifiers.get(type="email").value
    services.do_not_contact_add(actor=marketer, value=email.upper(), channel="email")
    lifted = reachable(branch=branch)
    entry = services.do_not_contact_add(actor=marketer, customer=lifted)
    services.do_not_contact_add(actor=marketer, customer=ok, channel="sms")
    services.do_not_contact_lift(entry=entry, actor=marketer)
    recent = reachable(branch=branch)
    Interaction.objects.create(
        customer=recent,
        channel="phone",
        direction="out",
        type="call",
        occurred_at=timezone.now() - dt.timedelta(days=3),
        source=recent.source,
    )
    old_contact = reachable(branch=branch)
    Interaction.objects.create(
        customer=old_contact,
        channel="phone",
        direction="out",
        type="call",
        occurred_at=timezone.now() - dt.timedelta(days=60),
        source=old_contact.source,
    )
    campaign = ready_campaign(marketer, channel="email")
    counts = campaign.selection_counts
    reasons = dict(
        Member.objects.filter(campaign=campaign).values_list(
            "customer_id", "suppression"
        )
    )
    assert reasons == {
        ok.pk: "",
        lifted.pk: "",
        old_contact.pk: "",
        no_consent.pk: Suppression.NO_CONSENT,
        withdrawn.pk: Suppression.NO_CONSENT,
        service_only.pk: Suppression.NO_CONSENT,
        sms_only.pk: Suppression.NO_CONSENT,
        no_email.pk: Suppression.NO_ADDRESS,
        listed.pk: Suppression.DO_NOT_CONTACT,
        listed_number.pk: Suppression.DO_NOT_CONTACT,
        recent.pk: Suppression.RECENTLY_CONTACTED,
    }
    assert counts["matched"] == 11 and counts["eligible"] == 3
    assert counts["no_consent"] == 4 and counts["do_not_contact"] == 2
    assert counts["no_address"] == 1 and counts["recent"] == 1
    logged = set(CustomerSelection.objects.values_list("customer_id", flat=True))
    assert logged == {ok.pk, lifted.pk, old_contact.pk}


def test_two_segments_count_duplicates_and_static_members_since_archived(marketer):
    people = [reachable() for _ in range(4)]
    women = segment_create(
        name="Static all",
        definition={"version": 1, "conditions": []},
        kind=SegmentKind.STATIC,
        actor=marketer,
    )
    dynamic = everyone(marketer)
    people[0].archived_at = timezone.now()
    people[0].save()
    campaign = services.campaign_create(name="C", actor=marketer, holdout_share=0)
    services.variant_add(
        campaign=campaign,
        code="A",
        name="A",
        channel="sms",
        actor=marketer,
        body="hi 回T退订",
    )
    counts = services.campaign_select(
        campaign=campaign,
        actor=marketer,
        selection={"segments": [str(women.uuid), str(dynamic.uuid)]},
    )
    # Both segments list live customers only; the second finds the same
    # three again.
    assert counts["matched"] == 6 and counts["duplicate"] == 3
    assert counts["not_live"] == 0 and counts["eligible"] == 3
    assert Member.objects.filter(campaign=campaign).count() == 3
    assert set(Member.objects.values_list("segment", flat=True)) == {women.pk}


def test_score_selects_the_top_and_writes_the_score(marketer):
    people = [reachable() for _ in range(10)]
    for i, person in enumerate(people):
        CustomerScore.objects.create(customer=person, response_score=i / 10)
    reachable()  # no score: never selected by score
    campaign = services.campaign_create(name="C", actor=marketer, holdout_share=0)
    services.variant_add(
        campaign=campaign,
        code="A",
        name="A",
        channel="email",
        actor=marketer,
        subject="新茶",
        body="{{ name }} {{ link }}",
    )
    for score, expected in (
        ({"field": "response_score", "top_n": 3}, people[7:]),
        ({"field": "response_score", "top_share": 0.2}, people[8:]),
        ({"field": "response_score", "min": 0.55}, people[6:]),
    ):
        counts = services.campaign_select(
            campaign=campaign, actor=marketer, selection={"score": score}
        )
        members = Member.objects.filter(campaign=campaign)
        assert {m.customer_id for m in members} == {p.pk for p in expected}
        assert counts["matched"] == len(expected)
        assert all(m.score is not None for m in members)


def test_assignment_is_stratified_seeded_and_reproducible(marketer):
    north, south = BranchFactory(code="N"), BranchFactory(code="S")
    for i in range(300):
        reachable(branch=north if i % 3 else south)
    campaign = ready_campaign(
        marketer, variants=("A", "B"), holdout_share="0.1", seed=42
    )
    # The selection drew the arms as it wrote the members; assigning again
    # (from the member table) draws the same ones.
    assert campaign.assigned_at
    drawn = dict(Member.objects.values_list("customer_id", "variant__code"))
    counts = services.campaign_assign(campaign=campaign, actor=marketer)
    assert counts == {"control": 30, "A": 135, "B": 135}
    first = dict(Member.objects.values_list("customer_id", "variant__code"))
    assert first == drawn
    codes = set(Member.objects.values_list("code", flat=True))
    assert len(codes) == 300 and None not in codes
    by_branch = Counter(
        Member.objects.values_list("customer__branch__code", "variant__code")
    )
    # Each branch's arms are in proportion to within one block.
    assert abs(by_branch["S", "control"] - 10) <= 2
    assert abs(by_branch["N", "control"] - 20) <= 2
    services.campaign_assign(campaign=campaign, actor=marketer)
    assert dict(Member.objects.values_list("customer_id", "variant__code")) == first
    services.campaign_update(campaign=campaign, actor=marketer, seed=43)
    services.campaign_assign(campaign=campaign, actor=marketer)
    assert dict(Member.objects.values_list("customer_id", "variant__code")) != first


def test_a_response_code_already_taken_is_drawn_again(marketer, monkeypatch):
    """Codes are random and unique across campaigns: a clash with another
    campaign's member (rare, but certain over enough campaigns) must not
    fail the selection."""
    for _ in range(5):
        reachable()
    taken = ready_campaign(marketer)
    code = Member.objects.filter(campaign=taken).values_list("code", flat=True)[0]
    draws = []
    real = services._codes

    def clashing_first(n):
        draws.append(n)
        return [code] * n if len(draws) == 1 else real(n)

    monkeypatch.setattr(services, "_codes", clashing_first)
    campaign = ready_campaign(marketer)
    codes = list(
        Member.objects.filter(campaign=campaign).values_list("code", flat=True)
    )
    assert len(draws) == 2 and len(set(codes)) == 5 and code not in codes


def test_test_stage_then_rollout_of_the_winner(marketer):
    for _ in range(200):
        reachable()
    campaign = ready_campaign(
        marketer, variants=("A", "B"), holdout_share="0.1", test_share="0.2"
    )
    services.campaign_assign(campaign=campaign, actor=marketer)
    members = Member.objects.filter(campaign=campaign)
    assert members.filter(wave=Wave.TEST).count() == 40
    waiting = members.filter(wave=Wave.ROLLOUT, variant__isnull=True)
    assert waiting.count() == 144  # 160 in the roll-out, 16 held out
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_stage_set(campaign=campaign, to="execute", actor=marketer)
    assert caught.value.code == ErrorCode.INVALID_STAGE  # idea → execute
    services.campaign_stage_set(campaign=campaign, to="plan", actor=marketer)
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_stage_set(campaign=campaign, to="execute", actor=marketer)
    assert caught.value.code == ErrorCode.NO_WINNER
    services.campaign_stage_set(campaign=campaign, to="test", actor=marketer)
    held = members.filter(variant__is_control=True)
    assert set(held.values_list("status", flat=True)) == {ContactStatus.HELD_OUT}
    with pytest.raises(ValidationFailed) as caught:
        services.campaign_assign(campaign=campaign, actor=marketer)
    assert caught.value.code == ErrorCode.FROZEN
    with pytest.raises(ValidationFailed):
        services.variant_add(
            campaign=campaign,
            code="C",
            name="C",
            channel="email",
            actor=marketer,
            subject="C",
            body="C",
        )
    b = campaign.variants.get(code="B")
    services.campaign_rollout(campaign=campaign, winner=b, actor=marketer)
    campaign.refresh_from_db()
    assert campaign.stage == "execute" and campaign.executed_at
    assert not waiting.exists()
    rollout = members.filter(wave=Wave.ROLLOUT, variant__is_control=False)
    assert set(rollout.values_list("variant__code", flat=True)) == {"B"}
    assert list(
        StageChange.objects.filter(campaign=campaign).values_list("to_stage", flat=True)
    ) == ["idea", "plan", "test", "execute"]


def test_responses_are_idempotent_and_on_the_timeline(marketer):
    person = reachable()
    campaign = ready_campaign(marketer, holdout_share=0)
    services.campaign_assign(campaign=campaign, actor=marketer)
    member = Member.objects.get(campaign=campaign)
    at = timezone.now() - dt.timedelta(hours=2)
    response, created = services.response_record(
        member=member, kind="click", via="link", occurred_at=at
    )
    again, created_again = services.response_record(
        member=member, kind="click", via="link", occurred_at=at
    )
    assert created and not created_again and again == response
    member.refresh_from_db()
    assert member.responded_at == at
    inbound = Interaction.objects.filter(customer=person, direction="in")
    assert inbound.count() == 1 and campaign.name in inbound.get().summary
    services.response_record(member=member, kind="unsubscribe", via="link")
    latest = Consent.objects.filter(customer=person, channel="email").latest(
        "occurred_at", "id"
    )
    assert latest.status == "withdrawn"
    # Selecting again (still open) replaces the members and their codes.
    services.campaign_select(campaign=campaign, actor=marketer)
    assert not Response.objects.exists()
    assert Member.objects.get(campaign=campaign).suppression == "no_consent"


def test_responses_import_reports_bad_rows_and_keeps_good_ones(marketer):
    reachable()
    reachable()
    campaign = ready_campaign(marketer, holdout_share=0)
    services.campaign_assign(campaign=campaign, actor=marketer)
    codes = list(Member.objects.values_list("code", flat=True))
    result = services.responses_import(
        campaign=campaign,
        actor=marketer,
        rows=[
            {
                "code": codes[0].lower(),
                "kind": "purchase",
                "amount": "88.50",
                "occurred_at": "2026-11-01",
            },
            {"code": "NOPE", "kind": "click"},
            {"code": codes[1], "kind": "dance"},
            {"code": codes[1], "kind": "visit", "amount": "lots"},
        ],
    )
    assert result["created"] == 1
    assert [(r["row"], r["field"], r["value"]) for r in result["rejected"]] == [
        (2, "code", "NOPE"),
        (3, "kind", "dance"),
        (4, "amount", "lots"),
    ]
    again = services.responses_import(
        campaign=campaign,
        actor=marketer,
        rows=[{"code": codes[0], "kind": "purchase", "occurred_at": "2026-11-01"}],
    )
    assert again["created"] == 0 and again["unchanged"] == 1
    assert Response.objects.count() == 1


def test_a_merge_moves_the_membership_and_keeps_do_not_contact(marketer, admin_user):
    survivor, duplicate = reachable(), reachable()
    campaign = ready_campaign(marketer, holdout_share=0)
    services.do_not_contact_add(actor=marketer, customer=duplicate)
    Member.objects.filter(customer=duplicate).update(suppression="")
    customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    member_customers = set(
        Member.objects.filter(campaign=campaign).values_list("customer_id", flat=True)
    )
    assert member_customers == {survivor.pk} or len(member_customers) == 2
    services.campaign_select(campaign=campaign, actor=marketer)
    reasons = dict(
        Member.objects.filter(campaign=campaign).values_list(
            "customer_id", "suppression"
        )
    )
    assert reasons == {survivor.pk: Suppression.DO_NOT_CONTACT}


def test_a_segment_can_select_by_campaign_arm_and_response(marketer):
    from clientbook.segments.compiler import customers_matching

    people = [reachable() for _ in range(20)]
    campaign = ready_campaign(marketer, holdout_share="0.25")
    services.campaign_assign(campaign=campaign, actor=marketer)
    member = Member.objects.filter(campaign=campaign, variant__code="A").first()
    services.response_record(member=member, kind="visit", via="ui")

    def matching(**params):
        condition = {"field": "campaign", "op": "exists", **params}
        definition = {"version": 1, "conditions": [condition]}
        return set(customers_matching(definition).values_list("pk", flat=True))

    assert matching(campaign=campaign.name) == {p.pk for p in people}
    assert len(matching(campaign=str(campaign.uuid), arm="control")) == 5
    assert len(matching(campaign=campaign.name, arm="treated")) == 15
    assert matching(campaign=campaign.name, responded=True) == {member.customer_id}
    assert len(matching(campaign=campaign.name, arm="A", responded=False)) == 14
    assert matching(campaign="no such campaign") == set()


def test_a_database_error_in_a_selection_is_reported_as_itself(marketer, monkeypatch):
    """The staging table is not dropped in a `finally`: on PostgreSQL that
    would run in the aborted transaction and hide the real error."""
    reachable()

    def broken(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM campaign_stage")

    monkeypatch.setattr(services, "members_stage", broken)
    with pytest.raises(DatabaseError, match="no_such_column"):
        ready_campaign(marketer)
