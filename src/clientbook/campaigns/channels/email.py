"""E-mail through Django's email framework (any EMAIL_BACKEND; SMTP in
production): the variant's subject and body are Django templates filled in
per member, sent as text and HTML with a List-Unsubscribe header (one click,
RFC 8058)."""

from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.utils import DNS_NAME
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from clientbook.campaigns.channels import (
    message_context,
    one_click_link,
    render,
    sample_context,
)
from clientbook.campaigns.errors import ErrorCode
from clientbook.errors import ValidationFailed


def check_variant(variant) -> None:
    if not variant.subject.strip():
        raise ValidationFailed(
            ErrorCode.TEMPLATE_ERROR,
            _("An e-mail needs a subject."),
            field="subject",
            value="",
        )
    context = sample_context(variant)
    for field in ("subject", "body"):
        try:
            render(getattr(variant, field), context)
        except Exception as exc:  # noqa: BLE001 (any rendering failure)
            raise ValidationFailed(
                ErrorCode.TEMPLATE_ERROR,
                _("The message template has an error: %(error)s") % {"error": exc},
                field=field,
            ) from exc


def build(member, address: str) -> EmailMultiAlternatives:
    """The message for `member`, to `address`."""
    variant = member.variant
    context = message_context(member)
    subject = " ".join(render(variant.subject, context).split())
    body_text = render(variant.body, context)
    body_html = render(variant.body, context, html=True)
    page = {**context, "body_text": body_text, "body_html": body_html}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("campaigns/email/message.txt", page),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers={
            "List-Unsubscribe": f"<{one_click_link(member.code)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Clientbook-Code": member.code or "",
            # Ours, so delivery receipts and bounces can name the member.
            "Message-ID": make_msgid(idstring=member.code or None, domain=DNS_NAME),
        },
    )
    message.attach_alternative(
        render_to_string("campaigns/email/message.html", page), "text/html"
    )
    return message


class Sender:
    """One connection for a batch; `send` returns the address's message id
    or raises what the backend raised."""

    def __init__(self):
        self.connection = get_connection(fail_silently=False)

    def __enter__(self):
        self.connection.open()
        return self

    def __exit__(self, *exc):
        self.connection.close()

    def send(self, member, address: str) -> str:
        message = build(member, address)
        sent = self.connection.send_messages([message])
        if not sent:
            raise OSError(_("The mail server did not accept the message."))
        return message.extra_headers.get("Message-ID", "")
