"""SMS: length by encoding and parts, the opt-out text and signature, the
file outbox and the generic HTTP provider (against a real HTTP server on
loopback)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from clientbook.campaigns.channels import sms
from clientbook.campaigns.models import Campaign, Member
from clientbook.campaigns.services import campaign_create, variant_add
from clientbook.campaigns.tests.test_sending import (
    SMS_BODY,
    outbox_lines,
    person,
    running_campaign,
    send_now,
    use_outbox,
)
from clientbook.errors import ValidationFailed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, (1, "gsm7", 160)),
        ("a" * 161, (2, "gsm7", 161)),
        ("a" * 306, (2, "gsm7", 306)),
        ("a" * 307, (3, "gsm7", 307)),
        ("{" * 80, (1, "gsm7", 160)),  # extension characters take two
        ("茶" * 70, (1, "ucs2", 70)),
        ("茶" * 71, (2, "ucs2", 71)),
        ("茶" * 134, (2, "ucs2", 134)),
        ("茶" * 135, (3, "ucs2", 135)),
        ("a" * 69 + "茶", (1, "ucs2", 70)),  # one Chinese character: all UCS-2
        ("🍵" * 35, (1, "ucs2", 70)),  # outside the BMP: two units each
    ],
)
def test_parts_by_encoding(text, expected):
    assert sms.parts(text) == expected


def test_signature_is_prefixed_once(settings):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "SMS": {"SIGNATURE": "【茗康茶业】"}}
    assert sms.finished("您好 回T退订") == "【茗康茶业】您好 回T退订"
    assert sms.finished("您好 回T退订【茗康茶业】") == "您好 回T退订【茗康茶业】"


@pytest.fixture
def outbox(settings, tmp_path):
    return use_outbox(settings, tmp_path / "sms")


def _variant(actor, body, **campaign_settings):
    name = f"短信{Campaign.objects.count()}"
    campaign = campaign_create(name=name, actor=actor, **campaign_settings)
    return variant_add(
        campaign=campaign, code="A", name="A", channel="sms", actor=actor, body=body
    )


def test_a_message_without_the_opt_out_text_is_refused(marketer):
    with pytest.raises(ValidationFailed) as caught:
        _variant(marketer, "{{ name }}您好，春茶上市")
    assert (caught.value.code, caught.value.field) == ("sms_no_opt_out", "body")


def test_the_opt_out_text_is_a_setting(marketer, settings):
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "SMS": {"OPT_OUT_TEXT": "拒收请回复R"},
    }
    assert _variant(marketer, "春茶上市 拒收请回复R").pk
    with pytest.raises(ValidationFailed):
        _variant(marketer, "春茶上市 回T退订")


def test_length_is_checked_with_the_longest_values(marketer):
    # 3 parts of UCS-2 are 201 units; the long sample name and the link push
    # a message that is short as written over the limit
    body = "{{ name }}您好，" + "茶" * 150 + "{{ link }} 回T退订"
    with pytest.raises(ValidationFailed) as caught:
        _variant(marketer, body)
    assert (caught.value.code, caught.value.field) == ("sms_too_long", "body")
    assert caught.value.details["parts"] == 4
    assert _variant(marketer, "{{ name }}您好，" + "茶" * 100 + "{{ link }} 回T退订")


def test_the_number_of_parts_is_a_setting(marketer, settings):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "SMS": {"MAX_PARTS": 1}}
    with pytest.raises(ValidationFailed) as caught:
        _variant(marketer, "茶" * 60 + " 回T退订")
    assert caught.value.code == "sms_too_long"


def test_the_offer_counts_in_the_length(marketer):
    with pytest.raises(ValidationFailed):
        _variant(marketer, "{{ offer }} 回T退订", offer="买" * 300)


def test_a_message_too_long_at_send_fails_that_member(
    marketer, source, branch, outbox, settings
):
    person(source, branch, consents=["sms"], name="李" * 40)
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "SMS": {**settings.CLIENTBOOK["SMS"], "MAX_PARTS": 1},
    }

    dispatch = send_now(campaign, marketer)

    assert (dispatch.sent, dispatch.failed) == (0, 1)
    assert outbox_lines(outbox) == []
    assert "1" in Member.objects.get().error


class Gateway(BaseHTTPRequestHandler):
    """A provider's API: records requests, answers with an id, or fails
    when told to."""

    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), json.loads(body)))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": f"m{len(type(self).received)}"}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(settings):
    Gateway.received, Gateway.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/send"
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "SMS": {
            "BACKEND": "clientbook.campaigns.channels.sms.HttpProvider",
            "URL": url,
            "TOKEN": "secret-token",
        },
    }
    yield Gateway
    server.shutdown()
    server.server_close()


def test_http_provider_posts_json_with_a_bearer_token(gateway):
    message_id = sms.provider().send("+8613900001111", "【茗康茶业】您好 回T退订")

    assert message_id == "m1"
    [(headers, body)] = gateway.received
    assert headers["Authorization"] == "Bearer secret-token"
    assert headers["Content-Type"].startswith("application/json")
    assert body == {"to": "+8613900001111", "text": "【茗康茶业】您好 回T退订"}


def test_http_provider_errors_fail_the_member(gateway, marketer, source, branch):
    person(source, branch, consents=["sms"])
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])
    gateway.status = 500

    dispatch = send_now(campaign, marketer)

    assert (dispatch.sent, dispatch.failed) == (0, 1)
    assert "HTTP 500" in Member.objects.get().error


def test_a_campaign_sends_through_the_http_provider(gateway, marketer, source, branch):
    customer = person(source, branch, consents=["sms"], mobile="13900002222")
    campaign = running_campaign(marketer, [("A", "sms", "", SMS_BODY)])

    send_now(campaign, marketer)

    [(_headers, body)] = gateway.received
    member = Member.objects.get(customer=customer)
    assert body["to"] == "+8613900002222" == member.contact
    assert member.code in body["text"] and member.status == "sent"


def test_file_outbox_writes_json_lines(tmp_path):
    box = sms.FileOutbox(tmp_path)
    first = box.send("+8613900001111", "一")
    box.send("+8613900002222", "二")
    lines = outbox_lines(tmp_path)
    assert [(line["id"], line["to"], line["text"]) for line in lines[:1]] == [
        (first, "+8613900001111", "一")
    ]
    assert len(lines) == 2
