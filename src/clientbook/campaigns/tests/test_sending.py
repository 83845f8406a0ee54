"""Sending e-mails and SMS in the background job: at most once per member,
resumable after a kill, consent checked again right before each batch.

The builders at the top are shared by the other channel tests."""

import contextlib
import itertools
import json
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone

from clientbook.activity.models import Interaction
from clientbook.campaigns import sending
from clientbook.campaigns.channels import sms
from clientbook.campaigns.models import Dispatch, Member
from clientbook.campaigns.services import (
    campaign_assign,
    campaign_create,
    campaign_select,
    campaign_stage_set,
    variant_add,
)
from clientbook.customers.services import customer_create
from clientbook.privacy.models import Consent
from clientbook.segments.services import segment_create

_serial = itertools.count(1)
EVERYONE = {"version": 1, "match": "all", "conditions": []}
SMS_BODY = "{{ name }}您好，春茶八折，凭码{{ code }}到店领取。回T退订"


# Builders ---------------------------------------------------------------------


def person(source, branch, *, consents=("email", "sms"), purpose="marketing", **kw):
    """A customer with a mobile, an e-mail address and a postal address,
    granted marketing consent for `consents` (override any with None)."""
    n = next(_serial)
    identifiers = []
    if kw.get("mobile", "") is not None:
        identifiers.append(
            {"type": "mobile", "value": kw.get("mobile") or f"139{n:08d}"}
        )
    if kw.get("email", "") is not None:
        identifiers.append(
            {"type": "email", "value": kw.get("email") or f"c{n}@example.com"}
        )
    addresses = []
    if kw.get("street", "") is not None:
        addresses.append(
            {
                "province": "上海市",
                "city": "上海市",
                "district": kw.get("district", "黄浦区"),
                "street": kw.get("street") or f"南京东路{n}号",
                "postcode": kw.get("postcode", "200001"),
            }
        )
    customer = customer_create(
        name=kw.get("name") or f"客户{n}",
        source=source,
        branch=branch,
        identifiers=identifiers,
        addresses=addresses,
    )
    for channel in consents:
        grant(customer, channel, purpose=purpose)
    return customer


def grant(customer, channel, *, purpose="marketing", status="granted", at=None):
    return Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        status=status,
        occurred_at=at or timezone.now() - timezone.timedelta(days=1),
        source=customer.source,
    )


def running_campaign(
    actor,
    variants,
    *,
    stage="execute",
    holdout_share=0,
    test_share=0,
    name=None,
    **settings,
):
    """A campaign over every live customer, selected, assigned and moved
    to `stage`. `variants`: (code, channel, subject, body) tuples."""
    name = name or f"活动{next(_serial)}"
    segment = segment_create(name=f"{name}-全部", definition=EVERYONE, actor=actor)
    campaign = campaign_create(
        name=name,
        actor=actor,
        holdout_share=holdout_share,
        test_share=test_share,
        frequency_cap_days=0,
        **settings,
    )
    for code, channel, subject, body in variants:
        variant_add(
            campaign=campaign,
            code=code,
            name=f"方案{code}",
            channel=channel,
            actor=actor,
            subject=subject,
            body=body,
        )
    campaign_select(
        campaign=campaign, actor=actor, selection={"segments": [str(segment.uuid)]}
    )
    campaign_assign(campaign=campaign, actor=actor)
    campaign_stage_set(campaign=campaign, to="plan", actor=actor)
    if stage != "plan":
        campaign_stage_set(campaign=campaign, to=stage, actor=actor)
    campaign.refresh_from_db()
    return campaign


def outbox_lines(directory: Path) -> list[dict]:
    path = Path(directory) / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def use_outbox(settings, directory: Path) -> Path:
    """SMS go to a file outbox in `directory`."""
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "SMS": {
            "BACKEND": "clientbook.campaigns.channels.sms.FileOutbox",
            "OUTBOX_DIR": str(directory),
        },
    }
    return directory


@pytest.fixture
def outbox(settings, tmp_path):
    return use_outbox(settings, tmp_path / "sms")


def send_now(campaign, actor, **kw) -> Dispatch:
    dispatch = sending.campaign_send(campaign=campaign, actor=actor)
    return sending.dispatch_run(dispatch, **kw)


# Tests ------------------------------------------------------------------------


class Bomb:
    """An SMS provider that dies (like a killed worker) after `after` sends."""

    def __init__(self, directory, after, exc=KeyboardInterrupt):
        self.outbox = sms.FileOutbox(directory)
        self.after, self.exc, self.sent = after, exc, 0

    def send(self, number, text):
        if self.sent == self.after:
            raise self.exc()
        self.sent += 1
        return self.outbox.send(number, text)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_a_killed_send_resumes_and_never_sends_twice(
    marketer, source, branch, outbox, settings, exc
):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "CAMPAIGN_SEND_BATCH": 4}
    for _i in range(10):
        person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    dispatch = sending.campaign_send(campaign=campaign, actor=marketer)

    # when: the job dies in its second batch, after 6 messages went out
    with pytest.raises(exc):
        sending.dispatch_run(
            dispatch, providers={"sms": Bomb(outbox, after=6, exc=exc)}
        )

    assert len(outbox_lines(outbox)) == 6
    statuses = dict(
        Member.objects.values_list("status").annotate(n=models_count()).order_by()
    )
    assert statuses == {"sent": 4, "sending": 4, "pending": 2}

    # when: the job runs again, the batch it died in is interrupted, never resent
    again = sending.dispatch_run(dispatch, providers={"sms": sms.FileOutbox(outbox)})

    numbers = [line["to"] for line in outbox_lines(outbox)]
    assert len(numbers) == len(set(numbers)) == 8
    assert again.interrupted == 4
    assert again.sent == 6  # 4 before the kill, 2 after
    assert Member.objects.filter(status="interrupted").count() == 4
    assert Member.objects.filter(status="sent").count() == 6

    # when: run a third time, nothing is sent
    sending.dispatch_run(dispatch, providers={"sms": sms.FileOutbox(outbox)})
    assert len(outbox_lines(outbox)) == 8
    assert Interaction.objects.filter(channel="sms", direction="out").count() == 6


def models_count():
    from django.db.models import Count

    return Count("pk")


def test_send_writes_status_contact_and_the_timeline(marketer, source, branch, outbox):
    customer = person(
        source, branch, consents=["sms"], mobile="13900001111", name="王芳"
    )
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)], offer="八折")

    dispatch = send_now(campaign, marketer)

    member = Member.objects.get(customer=customer)
    assert (member.status, member.contact) == ("sent", "+8613900001111")
    assert member.sent_at is not None
    [line] = outbox_lines(outbox)
    assert line["to"] == "+8613900001111"
    assert line["text"].startswith("【茗康茶业】王芳您好")
    assert member.code in line["text"] and line["text"].endswith("回T退订")
    assert (dispatch.sent, dispatch.failed, dispatch.finished_at is not None) == (
        1,
        0,
        True,
    )
    interaction = Interaction.objects.get(customer=customer)
    assert (interaction.direction, interaction.type, interaction.staff) == (
        "out",
        "sms",
        marketer,
    )


def test_consent_withdrawn_after_selection_is_skipped_with_its_reason(
    marketer, source, branch, outbox
):
    keep = person(source, branch, consents=["sms"])
    gone = person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    grant(gone, "sms", status="withdrawn", at=timezone.now())

    send_now(campaign, marketer)

    assert [line["to"] for line in outbox_lines(outbox)] == [
        keep.identifiers.get(type="mobile").value
    ]
    skipped = Member.objects.get(customer=gone)
    assert (skipped.status, skipped.error) == ("skipped", "no_consent")


def test_a_failing_provider_marks_failed_and_goes_on(marketer, source, branch):
    class Flaky:
        calls = 0

        def send(self, number, text):
            self.calls += 1
            if self.calls == 1:
                raise sms.SmsError("HTTP 503")
            return "id-2"

    person(source, branch, consents=["sms"])
    person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])

    dispatch = send_now(campaign, marketer, providers={"sms": Flaky()})

    assert (dispatch.sent, dispatch.failed) == (1, 1)
    failed = Member.objects.get(status="failed")
    assert "503" in failed.error
    # a failed member is not retried by the next run
    again = sending.dispatch_run(dispatch, providers={"sms": Flaky()})
    assert again.sent == 1


def test_the_test_stage_sends_the_test_wave_only(marketer, source, branch, outbox):
    for _i in range(20):
        person(source, branch, consents=["sms"])
    campaign = running_campaign(
        marketer,
        [("A", "sms", "", SMS_BODY), ("B", "sms", "", "B " + SMS_BODY)],
        stage="test",
        test_share="0.3",
        holdout_share="0.1",
    )

    send_now(campaign, marketer)

    sent = Member.objects.filter(status="sent")
    assert sent.count() == len(outbox_lines(outbox)) > 0
    assert set(sent.values_list("wave", flat=True)) == {"test"}
    assert not sent.filter(variant__is_control=True).exists()
    assert Member.objects.filter(wave="rollout", status="pending").exists()


def test_sending_is_refused_before_the_test_or_execution(marketer, source, branch):
    from clientbook.errors import ValidationFailed

    person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)], stage="plan")
    with pytest.raises(ValidationFailed) as caught:
        sending.campaign_send(campaign=campaign, actor=marketer)
    assert caught.value.code == "invalid_stage"


def test_branch_staff_may_not_send(marketer, branch_staff, source, branch):
    from clientbook.errors import AccessDenied

    person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    with pytest.raises(AccessDenied):
        sending.campaign_send(campaign=campaign, actor=branch_staff)


def test_campaign_send_queues_the_job(
    marketer, source, branch, outbox, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    from clientbook.campaigns.tasks import dispatch_task

    person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])

    with django_capture_on_commit_callbacks(execute=True):
        dispatch = sending.campaign_send(campaign=campaign, actor=marketer)

    assert DBTaskResult.objects.filter(args_kwargs__args=[dispatch.pk]).count() == 1
    # what the worker runs
    dispatch_task.call(dispatch.pk)
    assert len(outbox_lines(outbox)) == 1


@contextlib.contextmanager
def another_run_holds_the_lock(campaign):
    """The lock as another process would hold it: its own connection
    (PostgreSQL) or its own open file (SQLite)."""
    if connection.vendor != "postgresql":
        with sending._run_lock(campaign) as held:
            yield held
        return
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [7405, campaign.pk])
            yield cursor.fetchone()[0]
    finally:
        other.close()


def test_a_second_run_while_one_holds_the_lock_sends_nothing(
    marketer, source, branch, outbox
):
    person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    dispatch = sending.campaign_send(campaign=campaign, actor=marketer)

    with another_run_holds_the_lock(campaign) as held:
        assert held
        sending.dispatch_run(dispatch)
        assert outbox_lines(outbox) == []
        assert Member.objects.get().status == "pending"
    sending.dispatch_run(dispatch)
    assert len(outbox_lines(outbox)) == 1


def test_send_button_queues_a_dispatch(client, marketer, branch_staff, source, branch):
    from django.urls import reverse

    person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    url = reverse("campaigns:send", args=[campaign.uuid])

    client.force_login(branch_staff)
    assert client.post(url).status_code == 404
    client.force_login(marketer)
    answer = client.post(url)

    assert answer.status_code == 302
    assert Dispatch.objects.filter(campaign=campaign, started_by=marketer).count() == 1
