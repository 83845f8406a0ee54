"""The campaign pages: list with KPIs, create/edit, the detail page that walks
the lifecycle (variants, selection, assignment, test, send, responses,
evaluation) and the do-not-contact list. Views parse, call services and
selectors, and show a `ClientbookError` as a message. The channels' pages
(send, call lists, mail lists) are in `channel_views`."""

import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from clientbook.campaigns import evaluation, launch, selectors, services
from clientbook.campaigns.forms import (
    CampaignForm,
    DoNotContactForm,
    ResponseForm,
    ResponsesFileForm,
    VariantForm,
)
from clientbook.campaigns.models import Campaign, DoNotContact, Stage
from clientbook.errors import ClientbookError, NotFound
from clientbook.org.access import can_view_pii, can_write, is_branch_scoped

QUEUED = _lazy(
    "This is a large campaign: the work goes on in the background and this "
    "page shows when it is done."
)

REPORT_BY = ("variant", "branch", "segment", "wave")

# The lifecycle as the page shows it (营销创意 → … → 评估优化).
PIPELINE = [
    Stage.IDEA,
    Stage.ANALYSIS,
    Stage.PLAN,
    Stage.TEST,
    Stage.EXECUTE,
    Stage.EVALUATE,
    Stage.CLOSED,
]


def _campaign_or_404(uuid) -> Campaign:
    try:
        return selectors.campaign_get(ref=uuid)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def may_run(user) -> bool:
    return can_write(user) and not is_branch_scoped(user)


def _refused(request):
    return render(
        request,
        "web/error.html",
        {"message": _("Your role may not plan or run campaigns.")},
        status=403,
    )


def _act(request, campaign: Campaign, action, success: str):
    """Runs a service call; its error becomes a message on the detail page."""
    if not may_run(request.user):
        return _refused(request)
    try:
        result = action()
    except ClientbookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success(result) if callable(success) else success)
    return redirect(campaign.get_absolute_url())


@login_required
def campaign_list(request):
    campaigns = list(selectors.campaign_list())
    kpis = evaluation.campaign_kpis(campaigns)
    rows = [(c, kpis.get(c.pk)) for c in campaigns]
    return render(
        request,
        "campaigns/list.html",
        {
            "rows": rows,
            "target": evaluation.response_target(),
            "can_run": may_run(request.user),
        },
    )


def _save(request, campaign: Campaign | None):
    form = CampaignForm(request.POST)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    try:
        if campaign is None:
            campaign = services.campaign_create(
                name=data["name"],
                actor=request.user,
                branches=data["branches"],
                selection=form.selection() if _has_selection(form) else None,
                **form.settings(),
            )
        else:
            settings = form.settings()
            if campaign.is_open:
                extra = {"branches": data["branches"], "selection": form.selection()}
            else:
                extra = {}
                for key in ("holdout_share", "test_share", "stratify_by", "seed"):
                    settings.pop(key, None)
                for key in ("purpose", "frequency_cap_days"):
                    settings.pop(key, None)
            campaign = services.campaign_update(
                campaign=campaign, actor=request.user, name=data["name"],
                **extra, **settings,
            )  # fmt: skip
    except ClientbookError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return form, None
    return form, campaign


def _has_selection(form: CampaignForm) -> bool:
    selection = form.selection()
    return bool(selection["segments"] or selection.get("score"))


def _form_page(request, campaign: Campaign | None):
    if not may_run(request.user):
        return _refused(request)
    if request.method == "POST":
        form, saved = _save(request, campaign)
        if saved is not None:
            messages.success(request, _("Campaign saved."))
            return redirect(saved.get_absolute_url())
    elif campaign is not None:
        form = CampaignForm(initial=CampaignForm.initial_from(campaign))
    else:
        form = CampaignForm()
    return render(request, "campaigns/form.html", {"form": form, "campaign": campaign})


@login_required
def campaign_create(request):
    return _form_page(request, None)


@login_required
def campaign_edit(request, uuid):
    return _form_page(request, _campaign_or_404(uuid))


def _next_stages(campaign: Campaign) -> list[tuple[str, str]]:
    nexts = services.NEXT_STAGES.get(campaign.stage, ())
    return [(s.value, s.label) for s in nexts]


@login_required
def campaign_detail(request, uuid):
    campaign = _campaign_or_404(uuid)
    report = (
        evaluation.campaign_report(campaign, by=REPORT_BY)
        if campaign.assigned_at
        else None
    )
    context = {
        "campaign": campaign,
        "pipeline": [(s.value, s.label) for s in PIPELINE],
        "next_stages": _next_stages(campaign),
        "variants": campaign.variants.all(),
        "variant_form": VariantForm(),
        "selection_table": selectors.selection_table(campaign),
        "segments": selectors.selection_segments(campaign),
        "arms": selectors.arm_table(campaign),
        "stage_changes": campaign.stage_changes.select_related("actor"),
        "dispatches": campaign.dispatches.all()[:10],
        "sample": selectors.member_sample(campaign, request.user),
        "response_form": ResponseForm(),
        "file_form": ResponsesFileForm(),
        "report": report,
        # Seconds at a million members: only when asked for.
        "profile": evaluation.responder_profile(campaign)
        if report and request.GET.get("profile")
        else None,
        "test_result": selectors.test_result(campaign),
        "can_run": may_run(request.user),
        "running": launch.is_running(campaign),
        "can_view_pii": can_view_pii(request.user),
        "channels": {v.channel for v in campaign.variants.all() if v.channel},
    }
    return render(request, "campaigns/detail.html", context)


@login_required
@require_POST
def variant_add(request, uuid):
    campaign = _campaign_or_404(uuid)
    form = VariantForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label}: {errors[0]}")
        return redirect(campaign.get_absolute_url())
    return _act(
        request,
        campaign,
        lambda: services.variant_add(
            campaign=campaign, actor=request.user, **form.cleaned_data
        ),
        _("Variant added."),
    )


@login_required
@require_POST
def variant_remove(request, uuid, code):
    campaign = _campaign_or_404(uuid)

    def remove():
        variant = selectors.variant_get(campaign, code)
        services.variant_remove(variant=variant, actor=request.user)

    return _act(request, campaign, remove, _("Variant removed."))


@login_required
@require_POST
def campaign_select(request, uuid):
    campaign = _campaign_or_404(uuid)
    return _act(
        request,
        campaign,
        lambda: launch.prepare_start(
            campaign=campaign, step="select", actor=request.user
        ),
        lambda counts: (
            _("Selected: %(eligible)s customers may be contacted.") % counts
            if counts
            else QUEUED
        ),
    )


@login_required
@require_POST
def campaign_assign(request, uuid):
    campaign = _campaign_or_404(uuid)

    def assign():
        return launch.prepare_start(
            campaign=campaign, step="assign", actor=request.user
        )

    return _act(
        request,
        campaign,
        assign,
        lambda counts: _("Members assigned to the arms.") if counts else QUEUED,
    )


@login_required
@require_POST
def campaign_stage(request, uuid):
    campaign = _campaign_or_404(uuid)

    def move():
        services.campaign_stage_set(
            campaign=campaign,
            to=request.POST.get("to", ""),
            actor=request.user,
            note=request.POST.get("note", ""),
        )

    return _act(request, campaign, move, _("Stage changed."))


@login_required
@require_POST
def campaign_rollout(request, uuid):
    campaign = _campaign_or_404(uuid)

    def rollout():
        winner = selectors.variant_get(campaign, request.POST.get("winner", ""))
        services.campaign_rollout(
            campaign=campaign,
            winner=winner,
            actor=request.user,
            note=request.POST.get("note", ""),
        )

    return _act(request, campaign, rollout, _("The winner is rolled out."))


@login_required
@require_POST
def campaign_attribute(request, uuid):
    from clientbook.campaigns.attribution import campaign_attribute as attribute

    campaign = _campaign_or_404(uuid)
    return _act(
        request,
        campaign,
        lambda: attribute(campaign=campaign, actor=request.user),
        _("Orders in the response window attributed."),
    )


@login_required
@require_POST
def response_add(request, uuid):
    campaign = _campaign_or_404(uuid)
    form = ResponseForm(request.POST)

    def record():
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise services.ValidationFailed(
                "invalid", errors[0], field=field, value=request.POST.get(field)
            )
        member = services.member_by_code(form.cleaned_data["code"])
        if member.campaign_id != campaign.pk:
            raise NotFound("unknown_code", _("This code belongs to another campaign."))
        services.response_record(
            member=member,
            kind=form.cleaned_data["kind"],
            via="ui",
            actor=request.user,
            amount=form.cleaned_data["amount"],
            note=form.cleaned_data["note"],
        )

    if not can_write(request.user):
        return _refused(request)
    try:
        record()
    except ClientbookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Response recorded."))
    return redirect(campaign.get_absolute_url())


def read_rows(upload) -> list[dict]:
    """The rows of an uploaded response file (CSV in UTF-8 or GB18030, or
    XLSX), read by the import app's readers; header names lower-cased."""
    suffix = Path(upload.name or "").suffix.lower() or ".csv"
    with tempfile.NamedTemporaryFile(suffix=suffix) as stored:
        for chunk in upload.chunks():
            stored.write(chunk)
        stored.flush()
        return services.table_rows(Path(stored.name))


@login_required
@require_POST
def responses_upload(request, uuid):
    campaign = _campaign_or_404(uuid)
    form = ResponsesFileForm(request.POST, request.FILES)
    if not can_write(request.user):
        return _refused(request)
    if not form.is_valid():
        messages.error(request, _("Choose a CSV file."))
        return redirect(campaign.get_absolute_url())
    try:
        rows = read_rows(form.cleaned_data["file"])
        result = services.responses_import(
            campaign=campaign, rows=rows, actor=request.user
        )
    except ClientbookError as exc:
        messages.error(request, exc.message)
        return redirect(campaign.get_absolute_url())
    return render(
        request,
        "campaigns/responses_result.html",
        {"campaign": campaign, "result": result},
    )


@login_required
def do_not_contact(request):
    form = DoNotContactForm(request.POST or None)
    if request.method == "POST":
        if not can_write(request.user):
            return _refused(request)
        if form.is_valid():
            try:
                services.do_not_contact_add(actor=request.user, **form.cleaned_data)
            except ClientbookError as exc:
                form.add_error("value", exc.message)
            else:
                messages.success(request, _("Added to the do-not-contact list."))
                return redirect("campaigns:do_not_contact")
    entries = selectors.do_not_contact_list()
    return render(
        request,
        "campaigns/do_not_contact.html",
        {
            "form": form,
            "entries": entries[:500],
            "total": entries.count(),
            "can_write": can_write(request.user),
            "can_view_pii": can_view_pii(request.user),
        },
    )


@login_required
@require_POST
def do_not_contact_lift(request, pk):
    entry = DoNotContact.objects.filter(pk=pk).first()
    if entry is None:
        raise Http404
    try:
        services.do_not_contact_lift(entry=entry, actor=request.user)
    except ClientbookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Taken off the do-not-contact list."))
    return redirect("campaigns:do_not_contact")
