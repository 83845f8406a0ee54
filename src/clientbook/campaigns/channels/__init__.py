"""Channels: how a variant's message reaches a member (e-mail, SMS, direct
mail, phone and visit call lists). `check(variant)` validates a variant's
message for its channel when it is saved; `message_context` and `render`
personalise it for one member."""

from django.conf import settings
from django.template import Context, Template
from django.urls import reverse

from clientbook.privacy.models import ConsentChannel

# Channels the send job delivers itself; mail goes to print, calls to staff.
SENT_BY_JOB = (ConsentChannel.EMAIL, ConsentChannel.SMS)
CALL_CHANNELS = (ConsentChannel.PHONE, ConsentChannel.VISIT)

# The longest values a message is checked with before anyone is selected:
# a long name (compound surname or a company) and a full response code.
SAMPLE_NAME = "欧阳上海某某茶叶有限公司"
SAMPLE_CODE = "X" * 10


def base_url() -> str:
    return str(settings.CLIENTBOOK.get("BASE_URL", "http://127.0.0.1:8000")).rstrip("/")


def response_link(code: str) -> str:
    return base_url() + reverse("campaign_links:respond", args=[code])


def unsubscribe_link(code: str) -> str:
    return base_url() + reverse("campaign_links:unsubscribe", args=[code])


def one_click_link(code: str) -> str:
    return base_url() + reverse("campaign_links:one_click", args=[code])


def context_for(*, name: str, code: str, offer: str) -> dict:
    return {
        "name": name,
        "code": code,
        "link": response_link(code),
        "offer": offer,
        "unsubscribe": unsubscribe_link(code),
    }


def message_context(member) -> dict:
    """What a variant's subject and body may use for this member."""
    return context_for(
        name=member.customer.name, code=member.code or "", offer=member.campaign.offer
    )


def sample_context(variant) -> dict:
    return context_for(name=SAMPLE_NAME, code=SAMPLE_CODE, offer=variant.campaign.offer)


def render(text: str, context: dict, *, html: bool = False) -> str:
    """A variant's template filled in; escaped only for HTML."""
    return Template(text).render(Context(context, autoescape=html))


def check(variant) -> None:
    """Raises ValidationFailed when the variant's message cannot be sent on
    its channel."""
    if variant.is_control:
        return
    if variant.channel == ConsentChannel.SMS:
        from clientbook.campaigns.channels import sms

        sms.check_variant(variant)
    elif variant.channel == ConsentChannel.EMAIL:
        from clientbook.campaigns.channels import email

        email.check_variant(variant)
    else:
        render(variant.body, sample_context(variant))
