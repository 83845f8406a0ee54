"""The quality pages: the dashboard, the branch's verification checks and the
managers' clean-up list. Views read with selectors and write with services;
a `ClientbookError` becomes a message, never a traceback."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from clientbook.errors import ClientbookError
from clientbook.org.access import can_write, scope_by_branch
from clientbook.org.models import Role
from clientbook.quality import selectors, services
from clientbook.quality.charts import trend_chart
from clientbook.quality.config import quality_config
from clientbook.quality.models import (
    Grade,
    TaskReason,
    TaskStatus,
    VerificationTask,
)
from clientbook.quality.rules import ATTRIBUTE_LABELS

PAGE_SIZE = 50
TREND_LABELS = {
    "richness": gettext_lazy("Attribute richness"),
    "maintenance": gettext_lazy("Maintenance rate"),
    "good": gettext_lazy("Grades 1–2"),
}


def is_manager(user) -> bool:
    return can_write(user) and (
        user.is_superuser or user.role in (Role.MANAGER, Role.ADMIN)
    )


def _bar(count: int, total: int) -> float:
    return round(100 * count / total, 1) if total else 0.0


@login_required
def dashboard(request):
    config = quality_config()
    summary = selectors.quality_summary(user=request.user, config=config)
    figures = summary.figures
    invalid = sorted(figures.invalid_by_field.items(), key=lambda i: -i[1])
    trend = selectors.snapshot_trend(user=request.user, days=config.trend_days)
    context = {
        "summary": summary,
        "figures": figures,
        "grades": [
            {
                "grade": g,
                "label": Grade(g).label,
                "count": n,
                "share": share,
                "width": round(share * 100, 1),
            }
            for g, n, share in figures.grade_shares()
        ],
        "invalid": [
            {
                "field": ATTRIBUTE_LABELS.get(f, f),
                "count": n,
                "width": _bar(n, figures.customers),
            }
            for f, n in invalid
        ],
        "chart": trend_chart(trend, TREND_LABELS),
        "open_tasks": selectors.task_list_for_user(
            user=request.user, reason=TaskReason.ROTATION
        ).count(),
        "is_manager": is_manager(request.user),
        "branch_rows": summary.branches,
    }
    return render(request, "quality/dashboard.html", context)


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@login_required
def tasks(request):
    """The monthly checks of the user's branch (all branches for others)."""
    status = request.GET.get("status", TaskStatus.OPEN)
    if status not in TaskStatus.values:
        status = TaskStatus.OPEN
    qs = selectors.task_list_for_user(
        user=request.user, status=status, reason=TaskReason.ROTATION
    )
    page = _page(request, qs)
    page.object_list = list(page.object_list)
    for task in page.object_list:
        quality = getattr(task.customer, "quality", None)
        task.missing_labels = [
            ATTRIBUTE_LABELS.get(k, k) for k in (quality.missing if quality else [])
        ]
    context = {
        "page": page,
        "status": status,
        "statuses": [
            (s, TaskStatus(s).label)
            for s in (TaskStatus.OPEN, TaskStatus.CONFIRMED, TaskStatus.CORRECTED)
        ],
        "writable": can_write(request.user),
    }
    return render(request, "quality/tasks.html", context)


def _visible_task(request, uuid) -> VerificationTask:
    qs = scope_by_branch(
        VerificationTask.objects.select_related("customer"),
        request.user,
        field="customer__branch",
    )
    return get_object_or_404(qs, uuid=uuid)


@login_required
@require_POST
def task_confirm(request, uuid):
    task = _visible_task(request, uuid)
    outcome = request.POST.get("outcome", TaskStatus.CONFIRMED)
    try:
        services.verification_confirm(
            task=task,
            actor=request.user,
            outcome=outcome,
            note=request.POST.get("note", ""),
        )
    except ClientbookError as exc:
        messages.error(request, exc.message)
        return redirect("quality:tasks")
    messages.success(
        request, _("%(name)s: check recorded.") % {"name": task.customer.name}
    )
    return redirect("quality:tasks")


def _refuse_unless_manager(request) -> bool:
    if is_manager(request.user):
        return False
    messages.error(request, _("Only a manager may do this."))
    return True


@login_required
@require_POST
def rotate(request):
    if _refuse_unless_manager(request):
        return redirect("quality:dashboard")
    try:
        created = services.verification_rotate(actor=request.user)
    except ClientbookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("%(count)d records proposed for checking this month.")
            % {"count": sum(created.values())},
        )
    return redirect("quality:dashboard")


@login_required
@require_POST
def recompute(request):
    """Queues a recomputation for `clientbook worker`."""
    if _refuse_unless_manager(request):
        return redirect("quality:dashboard")
    from clientbook.quality.tasks import quality_compute_task

    transaction.on_commit(quality_compute_task.enqueue)
    messages.success(
        request, _("Recomputation queued: the figures update when the worker ran it.")
    )
    return redirect("quality:dashboard")


@login_required
def cleanup(request):
    """Clean-up candidates awaiting a manager's decision."""
    qs = selectors.cleanup_list_for_user(user=request.user)
    page = _page(request, qs)
    context = {"page": page, "is_manager": is_manager(request.user)}
    return render(request, "quality/cleanup.html", context)


@login_required
@require_POST
def cleanup_action(request):
    if _refuse_unless_manager(request):
        return redirect("quality:cleanup")
    action = request.POST.get("action")
    try:
        if action == "propose":
            count = services.cleanup_propose(actor=request.user)
            messages.success(
                request, _("%(count)d clean-up candidates proposed.") % {"count": count}
            )
        elif action in ("archive", "keep"):
            chosen = selectors.cleanup_list_for_user(user=request.user).filter(
                uuid__in=request.POST.getlist("task")
            )
            if action == "archive":
                result = services.cleanup_confirm(tasks=chosen, actor=request.user)
                messages.success(
                    request,
                    _(
                        "%(archived)d records archived, %(kept)d kept (they have "
                        "gained a phone, an ID or usage)."
                    )
                    % result,
                )
            else:
                count = services.cleanup_keep(tasks=chosen, actor=request.user)
                messages.success(
                    request, _("%(count)d records kept.") % {"count": count}
                )
    except ClientbookError as exc:
        messages.error(request, exc.message)
    return redirect("quality:cleanup")
