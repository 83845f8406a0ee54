"""Call lists (派工): balanced assignment to the branch's staff, "My calls"
with masked numbers and the script, outcomes recorded only by whoever has
the call, and "do not call" enforced at the last moment."""

import pytest
from django.urls import reverse
from django.utils import timezone

from clientbook.activity.models import Interaction
from clientbook.campaigns.channels import calls
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import Member, Response
from clientbook.campaigns.tests.test_sending import grant, person, running_campaign
from clientbook.errors import AccessDenied, ValidationFailed
from clientbook.org.models import Role
from clientbook.tests.factories import BranchFactory, staff

CALL = ("P", "phone", "", "您好{{ name }}，我是茶庄的小王，{{ offer }}。")


@pytest.fixture
def clerk2(branch):
    return staff(Role.BRANCH_STAFF, username="clerk2", branch=branch)


def test_calls_are_dealt_evenly_to_the_branch_staff(
    marketer, source, branch, branch_staff, clerk2
):
    manned_by_manager = BranchFactory(code="HZ01", name="杭州店")
    boss = staff(Role.MANAGER, username="hzboss", branch=manned_by_manager)
    empty = BranchFactory(code="NJ01", name="南京店")
    for _i in range(5):
        person(source, branch, consents=["phone"])
    for _i in range(2):
        person(source, manned_by_manager, consents=["phone"])
    person(source, empty, consents=["phone"])
    campaign = running_campaign(marketer, [CALL], offer="新茶试饮")

    result = calls.call_list_assign(campaign=campaign, actor=marketer)

    assert (result["assigned"], result["unassigned"]) == (7, 1)
    loads = sorted(
        Member.objects.filter(customer__branch=branch).values_list(
            "assigned_to__username", flat=True
        )
    )
    assert sorted(loads.count(u) for u in ("clerk", "clerk2")) == [2, 3]
    assert set(
        Member.objects.filter(customer__branch=manned_by_manager).values_list(
            "assigned_to", flat=True
        )
    ) == {boss.pk}

    # when: a new clerk joins and the list is dealt again, only the rest moves
    staff(Role.BRANCH_STAFF, username="clerk3", branch=empty)
    again = calls.call_list_assign(campaign=campaign, actor=marketer)
    assert (again["assigned"], again["unassigned"]) == (1, 0)


def test_branch_staff_may_not_deal_the_calls(marketer, branch_staff, source, branch):
    person(source, branch, consents=["phone"])
    campaign = running_campaign(marketer, [CALL])
    with pytest.raises(AccessDenied):
        calls.call_list_assign(campaign=campaign, actor=branch_staff)


@pytest.fixture
def assigned(marketer, source, branch, branch_staff, clerk2):
    mine = person(source, branch, consents=["phone"], name="张三", mobile="13912345678")
    campaign = running_campaign(marketer, [CALL], offer="新茶试饮")
    Member.objects.filter(campaign=campaign).update(assigned_to=branch_staff)
    return Member.objects.get(customer=mine)


def test_my_calls_shows_own_calls_masked_with_the_script(
    client, assigned, branch_staff, clerk2
):
    client.force_login(branch_staff)
    html = client.get(reverse("campaigns:my_calls")).content.decode()

    assert "张三" in html
    assert "+86139****5678" in html and "13912345678" not in html
    assert "您好张三，我是茶庄的小王，新茶试饮。" in html
    assert reverse("customers:detail", args=[assigned.customer.uuid]) in html
    assert reverse("campaigns:call_outcome", args=[assigned.code]) in html

    client.force_login(clerk2)
    assert "张三" not in client.get(reverse("campaigns:my_calls")).content.decode()


def test_an_appointment_is_contact_response_and_timeline(
    client, assigned, branch_staff
):
    client.force_login(branch_staff)
    client.post(
        reverse("campaigns:call_outcome", args=[assigned.code]),
        {"outcome": "appointment", "note": "周六来店"},
    )

    assigned.refresh_from_db()
    assert (assigned.status, assigned.outcome) == ("sent", "appointment")
    response = Response.objects.get(member=assigned)
    assert (response.kind, response.via, response.recorded_by) == (
        "appointment",
        "call",
        branch_staff,
    )
    call = Interaction.objects.get(customer=assigned.customer, direction="out")
    assert (call.type, call.staff, call.outcome) == (
        "call",
        branch_staff,
        "appointment",
    )
    assert "周六来店" in call.summary


def test_only_the_assignee_or_a_manager_records(assigned, clerk2, manager):
    with pytest.raises(AccessDenied) as caught:
        calls.call_outcome_record(member=assigned, outcome="bought", actor=clerk2)
    assert caught.value.code == "not_yours"
    calls.call_outcome_record(member=assigned, outcome="no-answer", actor=manager)
    assigned.refresh_from_db()
    assert (assigned.status, assigned.outcome) == ("pending", "no-answer")


def test_a_stranger_posting_an_outcome_gets_404(client, assigned, clerk2):
    client.force_login(clerk2)
    answer = client.post(
        reverse("campaigns:call_outcome", args=[assigned.code]), {"outcome": "bought"}
    )
    assert answer.status_code == 404
    assert not Response.objects.exists()


def test_wrong_number_fails_and_bad_outcomes_are_refused(assigned, branch_staff):
    with pytest.raises(ValidationFailed) as caught:
        calls.call_outcome_record(member=assigned, outcome="maybe", actor=branch_staff)
    assert caught.value.field == "outcome"
    calls.call_outcome_record(
        member=assigned, outcome="wrong-number", actor=branch_staff
    )
    assigned.refresh_from_db()
    assert assigned.status == "failed"


def test_declining_contact_withdraws_phone_consent_and_stops_calls(
    client, assigned, branch_staff
):
    calls.call_outcome_record(
        member=assigned, outcome="declined-contact", actor=branch_staff
    )

    latest = assigned.customer.consents.filter(channel="phone").latest(
        "occurred_at", "id"
    )
    assert latest.status == "withdrawn"
    with pytest.raises(ValidationFailed) as caught:
        calls.call_outcome_record(
            member=assigned, outcome="reached-interested", actor=branch_staff
        )
    assert caught.value.code == ErrorCode.DO_NOT_CALL
    client.force_login(branch_staff)
    html = client.get(reverse("campaigns:my_calls")).content.decode()
    assert "do-not-call" in html
    assert reverse("campaigns:call_outcome", args=[assigned.code]) not in html


def test_consent_withdrawn_after_assignment_shows_do_not_call(
    client, assigned, branch_staff
):
    grant(assigned.customer, "phone", status="withdrawn", at=timezone.now())
    client.force_login(branch_staff)

    html = client.get(reverse("campaigns:my_calls")).content.decode()
    client.post(
        reverse("campaigns:call_outcome", args=[assigned.code]), {"outcome": "bought"}
    )

    assert "do-not-call" in html
    assert not Response.objects.exists()
    assert not Interaction.objects.filter(customer=assigned.customer).exists()


def test_progress_per_staff_member(client, marketer, assigned, branch_staff):
    calls.call_outcome_record(member=assigned, outcome="bought", actor=branch_staff)
    progress = calls.progress(assigned.campaign)
    [row] = progress["staff"]
    assert (row["user"], row["assigned"], row["done"], row["positive"]) == (
        branch_staff,
        1,
        1,
        1,
    )
    client.force_login(marketer)
    page = client.get(reverse("campaigns:call_progress", args=[assigned.campaign.uuid]))
    assert page.status_code == 200 and "clerk" in page.content.decode()
    client.force_login(branch_staff)
    page = client.get(reverse("campaigns:call_progress", args=[assigned.campaign.uuid]))
    assert page.status_code == 404
