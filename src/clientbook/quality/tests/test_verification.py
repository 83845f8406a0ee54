"""The monthly rotation, confirming checks, and the clean-up of dead records."""

import datetime as dt

import pytest

from clientbook.customers.models import Customer
from clientbook.customers.services import customer_update, identifier_add
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.privacy.models import AuditEntry
from clientbook.quality.models import CustomerQuality, TaskStatus, VerificationTask
from clientbook.quality.selectors import task_list_for_user
from clientbook.quality.services import (
    cleanup_confirm,
    cleanup_keep,
    cleanup_propose,
    quality_compute,
    selection_record,
    verification_confirm,
    verification_rotate,
)
from clientbook.quality.tests.helpers import audit_at, bare, days_ago, person

MONTH = dt.date(2025, 3, 1)


@pytest.fixture
def two_branches(source, branch, other_branch):
    mine = [bare(source, branch, name=f"甲{i}") for i in range(50)]
    theirs = [bare(source, other_branch, name=f"乙{i}") for i in range(25)]
    return mine, theirs


def test_rotation_picks_the_share_of_each_branch(two_branches, branch, other_branch):
    quality_compute()
    created = verification_rotate(month=MONTH)
    # ceil(8% of 50) = 4, ceil(8% of 25) = 2
    assert created == {branch.pk: 4, other_branch.pk: 2}
    tasks = VerificationTask.objects.filter(month=MONTH)
    assert tasks.filter(customer__branch=branch).count() == 4
    entry = AuditEntry.objects.get(action="verification.rotate")
    assert entry.after["month"] == "2025-03"


def test_rotation_is_deterministic_and_idempotent(two_branches):
    quality_compute()
    verification_rotate(month=MONTH)
    first = set(VerificationTask.objects.values_list("customer_id", flat=True))
    assert verification_rotate(month=MONTH) == {}
    VerificationTask.objects.all().delete()
    verification_rotate(month=MONTH)
    again = set(VerificationTask.objects.values_list("customer_id", flat=True))
    assert first == again


def test_rotation_prefers_low_grades_and_old_maintenance(source, branch, settings):
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "QUALITY": {"VERIFICATION_SHARE": 0.5},
    }
    fresh = [bare(source, branch, name=f"新{i}") for i in range(2)]
    stale = [bare(source, branch, name=f"旧{i}") for i in range(2)]
    for c in fresh:
        audit_at(c, "customer.update", days_ago(10))
    for c in stale:
        audit_at(c, "customer.update", days_ago(900))
    quality_compute()
    verification_rotate(month=MONTH)
    picked = set(VerificationTask.objects.values_list("customer_id", flat=True))
    assert picked == {c.pk for c in stale}


def test_branch_staff_see_only_their_branch_tasks(
    two_branches, branch_staff, branch, manager
):
    quality_compute()
    verification_rotate(month=MONTH)
    visible = task_list_for_user(user=branch_staff)
    assert visible.count() == 4
    assert {t.customer.branch_id for t in visible} == {branch.pk}
    assert task_list_for_user(user=manager).count() == 6


def test_confirming_counts_as_maintenance_and_raises_the_grade(
    source, branch, branch_staff
):
    customer = bare(source, branch)
    quality_compute()
    assert CustomerQuality.objects.get(customer=customer).grade == 4
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get(customer=customer)
    # when
    verification_confirm(task=task, actor=branch_staff, note="电话核实")
    # then
    task.refresh_from_db()
    assert (task.status, task.done_by, task.note) == (
        "confirmed",
        branch_staff,
        "电话核实",
    )
    entry = AuditEntry.objects.get(action="customer.verify")
    assert (entry.customer, entry.actor) == (customer, branch_staff)
    assert entry.after["outcome"] == "confirmed"
    quality = CustomerQuality.objects.get(customer=customer)
    assert quality.grade == 2 and quality.last_maintained_at == entry.at
    with pytest.raises(Conflict) as exc:
        verification_confirm(task=task, actor=branch_staff)
    assert exc.value.code == "task_closed"


def test_other_branch_and_auditors_cannot_confirm(
    source, other_branch, branch_staff, auditor
):
    customer = bare(source, other_branch)
    quality_compute()
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get(customer=customer)
    for actor, code in ((branch_staff, "other_branch"), (auditor, "read_only")):
        with pytest.raises(AccessDenied) as exc:
            verification_confirm(task=task, actor=actor)
        assert exc.value.code == code
    task.refresh_from_db()
    assert task.status == "open"
    assert not AuditEntry.objects.filter(action="customer.verify").exists()


def test_an_unknown_outcome_is_refused(source, branch, branch_staff):
    bare(source, branch)
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get()
    with pytest.raises(ValidationFailed) as exc:
        verification_confirm(task=task, actor=branch_staff, outcome="archived")
    assert exc.value.code == "invalid_outcome"
    task.refresh_from_db()
    assert task.status == "open"


def test_a_correction_through_the_customer_page_closes_the_check(
    source, branch, branch_staff
):
    customer = bare(source, branch)
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get()
    assert not task_list_for_user(user=branch_staff).get().changed_since
    customer_update(customer=customer, actor=branch_staff, occupation="司机")
    assert task_list_for_user(user=branch_staff).get().changed_since
    result = quality_compute()
    task.refresh_from_db()
    assert task.status == "corrected" and result["tasks_closed"] == 1
    assert CustomerQuality.objects.get(customer=customer).grade == 2


def test_only_managers_rotate(branch_staff, marketer):
    for actor in (branch_staff, marketer):
        with pytest.raises(AccessDenied) as exc:
            verification_rotate(actor=actor, month=MONTH)
        assert exc.value.code == "managers_only"


# Clean-up ---------------------------------------------------------------------------


@pytest.fixture
def cleanup_set(source, branch, marketer):
    dead = bare(source, branch, name="死")
    with_phone = person(
        source, branch, name="有电话", identifiers=[("mobile", "13912345678")]
    )
    with_id = person(
        source, branch, name="有证", identifiers=[("national_id", "11010519491231002X")]
    )
    selected = bare(source, branch, name="选过")
    selection_record(
        customers=[selected], purpose="x", actor=marketer, at=days_ago(900)
    )
    emailed = person(
        source, branch, name="有邮件", identifiers=[("email", "a@example.cn")]
    )
    return {
        "dead": dead,
        "phone": with_phone,
        "id": with_id,
        "selected": selected,
        "emailed": emailed,
    }


def test_cleanup_proposes_only_dead_records_once(cleanup_set, manager):
    assert cleanup_propose(actor=manager, month=MONTH) == 2
    proposed = set(VerificationTask.objects.values_list("customer__name", flat=True))
    assert proposed == {"死", "有邮件"}
    assert cleanup_propose(actor=manager, month=MONTH) == 0
    assert AuditEntry.objects.filter(action="cleanup.propose").count() == 2


def test_cleanup_archives_after_confirmation_never_deletes(
    cleanup_set, manager, source
):
    cleanup_propose(actor=manager, month=MONTH)
    # the emailed one gained a phone since it was proposed
    identifier_add(
        customer=cleanup_set["emailed"],
        type="mobile",
        value="13812345678",
        source=source,
        actor=manager,
    )
    count = Customer.objects.count()
    result = cleanup_confirm(tasks=VerificationTask.objects.all(), actor=manager)
    assert result == {"archived": 1, "kept": 1}
    assert Customer.objects.count() == count
    dead = Customer.objects.get(pk=cleanup_set["dead"].pk)
    assert dead.archived_at is not None and dead.lifecycle_stage == "archived"
    assert Customer.objects.get(pk=cleanup_set["emailed"].pk).archived_at is None
    assert dict(VerificationTask.objects.values_list("customer__name", "status")) == {
        "死": "archived",
        "有邮件": "kept",
    }
    assert AuditEntry.objects.filter(
        action="customer.archive", customer=dead, actor=manager
    ).exists()
    assert AuditEntry.objects.get(action="cleanup.confirm").after["archived"] == 1
    # kept records are not proposed again
    assert cleanup_propose(actor=manager, month=MONTH) == 0


def test_cleanup_needs_a_manager(cleanup_set, manager, branch_staff, auditor):
    cleanup_propose(actor=manager, month=MONTH)
    for actor, code in ((branch_staff, "managers_only"), (auditor, "read_only")):
        with pytest.raises(AccessDenied) as exc:
            cleanup_confirm(tasks=VerificationTask.objects.all(), actor=actor)
        assert exc.value.code == code
    assert not Customer.objects.filter(archived_at__isnull=False).exists()
    assert VerificationTask.objects.filter(status="open").count() == 2


def test_cleanup_keep(cleanup_set, manager):
    cleanup_propose(actor=manager, month=MONTH)
    assert cleanup_keep(tasks=VerificationTask.objects.all(), actor=manager) == 2
    assert set(VerificationTask.objects.values_list("status", flat=True)) == {"kept"}
    assert not Customer.objects.filter(archived_at__isnull=False).exists()


def test_cleanup_tasks_are_not_confirmed_as_checks(cleanup_set, manager):
    cleanup_propose(actor=manager, month=MONTH)
    task = VerificationTask.objects.first()
    with pytest.raises(ValidationFailed):
        verification_confirm(task=task, actor=manager)
    assert VerificationTask.objects.filter(status=TaskStatus.OPEN).count() == 2
