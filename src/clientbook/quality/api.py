"""/api/v1/quality: the summary, one customer's quality, and the verification
checks (list, confirm). Thin: parse, call a selector or service, serialise."""

import datetime as dt
import uuid as uuid_lib

from django.utils.translation import gettext as _
from ninja import Router, Schema

from clientbook.customers.api import customer_or_404
from clientbook.errors import NotFound
from clientbook.org.access import scope_by_branch
from clientbook.quality import selectors, services
from clientbook.quality.errors import ErrorCode
from clientbook.quality.models import TaskStatus, VerificationTask

router = Router(tags=["quality"])


class GradeCount(Schema):
    grade: int
    count: int
    share: float


class BranchSummary(Schema):
    branch: str | None
    customers: int
    richness: float
    maintenance_rate: float
    invalid: int
    grades: list[GradeCount]


class SummaryOut(Schema):
    customers: int
    richness: float
    maintenance_rate: float
    invalid: int
    invalid_by_field: dict[str, int]
    grades: list[GradeCount]
    window_days: int
    computed_at: dt.datetime | None
    branches: list[BranchSummary]


class IssueOut(Schema):
    field: str
    code: str


class CustomerQualityOut(Schema):
    customer: uuid_lib.UUID
    completeness: float
    missing: list[str]
    issues: list[IssueOut]
    last_maintained_at: dt.datetime | None
    selections_recent: int
    selections_total: int
    has_past_usage: bool
    grade: int
    computed_at: dt.datetime


class TaskOut(Schema):
    uuid: uuid_lib.UUID
    customer: uuid_lib.UUID
    customer_name: str
    branch: str | None
    month: dt.date
    reason: str
    status: str
    grade: int | None
    changed_since: bool
    proposed_at: dt.datetime
    done_at: dt.datetime | None
    note: str


class TaskPage(Schema):
    items: list[TaskOut]
    page: int
    page_size: int
    has_next: bool


class ConfirmIn(Schema):
    outcome: str = TaskStatus.CONFIRMED
    note: str = ""


def _grades(figures) -> list[dict]:
    return [
        {"grade": g, "count": n, "share": round(s, 4)}
        for g, n, s in figures.grade_shares()
    ]


@router.get("/summary", response=SummaryOut)
def quality_summary(request):
    """Richness, maintenance rate, grades and invalid values of what the
    caller may see, in total and per branch."""
    summary = selectors.quality_summary(user=request.user)
    f = summary.figures
    return {
        "customers": f.customers,
        "richness": round(f.richness, 4),
        "maintenance_rate": round(f.maintenance_rate, 4),
        "invalid": f.invalid,
        "invalid_by_field": f.invalid_by_field,
        "grades": _grades(f),
        "window_days": summary.window_days,
        "computed_at": summary.computed_at,
        "branches": [
            {
                "branch": row.branch.code if row.branch else None,
                "customers": row.figures.customers,
                "richness": round(row.figures.richness, 4),
                "maintenance_rate": round(row.figures.maintenance_rate, 4),
                "invalid": row.figures.invalid,
                "grades": _grades(row.figures),
            }
            for row in summary.branches
        ],
    }


@router.get("/customers/{uuid}", response=CustomerQualityOut)
def customer_quality(request, uuid: uuid_lib.UUID):
    customer = customer_or_404(request, uuid)
    row, issues = selectors.customer_quality_get(customer=customer)
    if row is None:
        raise NotFound(
            ErrorCode.NOT_FOUND,
            _("This customer's quality has not been computed yet."),
            value=str(uuid),
        )
    return {
        "customer": customer.uuid,
        "completeness": row.completeness,
        "missing": row.missing,
        "issues": [{"field": f, "code": c} for f, c in issues],
        "last_maintained_at": row.last_maintained_at,
        "selections_recent": row.selections_recent,
        "selections_total": row.selections_total,
        "has_past_usage": row.has_past_usage,
        "grade": row.grade,
        "computed_at": row.computed_at,
    }


def _task_out(task: VerificationTask) -> dict:
    branch = task.customer.branch
    return {
        "uuid": task.uuid,
        "customer": task.customer.uuid,
        "customer_name": task.customer.name,
        "branch": branch.code if branch else None,
        "month": task.month,
        "reason": task.reason,
        "status": task.status,
        "grade": task.grade,
        "changed_since": getattr(task, "changed_since", False),
        "proposed_at": task.proposed_at,
        "done_at": task.done_at,
        "note": task.note,
    }


@router.get("/tasks", response=TaskPage)
def task_list(
    request,
    status: str = TaskStatus.OPEN,
    reason: str = "",
    page: int = 1,
    page_size: int = 50,
):
    """Verification checks of the customers the caller may see (branch staff:
    their branch), most urgent first. `status=` empty lists every status."""
    page, page_size = max(page, 1), min(max(page_size, 1), 500)
    start = (page - 1) * page_size
    qs = selectors.task_list_for_user(
        user=request.user, status=status or None, reason=reason or None
    )
    rows = list(qs[start : start + page_size + 1])
    return {
        "items": [_task_out(t) for t in rows[:page_size]],
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
    }


@router.post("/tasks/{uuid}/confirm", response=TaskOut)
def task_confirm(request, uuid: uuid_lib.UUID, payload: ConfirmIn):
    """Staff checked the record: `confirmed` (still correct) or `corrected`."""
    qs = scope_by_branch(
        VerificationTask.objects.select_related("customer", "customer__branch"),
        request.user,
        field="customer__branch",
    )
    task = qs.filter(uuid=uuid).first()
    if task is None:
        raise NotFound(ErrorCode.NOT_FOUND, _("No such check."), value=str(uuid))
    task = services.verification_confirm(
        task=task, actor=request.user, outcome=payload.outcome, note=payload.note
    )
    return _task_out(task)
