"""The links members follow (no login) and the providers' webhook."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from clientbook.campaigns.models import DoNotContact, Member, Response
from clientbook.campaigns.public import SIGNATURE_HEADER, signature
from clientbook.campaigns.tests.test_sending import (
    SMS_BODY,
    person,
    running_campaign,
    send_now,
    use_outbox,
)
from clientbook.privacy.models import Consent

SECRET = "webhook-secret"


@pytest.fixture
def outbox(settings, tmp_path):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "CAMPAIGN_WEBHOOK_SECRET": SECRET}
    return use_outbox(settings, tmp_path / "sms")


@pytest.fixture
def sms_member(marketer, source, branch, outbox):
    customer = person(source, branch, consents=["sms"], mobile="13900003333")
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    send_now(campaign, marketer)
    return Member.objects.get(customer=customer)


def latest_consent(customer, channel="sms"):
    return (
        Consent.objects.filter(customer=customer, channel=channel)
        .order_by("-occurred_at", "-id")
        .first()
        .status
    )


def test_response_link_records_one_click_and_thanks(sms_member, client):
    url = reverse("campaign_links:respond", args=[sms_member.code])

    page = client.get(url)
    client.get(url.lower())  # codes are read case-insensitively; clicked again

    assert page.status_code == 200
    assert sms_member.code in page.content.decode()
    assert "topbar" not in page.content.decode()  # no staff navigation
    [response] = Response.objects.all()
    assert (response.kind, response.via) == ("click", "link")
    sms_member.refresh_from_db()
    assert sms_member.responded_at is not None


def test_unknown_code_is_a_plain_404(db, client):
    page = client.get(reverse("campaign_links:respond", args=["NOSUCHCODE"]))
    assert page.status_code == 404
    assert "NOSUCHCODE" not in page.content.decode()
    assert client.post("/c/NOSUCHCODE/unsubscribe/").status_code == 404


def test_unsubscribe_asks_then_withdraws(sms_member, client):
    url = reverse("campaign_links:unsubscribe", args=[sms_member.code])

    assert client.get(url).status_code == 200
    assert latest_consent(sms_member.customer) == "granted"
    done = client.post(url)

    assert done.status_code == 200
    assert latest_consent(sms_member.customer) == "withdrawn"
    assert Response.objects.get().kind == "unsubscribe"


def test_unsubscribe_form_needs_its_csrf_token(sms_member):
    strict = Client(enforce_csrf_checks=True)
    url = reverse("campaign_links:unsubscribe", args=[sms_member.code])
    assert strict.post(url).status_code == 403
    page = strict.get(url)
    token = page.cookies["csrftoken"].value
    assert strict.post(url, {"csrfmiddlewaretoken": token}).status_code == 200
    assert latest_consent(sms_member.customer) == "withdrawn"


def post_signed(client, payload, secret=SECRET):
    body = json.dumps(payload).encode()
    return Client(enforce_csrf_checks=True).post(
        reverse("campaign_links:webhook"),
        body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: signature(body, secret)},
    )


def test_webhook_records_a_response_once(sms_member, client):
    payload = {
        "code": sms_member.code,
        "kind": "purchase",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "amount": "88.00",
    }

    first = post_signed(client, payload)
    replay = post_signed(client, payload)

    assert first.status_code == replay.status_code == 200
    assert (first.json()["created"], replay.json()["created"]) == (True, False)
    [response] = Response.objects.all()
    assert (response.kind, response.via, str(response.amount)) == (
        "purchase",
        "webhook",
        "88.00",
    )


def test_webhook_without_a_time_is_idempotent_too(sms_member, client):
    payload = {"code": sms_member.code, "kind": "visit"}
    post_signed(client, payload)
    post_signed(client, payload)
    assert Response.objects.count() == 1


@pytest.mark.parametrize("secret", ["wrong", None])
def test_webhook_refuses_a_bad_signature(sms_member, client, secret):
    body = json.dumps({"code": sms_member.code, "kind": "click"}).encode()
    headers = {SIGNATURE_HEADER: signature(body, secret)} if secret else {}

    answer = client.post(
        reverse("campaign_links:webhook"),
        body,
        content_type="application/json",
        headers=headers,
    )

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "bad_signature"
    assert not Response.objects.exists()


def test_webhook_without_a_configured_secret_refuses_all(sms_member, client, settings):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "CAMPAIGN_WEBHOOK_SECRET": ""}
    assert (
        post_signed(client, {"code": sms_member.code, "kind": "click"}, "").status_code
        == 403
    )


def test_webhook_reports_an_unknown_code_and_kind(sms_member, client):
    unknown = post_signed(client, {"code": "ZZZZZZZZZZ", "kind": "click"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_code"
    bad_kind = post_signed(client, {"code": sms_member.code, "kind": "dance"})
    assert bad_kind.json()["error"]["field"] == "kind"


@pytest.mark.parametrize("text", ["T", "td", "退订", "STOP"])
def test_sms_stop_reply_withdraws_sms_consent(
    marketer, source, branch, outbox, client, text
):
    customer = person(source, branch, consents=["sms"], mobile="13900004444")
    first = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    send_now(first, marketer)

    answer = post_signed(client, {"from": "139 0000 4444", "text": text})

    assert answer.status_code == 200, answer.content
    assert latest_consent(customer) == "withdrawn"
    assert Response.objects.get().kind == "unsubscribe"
    # a replay changes nothing
    post_signed(client, {"from": "+8613900004444", "text": text})
    assert Response.objects.count() == 1
    # and the next campaign does not reach them
    later = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    assert later.selection_counts["no_consent"] == 1


def test_other_sms_replies_are_replies(sms_member, client):
    post_signed(client, {"from": "+8613900003333", "text": "几点开门？"})
    response = Response.objects.get()
    assert (response.kind, response.note) == ("reply", "几点开门？")
    assert latest_consent(sms_member.customer) == "granted"


def test_delivery_receipts_by_message_id_then_a_bounce(sms_member, client):
    assert sms_member.status == "sent" and sms_member.message_id
    receipt = {"event": "delivered", "message_id": sms_member.message_id}

    first = post_signed(client, {**receipt, "occurred_at": "2026-11-01T10:00:00Z"})
    again = post_signed(client, receipt)  # providers retry

    assert first.json()["changed"] and not again.json()["changed"]
    sms_member.refresh_from_db()
    assert sms_member.status == "delivered"
    assert sms_member.delivered_at.isoformat().startswith("2026-11-01T10:00")
    bounce = {"event": "failed", "code": sms_member.code, "reason": "空号"}
    assert post_signed(client, bounce).json()["status"] == "failed"
    sms_member.refresh_from_db()
    assert (sms_member.status, sms_member.error) == ("failed", "空号")
    assert sms_member.delivered_at is None
    # A late receipt does not bring a bounced message back.
    assert not post_signed(client, receipt).json()["changed"]


def test_delivery_receipt_errors_name_the_field(sms_member, client):
    unknown = post_signed(client, {"event": "delivered", "message_id": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "message_id"
    bad = post_signed(client, {"event": "read", "code": sms_member.code})
    assert bad.json()["error"]["field"] == "event"


def test_a_hard_bounce_keeps_the_number_out_of_later_campaigns(
    sms_member, client, marketer
):
    bounce = {
        "event": "failed",
        "code": sms_member.code,
        "reason": "空号",
        "permanent": True,
    }
    assert post_signed(client, bounce).json()["changed"]
    post_signed(client, bounce)  # a retry lists it once
    [entry] = DoNotContact.objects.all()
    assert (entry.value, entry.channel) == (sms_member.contact, "sms")
    assert "空号" in entry.reason
    again = running_campaign(marketer, [("A", "sms", "", SMS_BODY)], stage="plan")
    member = Member.objects.get(campaign=again)
    assert member.suppression == "do_not_contact"
