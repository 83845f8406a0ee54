"""Reads of the quality app: the figures of the dashboard and the API, the
task lists. Every read is scoped to what the user may see, and each costs a
fixed number of queries however many customers there are."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from clientbook.org.access import is_branch_scoped, scope_by_branch
from clientbook.org.models import Branch
from clientbook.privacy.models import AuditEntry
from clientbook.quality.config import QualityConfig, quality_config
from clientbook.quality.models import (
    CustomerQuality,
    Grade,
    QualityIssue,
    QualitySnapshot,
    TaskReason,
    TaskStatus,
    VerificationTask,
)

LIVE_CUSTOMER = Q(
    customer__archived_at__isnull=True, customer__merged_into__isnull=True
)
GRADES = [g.value for g in Grade]


@dataclass
class Figures:
    """The quality of a set of customers (a branch, or all a user sees)."""

    customers: int = 0
    richness_sum: float = 0.0
    maintained: int = 0
    selected: int = 0
    invalid: int = 0
    grades: dict[int, int] = field(default_factory=lambda: dict.fromkeys(GRADES, 0))
    invalid_by_field: dict[str, int] = field(default_factory=dict)

    @property
    def richness(self) -> float:
        """Average attribute richness (属性丰富率), 0–1."""
        return self.richness_sum / self.customers if self.customers else 0.0

    @property
    def maintenance_rate(self) -> float:
        """Share maintained within the window (维护率), 0–1."""
        return self.maintained / self.customers if self.customers else 0.0

    @property
    def invalid_rate(self) -> float:
        return self.invalid / self.customers if self.customers else 0.0

    def grade_shares(self) -> list[tuple[int, int, float]]:
        """(grade, count, share) for grades 1–4."""
        total = self.customers or 1
        return [(g, self.grades[g], self.grades[g] / total) for g in GRADES]

    def add(self, other: "Figures") -> None:
        self.customers += other.customers
        self.richness_sum += other.richness_sum
        self.maintained += other.maintained
        self.selected += other.selected
        self.invalid += other.invalid
        for g in GRADES:
            self.grades[g] += other.grades[g]
        for key, count in other.invalid_by_field.items():
            self.invalid_by_field[key] = self.invalid_by_field.get(key, 0) + count


def quality_rows_for_user(user) -> QuerySet[CustomerQuality]:
    """Quality rows of the live customers `user` may see."""
    return scope_by_branch(
        CustomerQuality.objects.filter(LIVE_CUSTOMER), user, field="customer__branch"
    )


def figures_by_branch(
    rows: QuerySet[CustomerQuality], *, since: dt.datetime
) -> dict[int | None, Figures]:
    """{branch id (None: no branch): Figures}, in two queries."""
    grade_counts = {f"grade_{g}": Count("pk", filter=Q(grade=g)) for g in GRADES}
    aggregates = (
        rows.order_by()
        .values("customer__branch_id")
        .annotate(
            customers=Count("pk"),
            richness_sum=Sum("completeness"),
            maintained=Count("pk", filter=Q(last_maintained_at__gte=since)),
            selected=Count("pk", filter=Q(selections_recent__gt=0)),
            invalid=Count("pk", filter=Q(issue_count__gt=0)),
            **grade_counts,
        )
    )
    result: dict[int | None, Figures] = {}
    for row in aggregates:
        result[row["customer__branch_id"]] = Figures(
            customers=row["customers"],
            richness_sum=float(row["richness_sum"] or 0),
            maintained=row["maintained"],
            selected=row["selected"],
            invalid=row["invalid"],
            grades={g: row[f"grade_{g}"] for g in GRADES},
        )
    issues = (
        QualityIssue.objects.filter(
            Exists(rows.filter(customer_id=OuterRef("customer_id")))
        )
        .order_by()
        .values("customer__branch_id", "field")
        .annotate(n=Count("customer_id", distinct=True))
    )
    for row in issues:
        figures = result.setdefault(row["customer__branch_id"], Figures())
        figures.invalid_by_field[row["field"]] = row["n"]
    return result


def total(by_branch: dict[int | None, Figures]) -> Figures:
    figures = Figures()
    for part in by_branch.values():
        figures.add(part)
    return figures


def window_start(config: QualityConfig, now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=config.window_days)


@dataclass
class BranchRow:
    branch: Branch | None
    figures: Figures


@dataclass
class Summary:
    figures: Figures
    branches: list[BranchRow]
    computed_at: dt.datetime | None
    window_days: int


def quality_summary(*, user, config: QualityConfig | None = None) -> Summary:
    """The dashboard's figures for what `user` sees, overall and by branch."""
    config = config or quality_config()
    rows = quality_rows_for_user(user)
    by_branch = figures_by_branch(rows, since=window_start(config))
    names = Branch.objects.in_bulk([b for b in by_branch if b is not None])
    branches = sorted(
        (BranchRow(names.get(b) if b else None, f) for b, f in by_branch.items()),
        key=lambda r: (r.branch is None, r.branch.code if r.branch else ""),
    )
    latest = rows.order_by("-computed_at").values_list("computed_at", flat=True)
    return Summary(
        figures=total(by_branch),
        branches=branches,
        computed_at=latest.first(),
        window_days=config.window_days,
    )


def snapshot_trend(
    *, user, days: int, today: dt.date | None = None
) -> list[QualitySnapshot]:
    """The daily snapshots of the last `days` days: of the user's branch for
    branch staff, of everything otherwise."""
    today = today or timezone.localdate()
    qs = QualitySnapshot.objects.filter(day__gt=today - dt.timedelta(days=days))
    if user is None or not user.is_authenticated:
        return []
    if is_branch_scoped(user):
        qs = qs.filter(branch_id=user.branch_id) if user.branch_id else qs.none()
    else:
        qs = qs.filter(branch__isnull=True)
    return list(qs.order_by("day"))


def customer_quality_get(*, customer) -> tuple[CustomerQuality | None, list]:
    """The stored row of one customer and its (field, code) issues."""
    row = CustomerQuality.objects.filter(customer=customer).first()
    issues = list(
        QualityIssue.objects.filter(customer=customer)
        .order_by("field", "code")
        .values_list("field", "code")
    )
    return row, issues


def task_list_for_user(
    *,
    user,
    status: str | None = TaskStatus.OPEN,
    reason: str | None = None,
    config: QualityConfig | None = None,
) -> QuerySet[VerificationTask]:
    """Verification tasks of the customers `user` may see, most urgent first,
    each annotated `changed_since` (maintained since it was proposed)."""
    config = config or quality_config()
    qs = scope_by_branch(VerificationTask.objects.all(), user, field="customer__branch")
    if status:
        qs = qs.filter(status=status)
    if reason:
        qs = qs.filter(reason=reason)
    changed = AuditEntry.objects.filter(
        customer_id=OuterRef("customer_id"),
        action__in=config.maintenance_actions,
        at__gte=OuterRef("proposed_at"),
    )
    return (
        qs.select_related("customer", "customer__branch", "customer__quality")
        .annotate(changed_since=Exists(changed))
        .order_by("-month", "-grade", "customer__quality__last_maintained_at", "id")
    )


def cleanup_list_for_user(*, user) -> QuerySet[VerificationTask]:
    return task_list_for_user(user=user, reason=TaskReason.CLEANUP)
