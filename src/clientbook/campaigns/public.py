"""What a member reaches from a message, without logging in: the response
link, the unsubscribe page (and its one-click form for mail clients), and
the providers' webhook.

The response code in the URL is the member's secret (10 characters of
base 32, unguessable); an unknown code gets a plain 404 that says nothing
about campaigns or customers. A GET never withdraws anything: the
unsubscribe page asks first, and its form carries a CSRF token. The
one-click URL (RFC 8058, the List-Unsubscribe header) and the webhook are
exempt from CSRF: mail clients and providers have no token; the code or the
signature is what authorises them.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    ContactStatus,
    Member,
    Response,
    ResponseKind,
    ResponseVia,
)
from clientbook.campaigns.services import (
    campaign_source,
    delivery_record,
    member_by_code,
    member_by_message,
    response_record,
)
from clientbook.customers import normalise
from clientbook.customers.models import Identifier, IdentifierType
from clientbook.errors import ClientbookError, ValidationFailed
from clientbook.privacy.models import ConsentChannel, ConsentPurpose, ConsentStatus
from clientbook.privacy.services import consent_record

SIGNATURE_HEADER = "X-Clientbook-Signature"
# SMS replies that mean "no more messages".
STOP_WORDS = {"T", "TD", "退订", "STOP", "UNSUBSCRIBE"}
DELIVERY_EVENTS = ("delivered", "failed")


def _member_or_none(code: str) -> Member | None:
    try:
        return member_by_code(code)
    except ValidationFailed:
        return None


def _not_found(request):
    return render(request, "campaigns/public_not_found.html", status=404)


def _record_once(member: Member, kind: str, via: str, **extra) -> Response:
    """A click or an unsubscribe counts once a member: a link followed
    again (or prefetched by a mail scanner, then clicked) adds nothing."""
    existing = member.responses.filter(kind=kind).first()
    if existing is not None:
        return existing
    response, _created = response_record(member=member, kind=kind, via=via, **extra)
    return response


@require_http_methods(["GET", "HEAD"])
def respond(request, code: str):
    member = _member_or_none(code)
    if member is None:
        return _not_found(request)
    if request.method == "GET":
        _record_once(member, ResponseKind.CLICK, ResponseVia.LINK)
    if member.campaign.landing_url:
        return HttpResponseRedirect(member.campaign.landing_url)
    return render(request, "campaigns/public_thanks.html", {"member": member})


@require_http_methods(["GET", "POST"])
def unsubscribe(request, code: str):
    member = _member_or_none(code)
    if member is None:
        return _not_found(request)
    if request.method == "POST":
        _record_once(member, ResponseKind.UNSUBSCRIBE, ResponseVia.LINK)
        return render(request, "campaigns/public_unsubscribed.html", _page(member))
    return render(request, "campaigns/public_unsubscribe.html", _page(member))


@csrf_exempt
@require_POST
def one_click(request, code: str):
    """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click`."""
    member = _member_or_none(code)
    if member is None:
        return _not_found(request)
    _record_once(member, ResponseKind.UNSUBSCRIBE, ResponseVia.LINK)
    return render(request, "campaigns/public_unsubscribed.html", _page(member))


def _page(member: Member) -> dict:
    variant = member.variant
    return {
        "member": member,
        "channel": variant.get_channel_display() if variant else "",
    }


# Webhook ----------------------------------------------------------------------


def signature(body: bytes, secret: str) -> str:
    """What the sender puts in X-Clientbook-Signature: sha256=<hex HMAC>."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _signed(request) -> bool:
    secret = settings.CLIENTBOOK.get("CAMPAIGN_WEBHOOK_SECRET") or ""
    given = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not secret or not given:
        return False
    if not given.startswith("sha256="):
        given = "sha256=" + given
    return hmac.compare_digest(given.lower(), signature(request.body, secret))


def _error(code: str, message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, **extra}}, status=status
    )


@csrf_exempt
@require_POST
def webhook(request):
    """A response by code ({"code", "kind", "occurred_at"?, "amount"?}), an
    SMS reply ({"from", "text"}) or a delivery receipt ({"event":
    "delivered" | "failed", "message_id" or "code", "occurred_at"?,
    "reason"?, "permanent"?: true for a hard bounce}), signed with the
    shared secret."""
    if not _signed(request):
        return _error(ErrorCode.BAD_SIGNATURE, _("The signature does not match."), 403)
    try:
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return _error(ErrorCode.INVALID_VALUE, _("The body is not a JSON object."), 400)
    try:
        if "event" in data:
            return JsonResponse(_receipt(data))
        if "from" in data:
            return JsonResponse(_sms_reply(data))
        return JsonResponse(_coded_response(data))
    except ClientbookError as exc:
        return JsonResponse({"error": exc.as_dict()}, status=exc.status)


def _coded_response(data: dict) -> dict:
    member = member_by_code(data.get("code"))
    kind = str(data.get("kind") or "").strip()
    occurred_at = data.get("occurred_at") or None
    if occurred_at is None:
        existing = member.responses.filter(kind=kind).first()
        if existing is not None:  # a retry without a time: the same response
            return {"response": str(existing.uuid), "created": False}
    response, created = response_record(
        member=member,
        kind=kind,
        via=ResponseVia.WEBHOOK,
        occurred_at=occurred_at,
        amount=data.get("amount"),
        note=str(data.get("note") or ""),
    )
    return {"response": str(response.uuid), "created": created}


def _receipt(data: dict) -> dict:
    event = str(data.get("event") or "").strip()
    if event not in DELIVERY_EVENTS:
        raise ValidationFailed(
            ErrorCode.INVALID_VALUE,
            _("“%(value)s” is not a delivery event (delivered, failed).")
            % {"value": event},
            field="event",
            value=event,
        )
    message_id = str(data.get("message_id") or "").strip()
    member = (
        member_by_message(message_id)
        if message_id
        else member_by_code(data.get("code"))
    )
    member, changed = delivery_record(
        member=member,
        delivered=event == "delivered",
        occurred_at=data.get("occurred_at") or None,
        reason=str(data.get("reason") or ""),
        permanent=data.get("permanent") is True,
    )
    return {"member": member.code, "status": member.status, "changed": changed}


def _number(value) -> str:
    try:
        return normalise.phone(str(value or ""))[0]
    except normalise.NormaliseError as exc:
        raise ValidationFailed(
            ErrorCode.INVALID_VALUE,
            _("“%(value)s” is not a phone number.") % {"value": value},
            field="from",
            value=value,
        ) from exc


@transaction.atomic
def _sms_reply(data: dict) -> dict:
    """T/TD/退订/STOP withdraws SMS consent of whoever holds the number (an
    unsubscribe on each of their SMS memberships); other text is a reply
    to their latest SMS."""
    number = _number(data.get("from"))
    text = str(data.get("text") or "").strip()
    customer_ids = list(
        Identifier.objects.filter(
            type=IdentifierType.MOBILE, value=number, is_live=True
        ).values_list("customer_id", flat=True)
    )
    members = Member.objects.filter(
        customer_id__in=customer_ids, variant__channel=ConsentChannel.SMS
    ).select_related("campaign", "variant", "customer")
    occurred_at = data.get("occurred_at") or None
    if text.upper() in STOP_WORDS:
        return _sms_stop(customer_ids, members, occurred_at)
    latest = members.filter(status=ContactStatus.SENT).order_by("-sent_at").first()
    if latest is None:
        return {"customers": len(customer_ids), "responses": 0}
    _record_once(latest, ResponseKind.REPLY, ResponseVia.WEBHOOK, note=text)
    return {"customers": len(customer_ids), "responses": 1}


def _sms_stop(customer_ids, members, occurred_at) -> dict:
    count = 0
    for member in members:
        _record_once(
            member,
            ResponseKind.UNSUBSCRIBE,
            ResponseVia.WEBHOOK,
            occurred_at=occurred_at,
        )
        count += 1
    # Not in any SMS campaign (or in one of another purpose): the ledger
    # still gets the withdrawal, so no later selection reaches the number.
    from clientbook.customers.models import Customer

    for customer in Customer.objects.filter(pk__in=customer_ids):
        if _sms_withdrawn(customer):
            continue
        consent_record(
            customer=customer,
            channel=ConsentChannel.SMS,
            purpose=ConsentPurpose.MARKETING,
            status=ConsentStatus.WITHDRAWN,
            source=campaign_source(),
            evidence=_("SMS reply asking to stop"),
        )
    return {"customers": len(customer_ids), "responses": count, "withdrawn": True}


def _sms_withdrawn(customer) -> bool:
    from clientbook.privacy.models import Consent

    latest = (
        Consent.objects.filter(
            customer=customer,
            channel=ConsentChannel.SMS,
            purpose=ConsentPurpose.MARKETING,
        )
        .order_by("-occurred_at", "-id")
        .values_list("status", flat=True)
        .first()
    )
    return latest == ConsentStatus.WITHDRAWN
