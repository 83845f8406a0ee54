"""Staff pages of the channels: "My calls" with the outcome form, call
progress per staff member, the direct-mail list with its downloads and
labels, and the send button. Parse, call a service, show the result; a
`ClientbookError` becomes a message."""

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clientbook.campaigns import sending
from clientbook.campaigns.channels import calls, mail
from clientbook.campaigns.models import Campaign, Member
from clientbook.errors import ClientbookError
from clientbook.org.access import can_write, is_branch_scoped
from clientbook.privacy.masking import show_identifier
from clientbook.segments.exports import CONTENT_TYPES


def may_see(user, campaign: Campaign) -> bool:
    """Campaign pages are for those who plan, run or audit campaigns, and
    the campaign's owner; branch staff see their own calls only."""
    if not (user.is_authenticated and user.is_active):
        return False
    return not is_branch_scoped(user) or campaign.owner_id == user.pk


def _campaign(request, uuid) -> Campaign:
    campaign = Campaign.objects.filter(uuid=uuid).first()
    if campaign is None or not may_see(request.user, campaign):
        raise Http404(_("No such campaign."))
    return campaign


def _back(campaign: Campaign, fallback: str) -> str:
    try:
        return campaign.get_absolute_url()
    except NoReverseMatch:
        return reverse(fallback, args=[campaign.uuid])


def _act(request, action, success) -> None:
    try:
        result = action()
    except ClientbookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success(result))


# Sending ----------------------------------------------------------------------


@login_required
@require_POST
def send(request, uuid):
    campaign = _campaign(request, uuid)
    _act(
        request,
        lambda: sending.campaign_send(campaign=campaign, actor=request.user),
        lambda d: _("Sending has started; the worker sends the messages."),
    )
    return redirect(_back(campaign, "campaigns:mail"))


# Calls ------------------------------------------------------------------------


@login_required
def my_calls(request):
    members = calls.calls_for(request.user)
    for member in members:
        member.shown_number = show_identifier(request.user, "mobile", member.number)
    context = {"members": members, "outcomes": list(calls.OUTCOMES.items())}
    return render(request, "campaigns/calls.html", context)


@login_required
@require_POST
def call_outcome(request, code):
    member = (
        Member.objects.select_related("campaign", "variant", "customer")
        .filter(code=str(code).upper())
        .first()
    )
    if member is None or not calls.may_record(request.user, member):
        raise Http404(_("No such call."))
    _act(
        request,
        lambda: calls.call_outcome_record(
            member=member,
            outcome=request.POST.get("outcome", ""),
            actor=request.user,
            note=request.POST.get("note", "").strip()[:200],
        ),
        lambda m: _("Outcome recorded for %(name)s.") % {"name": m.customer.name},
    )
    return redirect("campaigns:my_calls")


@login_required
def call_progress(request, uuid):
    campaign = _campaign(request, uuid)
    context = {
        "campaign": campaign,
        "progress": calls.progress(campaign),
        "can_run": can_write(request.user) and not is_branch_scoped(request.user),
    }
    return render(request, "campaigns/calls_progress.html", context)


@login_required
@require_POST
def call_assign(request, uuid):
    campaign = _campaign(request, uuid)
    _act(
        request,
        lambda: calls.call_list_assign(campaign=campaign, actor=request.user),
        lambda r: (
            _("%(assigned)s calls assigned, %(unassigned)s left without staff.") % r
        ),
    )
    return redirect("campaigns:call_progress", uuid=campaign.uuid)


# Direct mail ------------------------------------------------------------------


@login_required
def mail_page(request, uuid):
    campaign = _campaign(request, uuid)
    listed = list(mail.rows(campaign))
    context = {
        "campaign": campaign,
        "rows": listed[:200],
        "count": len(listed),
        "can_run": can_write(request.user) and not is_branch_scoped(request.user),
    }
    return render(request, "campaigns/mail_list.html", context)


@login_required
def mail_download(request, uuid, fmt):
    campaign = _campaign(request, uuid)
    if fmt not in CONTENT_TYPES:
        raise Http404(fmt)
    out = io.BytesIO()
    mail.export(campaign, fmt, out)
    response = HttpResponse(out.getvalue(), content_type=CONTENT_TYPES[fmt])
    filename = f"mail-{campaign.uuid}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def mail_labels(request, uuid):
    campaign = _campaign(request, uuid)
    context = {"campaign": campaign, "pages": mail.label_pages(campaign)}
    return render(request, "campaigns/mail_labels.html", context)


@login_required
@require_POST
def mail_release(request, uuid):
    campaign = _campaign(request, uuid)
    _act(
        request,
        lambda: mail.mail_release(campaign=campaign, actor=request.user),
        lambda r: _("%(sent)s letters recorded as sent, %(skipped)s skipped.") % r,
    )
    return redirect("campaigns:mail", uuid=campaign.uuid)
