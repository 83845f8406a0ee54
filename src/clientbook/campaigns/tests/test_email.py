"""E-mail goes through a real SMTP server on loopback (aiosmtpd), and what
arrived is read back: recipients, personalised subject and body, the
response and unsubscribe links, and that both links work."""

import email
import email.policy
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse

from clientbook.campaigns.models import Member, Response
from clientbook.campaigns.services import variant_add
from clientbook.campaigns.tests.test_sending import person, running_campaign, send_now
from clientbook.errors import ValidationFailed
from clientbook.privacy.models import Consent

SUBJECT = "{{ name }}，您的春茶礼券"
BODY = "亲爱的{{ name }}：\n<b>{{ offer }}</b>，凭码 {{ code }} 领取：{{ link }}"


class Inbox:
    """aiosmtpd handler keeping every message that arrived."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        self.received.append((envelope.rcpt_tos, message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "shop@example.com"
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "BASE_URL": "https://cb.example.com"}
    yield inbox
    controller.stop()


def parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_personalised_mail_arrives_with_working_links(
    smtp, marketer, source, branch, client
):
    customer = person(
        source, branch, consents=["email"], email="wang@example.com", name="王芳"
    )
    campaign = running_campaign(
        marketer,
        [("A", "email", SUBJECT, BODY)],
        offer="买一送一 <限时>",
        landing_url="https://shop.example.com/spring",
    )

    dispatch = send_now(campaign, marketer)

    assert dispatch.sent == 1
    [(recipients, message)] = smtp.received
    member = Member.objects.get(customer=customer)
    assert recipients == ["wang@example.com"]
    assert message["Subject"] == "王芳，您的春茶礼券"
    assert message["From"] == "shop@example.com"
    text, html = parts(message)
    link = f"https://cb.example.com/c/{member.code}/"
    assert "亲爱的王芳" in text and "买一送一" in text and member.code in text
    assert link in text and link in html
    # the message's own markup stays; values are escaped in the HTML part
    assert "<b>买一送一 <限时></b>" in text
    assert "<b>买一送一 &lt;限时&gt;</b>" in html
    unsubscribe = f"https://cb.example.com/c/{member.code}/unsubscribe/"
    assert unsubscribe in text and unsubscribe in html
    assert message["List-Unsubscribe"] == f"<{unsubscribe}one-click/>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert member.contact == "wang@example.com"
    # the Message-ID bounces and receipts will name is kept on the member
    assert message["Message-ID"] == member.message_id
    assert member.code in member.message_id

    # the response link records a click and leads to the landing page
    path = re.search(r"https://cb\.example\.com(/c/\w+/)", text).group(1)
    followed = client.get(path)
    assert followed.status_code == 302
    assert followed["Location"] == "https://shop.example.com/spring"
    assert Response.objects.get(member=member).kind == "click"


def test_unsubscribe_link_from_the_mail_withdraws_email_consent(
    smtp, marketer, source, branch, client
):
    customer = person(source, branch, consents=["email"])
    campaign = running_campaign(marketer, [("A", "email", SUBJECT, BODY)])
    send_now(campaign, marketer)
    text, _html = parts(smtp.received[0][1])
    path = re.search(r"https://cb\.example\.com(/c/\w+/unsubscribe/)", text).group(1)

    assert client.get(path).status_code == 200  # asks first
    assert not Response.objects.exists()
    client.post(path)

    latest = Consent.objects.filter(customer=customer, channel="email").latest(
        "occurred_at", "id"
    )
    assert latest.status == "withdrawn"
    # a later campaign does not reach them
    later = running_campaign(marketer, [("A", "email", SUBJECT, BODY)])
    assert later.selection_counts["no_consent"] == 1
    send_now(later, marketer)
    assert len(smtp.received) == 1


def test_one_click_unsubscribe_needs_no_token(smtp, marketer, source, branch):
    from django.test import Client

    customer = person(source, branch, consents=["email"])
    campaign = running_campaign(marketer, [("A", "email", SUBJECT, BODY)])
    send_now(campaign, marketer)
    header = smtp.received[0][1]["List-Unsubscribe"].strip("<>")
    path = header.removeprefix("https://cb.example.com")

    answer = Client(enforce_csrf_checks=True).post(
        path,
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert answer.status_code == 200
    latest = Consent.objects.filter(customer=customer, channel="email").latest(
        "occurred_at", "id"
    )
    assert latest.status == "withdrawn"


def test_an_unreachable_server_leaves_the_members_pending(
    marketer, source, branch, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    person(source, branch, consents=["email"])
    campaign = running_campaign(marketer, [("A", "email", SUBJECT, BODY)])

    with pytest.raises(ConnectionRefusedError):
        send_now(campaign, marketer)

    # nothing was claimed: the member waits for the server to be back
    assert Member.objects.get().status == "pending"


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("", BODY, "subject"),
        (SUBJECT, "{% if %}", "body"),
        ("{{ name|nofilter }}", BODY, "subject"),
    ],
)
def test_a_broken_template_is_refused_when_saved(marketer, subject, body, field):
    from clientbook.campaigns.services import campaign_create

    campaign = campaign_create(name="邮件", actor=marketer)
    with pytest.raises(ValidationFailed) as caught:
        variant_add(
            campaign=campaign,
            code="A",
            name="A",
            channel="email",
            actor=marketer,
            subject=subject,
            body=body,
        )
    assert (caught.value.code, caught.value.field) == ("template_error", field)


def test_links_use_the_base_url_setting(settings):
    from clientbook.campaigns.channels import response_link, unsubscribe_link

    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "BASE_URL": "https://x.example/"}
    assert response_link("ABC") == "https://x.example" + reverse(
        "campaign_links:respond", args=["ABC"]
    )
    assert unsubscribe_link("ABC") == "https://x.example/c/ABC/unsubscribe/"
