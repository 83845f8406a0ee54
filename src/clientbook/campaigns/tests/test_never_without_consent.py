"""No customer without consent for the channel and purpose is ever
contacted: every path around it is tried, on every channel, and nothing
may reach the SMTP server, the SMS outbox, the mail list or a call list.

Each blocked customer has a pair in the same campaign who is reached, so a
channel that sends nothing at all cannot pass the test."""

import pytest
from django.utils import timezone

from clientbook.campaigns.channels import calls, mail
from clientbook.campaigns.models import Member
from clientbook.campaigns.services import campaign_rollout, do_not_contact_add
from clientbook.campaigns.tests.test_email import Inbox, free_port
from clientbook.campaigns.tests.test_sending import (
    grant,
    outbox_lines,
    person,
    running_campaign,
    send_now,
    use_outbox,
)
from clientbook.customers.services import customer_archive
from clientbook.identity.services import customer_merge

BODIES = {
    "email": ("尊敬的{{ name }}", "{{ offer }} {{ link }}"),
    "sms": ("", "{{ name }}您好，凭码{{ code }}到店。回T退订"),
    "mail": ("", "尊敬的{{ name }}"),
    "phone": ("", "您好{{ name }}"),
}
CHANNELS = list(BODIES)


@pytest.fixture
def reached(settings, tmp_path):
    """Where contacts land: a loopback SMTP server and an SMS outbox."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    outbox = use_outbox(settings, tmp_path / "sms")
    yield inbox, outbox
    controller.stop()


def contacted(channel, campaign, inbox, outbox, actor) -> set[int]:
    """Customer ids the channel reached (or would hand to staff/print)."""
    if channel == "email":
        send_now(campaign, actor)
        addresses = {r for rcpts, _m in inbox.received for r in rcpts}
        return _holders("email", addresses)
    if channel == "sms":
        send_now(campaign, actor)
        return _holders("mobile", {line["to"] for line in outbox_lines(outbox)})
    if channel == "mail":
        listed = {r["member"].customer_id for r in mail.rows(campaign)}
        released = mail.mail_release(campaign=campaign, actor=actor)
        assert released["sent"] == len(listed)
        return listed
    calls.call_list_assign(campaign=campaign, actor=actor)
    callable_ = set()
    for user in {m.assigned_to for m in Member.objects.exclude(assigned_to=None)}:
        callable_ |= {m.customer_id for m in calls.calls_for(user) if m.callable}
    return callable_


def _holders(type_, values) -> set[int]:
    from clientbook.customers.models import Identifier

    return set(
        Identifier.objects.filter(type=type_, value__in=values).values_list(
            "customer_id", flat=True
        )
    )


def build_blocked(source, branch, channel, other):
    """Customers who must not be reached, by the way they got around the
    rules before selection; and `ok`, who may."""
    return {
        "ok": person(source, branch, consents=[channel]),
        "no entry": person(source, branch, consents=[]),
        "withdrawn": _withdrawn(person(source, branch, consents=[channel]), channel),
        "other channel only": person(source, branch, consents=[other]),
        "service purpose only": person(
            source, branch, consents=[channel], purpose="service"
        ),
        "unknown status": _unknown(person(source, branch, consents=[]), channel),
    }


def _withdrawn(customer, channel):
    grant(customer, channel, status="withdrawn", at=timezone.now())
    return customer


def _unknown(customer, channel):
    grant(customer, channel, status="unknown")
    return customer


def after_selection(source, branch, channel, actor):
    """Customers consenting at selection, then blocked before the send."""
    return {
        "withdrawn after selection": person(source, branch, consents=[channel]),
        "do-not-contact customer": person(source, branch, consents=[channel]),
        "do-not-contact number": person(source, branch, consents=[channel]),
        "merged away": person(source, branch, consents=[channel]),
        "survivor": person(source, branch, consents=[channel]),
        "archived": person(source, branch, consents=[channel]),
    }


def block_after_selection(people, channel, actor):
    _withdrawn(people["withdrawn after selection"], channel)
    do_not_contact_add(actor=actor, customer=people["do-not-contact customer"])
    numbered = people["do-not-contact number"]
    value = numbered.identifiers.filter(type__in=["mobile", "email"]).first().value
    if channel == "mail":
        do_not_contact_add(actor=actor, customer=numbered, channel="mail")
    else:
        do_not_contact_add(actor=actor, value=value)
    customer_merge(survivor=people["survivor"], duplicate=people["merged away"])
    customer_archive(customer=people["archived"], actor=actor)


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_path_reaches_a_customer_without_consent(
    reached, marketer, source, branch, branch_staff, channel
):
    inbox, outbox = reached
    other = "sms" if channel != "sms" else "email"
    before = build_blocked(source, branch, channel, other)
    later = after_selection(source, branch, channel, marketer)
    subject, body = BODIES[channel]
    campaign = running_campaign(marketer, [("A", channel, subject, body)])
    block_after_selection(later, channel, marketer)

    reached_ids = contacted(channel, campaign, inbox, outbox, marketer)

    allowed = {before["ok"].pk, later["survivor"].pk}
    names = {c.pk: label for label, c in {**before, **later}.items()}
    assert {names[i] for i in reached_ids} == {names[i] for i in allowed}
    assert not Member.objects.filter(
        customer__in=[
            c.pk for k, c in {**before, **later}.items() if c.pk not in allowed
        ],
        status="sent",
    ).exists()


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_control_and_other_winners_are_never_sent(
    reached, marketer, source, branch, channel
):
    """The control group (test and roll-out) and the roll-out members of a
    variant that lost get nothing beyond the winner's message."""
    inbox, outbox = reached
    for _i in range(30):
        person(source, branch, consents=["email", "sms"])
    subject, body = BODIES[channel]
    other = "sms" if channel == "email" else "email"
    campaign = running_campaign(
        marketer,
        [("A", channel, subject, body), ("B", other, *BODIES[other])],
        stage="test",
        test_share="0.5",
        holdout_share="0.2",
    )
    send_now(campaign, marketer)
    winner = campaign.variants.get(code="A")
    campaign_rollout(campaign=campaign, winner=winner, actor=marketer)
    send_now(campaign, marketer)

    held = Member.objects.filter(campaign=campaign, variant__is_control=True)
    assert held.exists()
    assert set(held.values_list("status", flat=True)) == {"held_out"}
    sent_to = {r for rcpts, _m in inbox.received for r in rcpts}
    sent_to |= {line["to"] for line in outbox_lines(outbox)}
    control_ids = set(held.values_list("customer_id", flat=True))
    assert not (_holders("email", sent_to) | _holders("mobile", sent_to)) & control_ids
    # the roll-out got the winner only: nobody of it was sent B's channel
    b_sent = Member.objects.filter(campaign=campaign, variant__code="B", status="sent")
    assert set(b_sent.values_list("wave", flat=True)) <= {"test"}
    rollout = Member.objects.filter(campaign=campaign, wave="rollout").exclude(
        variant__is_control=True
    )
    assert set(rollout.values_list("variant__code", flat=True)) == {"A"}
    # every message went to a distinct member, once
    assert (
        len(inbox.received) + len(outbox_lines(outbox))
        == Member.objects.filter(campaign=campaign, status="sent").count()
    )
