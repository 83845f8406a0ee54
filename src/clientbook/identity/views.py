"""The duplicates pages: the review queue, a pair side by side, runs and
merges. Views read with selectors and write with services; a
`ClientbookError` becomes a message, never a traceback."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clientbook.customers.models import Customer
from clientbook.errors import ClientbookError
from clientbook.identity import selectors
from clientbook.identity.models import PairStatus, RunStatus
from clientbook.identity.services import (
    customer_unmerge,
    dedupe_run_start,
    duplicate_pair_accept,
    duplicate_pair_reject,
    duplicate_pairs_decide,
)
from clientbook.org.access import can_write, is_branch_scoped

PAGE_SIZE = 50


def _refused(request, exc: ClientbookError, back_url: str = "") -> HttpResponse:
    context = {"message": exc.message, "back_url": back_url}
    return render(request, "web/error.html", context, status=exc.status)


def _may_run(user) -> bool:
    return can_write(user) and not is_branch_scoped(user)


@login_required
def queue(request):
    """The pairs waiting for a decision, surest first, and the latest runs."""
    status = request.GET.get("status", PairStatus.PENDING)
    if status not in PairStatus.values:
        status = PairStatus.PENDING
    pairs = selectors.pair_list_for_user(user=request.user, status=status)
    page = Paginator(pairs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "statuses": PairStatus.choices,
        "runs": selectors.run_list(limit=5),
        "writable": can_write(request.user),
        "may_run": _may_run(request.user),
    }
    return render(request, "identity/queue.html", context)


@login_required
def pair_detail(request, uuid):
    pair = selectors.pair_get_for_user(user=request.user, uuid=uuid)
    if pair is None:
        raise Http404(_("No such pair."))
    context = {
        "pair": pair,
        "rows": selectors.pair_side_by_side(user=request.user, pair=pair),
        "evidence": selectors.evidence_rows(pair),
        "writable": can_write(request.user) and pair.status == PairStatus.PENDING,
    }
    return render(request, "identity/pair.html", context)


@login_required
@require_POST
def pair_decide(request, uuid):
    pair = selectors.pair_get_for_user(user=request.user, uuid=uuid)
    if pair is None:
        raise Http404(_("No such pair."))
    back = request.path.rsplit("decide/", 1)[0]
    try:
        if request.POST.get("decision") == "accept":
            survivor = None
            if request.POST.get("survivor"):
                survivor = Customer.objects.filter(
                    uuid=request.POST["survivor"],
                    pk__in=[pair.customer_a_id, pair.customer_b_id],
                ).first()
            merge = duplicate_pair_accept(
                pair=pair, actor=request.user, survivor=survivor
            )
            messages.success(
                request,
                _("Merged %(duplicate)s into %(survivor)s.")
                % {"duplicate": merge.duplicate, "survivor": merge.survivor},
            )
        else:
            duplicate_pair_reject(pair=pair, actor=request.user)
            messages.success(request, _("Marked as different people."))
    except ClientbookError as exc:
        return _refused(request, exc, back)
    return redirect("identity:queue")


@login_required
@require_POST
def bulk_decide(request):
    uuids = request.POST.getlist("pair")
    pairs = selectors.pair_list_for_user(user=request.user).filter(uuid__in=uuids)
    try:
        counts = duplicate_pairs_decide(
            pairs=list(pairs),
            accept=request.POST.get("decision") == "accept",
            actor=request.user,
        )
    except ClientbookError as exc:
        return _refused(request, exc)
    messages.success(
        request,
        _("%(done)d pairs decided, %(failed)d could not be.") % counts,
    )
    return redirect("identity:queue")


@login_required
@require_POST
def run_start(request):
    try:
        run = dedupe_run_start(
            actor=request.user,
            auto_merge_above=_float(request.POST.get("auto_merge_above")),
            review_above=_float(request.POST.get("review_above")),
            dry_run=bool(request.POST.get("dry_run")),
        )
    except ClientbookError as exc:
        return _refused(request, exc)
    return redirect("identity:run", uuid=run.uuid)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return -1.0  # refused by the config's validation with a clear message


@login_required
def run_detail(request, uuid):
    run = selectors.run_get(uuid=uuid)
    if run is None:
        raise Http404(_("No such run."))
    merges = selectors.merge_list_for_user(user=request.user, run=run)
    page = Paginator(merges, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "run": run,
        "active": run.status in (RunStatus.PENDING, RunStatus.RUNNING),
        "page": page,
        "writable": can_write(request.user),
        "crowded": selectors.crowded_blocks(run),
    }
    if request.htmx:
        return render(request, "identity/_run_status.html", context)
    return render(request, "identity/run.html", context)


@login_required
def merge_detail(request, uuid):
    merge = selectors.merge_get_for_user(user=request.user, uuid=uuid)
    if merge is None:
        raise Http404(_("No such merge."))
    context = {"merge": merge, "writable": can_write(request.user)}
    return render(request, "identity/merge.html", context)


@login_required
@require_POST
def merge_undo(request, uuid):
    merge = selectors.merge_get_for_user(user=request.user, uuid=uuid)
    if merge is None:
        raise Http404(_("No such merge."))
    try:
        customer_unmerge(merge=merge, actor=request.user)
    except ClientbookError as exc:
        return _refused(request, exc, request.path.rsplit("undo/", 1)[0])
    messages.success(request, _("The merge was undone; both customers are back."))
    return redirect("identity:merge", uuid=merge.uuid)
