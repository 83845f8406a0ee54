"""Every write of the quality app: the bulk computation and its snapshots,
the selection log campaigns write to, the monthly verification rotation and
the clean-up of dead records. Each is one transaction (the computation one
per chunk), records its actor, and leaves an audit entry."""

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.activity.models import Interaction
from clientbook.customers.models import Customer, Identifier
from clientbook.customers.services import customer_archive
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.org.access import ensure_can_edit, is_branch_scoped
from clientbook.org.models import Role
from clientbook.privacy.models import AuditEntry
from clientbook.privacy.services import audit_record
from clientbook.quality import compute
from clientbook.quality.config import QualityConfig, quality_config
from clientbook.quality.errors import ErrorCode
from clientbook.quality.models import (
    CustomerQuality,
    CustomerSelection,
    QualitySnapshot,
    SelectionRun,
    TaskReason,
    TaskStatus,
    VerificationTask,
)
from clientbook.quality.selectors import figures_by_branch, total, window_start
from clientbook.sales.models import Order

SELECTION_BATCH = 5000
# The rotation's tie-break: a multiplicative hash of the customer id, the
# same in SQLite and PostgreSQL integer arithmetic (no random() involved).
_HASH_FACTOR, _HASH_PRIME = 2654435761, 4294967291
TASK_ENTITY = VerificationTask._meta.label_lower


def _clock(config: QualityConfig, now: dt.datetime | None = None) -> compute.Clock:
    now = now or timezone.now()
    return compute.Clock(
        now=now, today=timezone.localdate(now), since=window_start(config, now)
    )


def _audit_batch(*, actor, action: str, entity_id: str, after: dict) -> AuditEntry:
    """One entry for a set-based write that has no single object."""
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        entity=TASK_ENTITY,
        entity_id=entity_id,
        after=after,
    )


def _ensure_manager(actor) -> None:
    """Managers and administrators (or the system itself) only."""
    ensure_can_edit(actor)
    if actor is not None and not (
        actor.is_superuser or actor.role in (Role.MANAGER, Role.ADMIN)
    ):
        raise AccessDenied(ErrorCode.MANAGERS_ONLY, _("Only a manager may do this."))


def month_start(day: dt.date | None = None) -> dt.date:
    return (day or timezone.localdate()).replace(day=1)


# Computation --------------------------------------------------------------------


def quality_compute(
    *,
    actor=None,
    config: QualityConfig | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    take_snapshot: bool = True,
) -> dict[str, int]:
    """Recomputes completeness, validity, freshness, usage and the grade of
    every live customer in bulk, closes tasks whose record was since
    maintained, and takes the day's snapshot.

    Returns:
        {"customers": computed, "tasks_closed": n, "snapshots": rows}
    """
    ensure_can_edit(actor)
    config = config or quality_config()
    clock = _clock(config, now)
    count = compute.compute_all(config=config, clock=clock, progress=progress)
    closed = verification_close_maintained(config=config, now=clock.now)
    snapshots = (
        quality_snapshot_take(config=config, now=clock.now) if take_snapshot else 0
    )
    _audit_batch(
        actor=actor,
        action="quality.compute",
        entity_id=clock.today.isoformat(),
        after={"customers": count, "tasks_closed": closed},
    )
    return {"customers": count, "tasks_closed": closed, "snapshots": snapshots}


def customer_quality_refresh(
    *, customer: Customer, config: QualityConfig | None = None
) -> CustomerQuality | None:
    """Recomputes one customer's row now (after a verification, say)."""
    config = config or quality_config()
    compute.compute_range(customer.pk, customer.pk, config=config, clock=_clock(config))
    return CustomerQuality.objects.filter(customer=customer).first()


@transaction.atomic
def quality_snapshot_take(
    *, config: QualityConfig | None = None, now: dt.datetime | None = None
) -> int:
    """Stores the day's figures per branch and in total (replacing the day's
    earlier snapshot); returns the rows written."""
    config = config or quality_config()
    now = now or timezone.now()
    day = timezone.localdate(now)
    rows = CustomerQuality.objects.filter(
        customer__archived_at__isnull=True, customer__merged_into__isnull=True
    )
    by_branch = figures_by_branch(rows, since=window_start(config, now))
    # Customers without a branch count only in the total (branch None).
    parts = [(b, f) for b, f in by_branch.items() if b is not None]
    parts.append((None, total(by_branch)))
    QualitySnapshot.objects.filter(day=day).delete()
    QualitySnapshot.objects.bulk_create(
        QualitySnapshot(
            day=day,
            branch_id=branch_id,
            customers=f.customers,
            richness=round(f.richness, 4),
            maintained=f.maintained,
            selected=f.selected,
            invalid=f.invalid,
            grade_1=f.grades[1],
            grade_2=f.grades[2],
            grade_3=f.grades[3],
            grade_4=f.grades[4],
            invalid_by_field=f.invalid_by_field,
            taken_at=now,
        )
        for branch_id, f in parts
    )
    return len(parts)


# The selection log ------------------------------------------------------------


def _customer_ids(customers: Iterable[Any] | QuerySet) -> list[int]:
    if isinstance(customers, QuerySet):
        return list(dict.fromkeys(customers.order_by().values_list("pk", flat=True)))
    ids = (c.pk if isinstance(c, Customer) else int(c) for c in customers)
    return list(dict.fromkeys(ids))


def _other_branch() -> AccessDenied:
    return AccessDenied(
        ErrorCode.OTHER_BRANCH, _("This customer belongs to another branch.")
    )


def _new_run(purpose, actor, at, channel, count) -> SelectionRun:
    return SelectionRun.objects.create(
        purpose=purpose,
        channel=channel[:20],
        selected_at=at,
        count=count,
        actor=actor if actor is not None and actor.pk else None,
    )


def _record_ids(ids: list[int], purpose, actor, at, channel) -> SelectionRun:
    if actor is not None and is_branch_scoped(actor):
        foreign = (
            Customer.objects.filter(pk__in=ids).exclude(branch_id=actor.branch_id)
            if len(ids) < SELECTION_BATCH
            else None
        )
        if foreign is None:
            allowed = set(
                Customer.objects.filter(branch_id=actor.branch_id).values_list(
                    "pk", flat=True
                )
            )
            outside = any(i not in allowed for i in ids)
        else:
            outside = foreign.exists()
        if outside:
            raise _other_branch()
    run = _new_run(purpose, actor, at, channel, len(ids))
    for start in range(0, len(ids), SELECTION_BATCH):
        CustomerSelection.objects.bulk_create(
            CustomerSelection(run=run, customer_id=i, selected_at=at)
            for i in ids[start : start + SELECTION_BATCH]
        )
    return run


def _record_queryset(customers: QuerySet, purpose, actor, at, channel) -> SelectionRun:
    """A queryset is logged by INSERT … SELECT: a campaign of a million
    members never passes through Python."""
    customers = customers.order_by()
    scoped = actor is not None and is_branch_scoped(actor)
    if scoped and customers.exclude(branch_id=actor.branch_id).exists():
        raise _other_branch()
    run = _new_run(purpose, actor, at, channel, customers.count())
    sql, params = customers.values("pk").distinct().query.sql_with_params()
    table = CustomerSelection._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (run_id, customer_id, selected_at)"  # noqa: S608
            f" SELECT %s, chosen.pk, %s FROM ({sql}) chosen",
            [run.pk, connection.ops.adapt_datetimefield_value(at), *params],
        )
    return run


@transaction.atomic
def selection_record(
    *,
    customers: Iterable[Any] | QuerySet,
    purpose: str,
    actor,
    at: dt.datetime | None = None,
    channel: str = "",
) -> SelectionRun:
    """Logs that `customers` (a queryset, customers or ids) were selected for
    `purpose` (a campaign's name, a call list); the grades count these.

    Raises:
        ValidationFailed: no purpose.
        AccessDenied: a read-only role, or branch staff selecting another
            branch's customers (nothing is written).
    """
    ensure_can_edit(actor)
    purpose = " ".join(str(purpose or "").split())[:200]
    if not purpose:
        raise ValidationFailed(
            ErrorCode.INVALID_PURPOSE,
            _("A selection needs a purpose."),
            field="purpose",
            value=purpose,
        )
    at = at or timezone.now()
    if isinstance(customers, QuerySet):
        run = _record_queryset(customers, purpose, actor, at, channel)
    else:
        run = _record_ids(_customer_ids(customers), purpose, actor, at, channel)
    audit_record(
        actor=actor,
        action="selection.record",
        obj=run,
        after={"purpose": purpose, "channel": run.channel, "count": run.count},
    )
    return run


# Verification -------------------------------------------------------------------


def _rotation_candidates(branch_id, month: dt.date, seed: int) -> QuerySet:
    """Live customers of a branch, lowest grade and least recently maintained
    first, then a fixed pseudo-random order given the month and seed."""
    busy = VerificationTask.objects.filter(customer_id=OuterRef("pk")).filter(
        Q(status=TaskStatus.OPEN) | Q(month=month, reason=TaskReason.ROTATION)
    )
    return (
        Customer.objects.filter(compute.LIVE, branch_id=branch_id)
        .exclude(Exists(busy))
        .annotate(
            rank_grade=Coalesce("quality__grade", Value(4)),
            tie=(F("id") * _HASH_FACTOR + seed) % _HASH_PRIME,
        )
        .order_by(
            "-rank_grade",
            F("quality__last_maintained_at").asc(nulls_first=True),
            "tie",
            "id",
        )
    )


@transaction.atomic
def verification_rotate(
    *,
    actor=None,
    month: dt.date | None = None,
    config: QualityConfig | None = None,
) -> dict[int | None, int]:
    """Proposes this month's share (default 8%) of each branch's live records
    for checking by that branch's staff. Idempotent: a second run in the same
    month only tops a branch up to its share.

    Returns:
        {branch id: tasks created}
    """
    _ensure_manager(actor)
    config = config or quality_config()
    month = month_start(month)
    seed = month.year * 100 + month.month + config.rotation_seed
    live = dict(
        Customer.objects.filter(compute.LIVE)
        .order_by()
        .values("branch_id")
        .annotate(n=Count("pk"))
        .values_list("branch_id", "n")
    )
    existing = dict(
        VerificationTask.objects.filter(month=month, reason=TaskReason.ROTATION)
        .order_by()
        .values("customer__branch_id")
        .annotate(n=Count("pk"))
        .values_list("customer__branch_id", "n")
    )
    now, created = timezone.now(), {}
    for branch_id, count in sorted(live.items(), key=lambda i: (i[0] is None, i[0])):
        need = math.ceil(count * config.verification_share) - existing.get(branch_id, 0)
        if need <= 0:
            continue
        picked = _rotation_candidates(branch_id, month, seed).values_list(
            "pk", "quality__grade"
        )[:need]
        tasks = VerificationTask.objects.bulk_create(
            VerificationTask(
                customer_id=pk,
                month=month,
                reason=TaskReason.ROTATION,
                grade=grade,
                proposed_at=now,
            )
            for pk, grade in picked
        )
        created[branch_id] = len(tasks)
    _audit_batch(
        actor=actor,
        action="verification.rotate",
        entity_id=f"rotation:{month:%Y-%m}",
        after={
            "month": f"{month:%Y-%m}",
            "share": config.verification_share,
            "created": {str(k): v for k, v in created.items()},
        },
    )
    return created


@transaction.atomic
def verification_confirm(
    *,
    task: VerificationTask,
    actor,
    outcome: str = TaskStatus.CONFIRMED,
    note: str = "",
    config: QualityConfig | None = None,
) -> VerificationTask:
    """Records that staff checked the record: still correct (`confirmed`) or
    corrected through the customer's page (`corrected`). Either counts as
    maintenance (audit action `customer.verify`) and the grade is recomputed.

    Raises:
        AccessDenied: a read-only role or another branch's customer.
        ValidationFailed: an unknown outcome, or a clean-up task (managers
            decide those in the clean-up list).
        Conflict: the task is closed already.
    """
    task = VerificationTask.objects.select_for_update().get(pk=task.pk)
    customer = task.customer
    ensure_can_edit(actor, customer)
    if outcome not in (TaskStatus.CONFIRMED, TaskStatus.CORRECTED):
        raise ValidationFailed(
            ErrorCode.INVALID_OUTCOME,
            _("“%(value)s” is not an outcome of a check.") % {"value": outcome},
            field="outcome",
            value=outcome,
        )
    if task.reason != TaskReason.ROTATION:
        raise ValidationFailed(
            ErrorCode.INVALID_OUTCOME,
            _("Clean-up candidates are decided in the clean-up list."),
            field="outcome",
            value=outcome,
        )
    if not task.is_open:
        raise Conflict(ErrorCode.TASK_CLOSED, _("This check is done already."))
    task.status = outcome
    task.done_at = timezone.now()
    task.done_by = actor if actor is not None and actor.pk else None
    task.note = " ".join(note.split())[:300]
    task.save(update_fields=["status", "done_at", "done_by", "note"])
    audit_record(
        actor=actor,
        action="customer.verify",
        obj=task,
        customer=customer,
        after={"outcome": outcome, "month": f"{task.month:%Y-%m}", "note": task.note},
    )
    customer_quality_refresh(customer=customer, config=config)
    return task


def verification_close_maintained(
    *, config: QualityConfig | None = None, now: dt.datetime | None = None
) -> int:
    """Closes, as corrected, the open monthly checks whose record staff have
    changed since it was proposed; returns how many."""
    config = config or quality_config()
    changed = AuditEntry.objects.filter(
        customer_id=OuterRef("customer_id"),
        action__in=config.maintenance_actions,
        at__gte=OuterRef("proposed_at"),
    )
    return VerificationTask.objects.filter(
        Exists(changed), reason=TaskReason.ROTATION, status=TaskStatus.OPEN
    ).update(status=TaskStatus.CORRECTED, done_at=now or timezone.now())


# Clean-up -----------------------------------------------------------------------


def cleanup_candidates() -> QuerySet[Customer]:
    """Live records never selected, with no national ID, no phone and no
    usage (orders, contacts): the postal seed's 无效数据."""
    mine = {"customer_id": OuterRef("pk")}
    return Customer.objects.filter(compute.LIVE).exclude(
        Exists(CustomerSelection.objects.filter(**mine))
        | Exists(
            Identifier.objects.filter(
                type__in=["national_id", "mobile", "landline"], **mine
            )
        )
        | Exists(Order.objects.filter(**mine))
        | Exists(Interaction.objects.filter(**mine))
    )


@transaction.atomic
def cleanup_propose(*, actor=None, month: dt.date | None = None) -> int:
    """Proposes every clean-up candidate for checking, once: a record a
    manager decided to keep is not proposed again. Returns how many."""
    _ensure_manager(actor)
    month = month_start(month)
    seen = VerificationTask.objects.filter(
        customer_id=OuterRef("pk"), reason=TaskReason.CLEANUP
    ).filter(Q(status__in=[TaskStatus.OPEN, TaskStatus.KEPT]) | Q(month=month))
    picked = (
        cleanup_candidates()
        .exclude(Exists(seen))
        .order_by("id")
        .values_list("pk", "quality__grade")
    )
    now = timezone.now()
    tasks = VerificationTask.objects.bulk_create(
        (
            VerificationTask(
                customer_id=pk,
                month=month,
                reason=TaskReason.CLEANUP,
                grade=grade,
                proposed_at=now,
            )
            for pk, grade in picked.iterator(chunk_size=2000)
        ),
        batch_size=2000,
    )
    _audit_batch(
        actor=actor,
        action="cleanup.propose",
        entity_id=f"cleanup:{month:%Y-%m}",
        after={"month": f"{month:%Y-%m}", "proposed": len(tasks)},
    )
    return len(tasks)


def _open_cleanup(tasks: Iterable[VerificationTask] | QuerySet) -> QuerySet:
    ids = [t.pk for t in tasks] if not isinstance(tasks, QuerySet) else tasks
    qs = VerificationTask.objects.filter(
        reason=TaskReason.CLEANUP, status=TaskStatus.OPEN
    )
    return qs.filter(pk__in=ids).select_for_update()


@transaction.atomic
def cleanup_confirm(
    *, tasks: Iterable[VerificationTask] | QuerySet, actor
) -> dict[str, int]:
    """A manager's confirmation: archives (never deletes) the proposed records
    that still qualify; those that gained a phone, an ID or usage since are
    kept. Closed tasks are skipped.

    Returns:
        {"archived": n, "kept": n}
    """
    _ensure_manager(actor)
    pending = list(_open_cleanup(tasks).select_related("customer"))
    still = set(
        cleanup_candidates()
        .filter(pk__in=[t.customer_id for t in pending])
        .values_list("pk", flat=True)
    )
    now, counts = timezone.now(), {"archived": 0, "kept": 0}
    for task in pending:
        if task.customer_id in still:
            customer_archive(
                customer=task.customer,
                actor=actor,
                reason=_(
                    "Data quality clean-up: never selected, no ID, no phone, no usage."
                ),
            )
            task.status = TaskStatus.ARCHIVED
        else:
            task.status = TaskStatus.KEPT
        task.done_at, task.done_by = now, actor if actor and actor.pk else None
        counts[task.status] += 1
    VerificationTask.objects.bulk_update(pending, ["status", "done_at", "done_by"])
    CustomerQuality.objects.filter(
        customer_id__in=[t.customer_id for t in pending if t.status == "archived"]
    ).delete()
    _audit_batch(
        actor=actor,
        action="cleanup.confirm",
        entity_id=f"cleanup:{now:%Y-%m-%d}",
        after={**counts, "tasks": [str(t.uuid) for t in pending]},
    )
    return counts


@transaction.atomic
def cleanup_keep(*, tasks: Iterable[VerificationTask] | QuerySet, actor) -> int:
    """A manager keeps proposed records; they are not proposed again."""
    _ensure_manager(actor)
    pending = list(_open_cleanup(tasks))
    now = timezone.now()
    for task in pending:
        task.status, task.done_at = TaskStatus.KEPT, now
        task.done_by = actor if actor and actor.pk else None
    VerificationTask.objects.bulk_update(pending, ["status", "done_at", "done_by"])
    _audit_batch(
        actor=actor,
        action="cleanup.keep",
        entity_id=f"cleanup:{now:%Y-%m-%d}",
        after={"kept": len(pending), "tasks": [str(t.uuid) for t in pending]},
    )
    return len(pending)
