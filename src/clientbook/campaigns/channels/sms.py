"""SMS: length and opt-out rules, and the providers that send.

A provider has one method, `send(number, text) -> message id`. Two come
with Clientbook: a file outbox (JSON lines under the var directory; the
demo's default, and what a test reads) and a generic HTTP provider (POST
JSON with a bearer token, for gateways that speak it or an adapter in
front of one). Chosen by `CLIENTBOOK["SMS"]["BACKEND"]` (a dotted path).

Length: a message in the GSM 7-bit alphabet fits 160 characters, or 153 a
part when split; anything else (any Chinese) is sent as UCS-2: 70, or 67 a
part. More than `MAX_PARTS` parts is refused.
"""

import json
import math
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from clientbook.campaigns.errors import ErrorCode
from clientbook.errors import ValidationFailed

DEFAULTS = {
    "BACKEND": "clientbook.campaigns.channels.sms.FileOutbox",
    "OUTBOX_DIR": None,  # default: <var>/sms-outbox
    "URL": "",
    "TOKEN": "",
    "TIMEOUT": 10,
    "SIGNATURE": "【茗康茶业】",
    "OPT_OUT_TEXT": "回T退订",
    "MAX_PARTS": 3,
}

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each of these takes two septets (an escape and the character).
_GSM_EXTENDED = set("^{}\\[~]|€\f")


class SmsError(Exception):
    """The provider refused or could not be reached."""


def config() -> dict:
    return {**DEFAULTS, **(settings.CLIENTBOOK.get("SMS") or {})}


# Length -----------------------------------------------------------------------


def parts(text: str) -> tuple[int, str, int]:
    """(number of parts, "gsm7" | "ucs2", length in its units)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        units = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, part, encoding = 160, 153, "gsm7"
    else:
        # UTF-16 code units: a character outside the BMP (an emoji) is two.
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "ucs2"
    count = 1 if units <= single else math.ceil(units / part)
    return count, encoding, units


def finished(text: str) -> str:
    """The text as sent: the signature in front unless it is there."""
    signature = config()["SIGNATURE"]
    text = text.strip()
    if signature and signature not in text:
        text = signature + text
    return text


def text_problem(text: str) -> ValidationFailed | None:
    """Why this finished text cannot be sent, or None."""
    cfg = config()
    opt_out = cfg["OPT_OUT_TEXT"]
    if opt_out and opt_out not in text:
        return ValidationFailed(
            ErrorCode.SMS_NO_OPT_OUT,
            _("An SMS must tell how to opt out: add “%(text)s”.") % {"text": opt_out},
            field="body",
            value=opt_out,
        )
    count, encoding, units = parts(text)
    if count > int(cfg["MAX_PARTS"]):
        return ValidationFailed(
            ErrorCode.SMS_TOO_LONG,
            _(
                "The message is %(units)s characters long with the longest "
                "names and links (%(parts)s parts); at most %(max)s parts may "
                "be sent."
            )
            % {"units": units, "parts": count, "max": cfg["MAX_PARTS"]},
            field="body",
            value=units,
            details={"encoding": encoding, "parts": count},
        )
    return None


def check_variant(variant) -> None:
    """The message, filled with the longest plausible values, must fit and
    carry the opt-out text."""
    from clientbook.campaigns.channels import render, sample_context

    problem = text_problem(finished(render(variant.body, sample_context(variant))))
    if problem is not None:
        raise problem


def render_for(member) -> str:
    from clientbook.campaigns.channels import message_context, render

    return finished(render(member.variant.body, message_context(member)))


# Providers --------------------------------------------------------------------


class FileOutbox:
    """Appends each message as one JSON line to `outbox.jsonl`."""

    def __init__(self, directory=None, **_options):
        self.directory = Path(directory or Path(settings.VAR_DIR) / "sms-outbox")

    @property
    def path(self) -> Path:
        return self.directory / "outbox.jsonl"

    def send(self, number: str, text: str) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = uuid.uuid4().hex
        line = {
            "id": message_id,
            "to": number,
            "text": text,
            "at": timezone.now().isoformat(),
        }
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        return message_id


class HttpProvider:
    """POSTs {"to", "text"} as JSON with `Authorization: Bearer <token>`;
    expects 2xx and a JSON body with "id" (or "message_id")."""

    def __init__(self, url: str = "", token: str = "", timeout: float = 10, **_o):
        if not url:
            raise SmsError("CLIENTBOOK['SMS']['URL'] is not set")
        self.url, self.token, self.timeout = url, token, float(timeout)

    def send(self, number: str, text: str) -> str:
        import urllib.error
        import urllib.request

        body = json.dumps({"to": number, "text": text}, ensure_ascii=False)
        request = urllib.request.Request(  # noqa: S310 (URL from settings)
            self.url,
            data=body.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": f"Bearer {self.token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310
                data = json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise SmsError(f"HTTP {exc.code}: {exc.read()[:200]!r}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SmsError(str(exc)) from exc
        return str(data.get("id") or data.get("message_id") or "")


def provider():
    """The configured provider, built from the lower-cased SMS settings."""
    cfg = config()
    options = {
        "directory": cfg["OUTBOX_DIR"],
        "url": cfg["URL"],
        "token": cfg["TOKEN"],
        "timeout": cfg["TIMEOUT"],
    }
    return import_string(cfg["BACKEND"])(**options)
