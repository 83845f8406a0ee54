"""The quality pages: they render, stay within a fixed number of queries,
show each user only their branch, and refuse writes to read-only roles."""

import datetime as dt

import pytest
from django.urls import reverse

from clientbook.customers.models import Customer
from clientbook.quality.models import TaskStatus, VerificationTask
from clientbook.quality.services import (
    cleanup_propose,
    quality_compute,
    verification_rotate,
)
from clientbook.quality.tests.helpers import NATIONAL_ID, bare, person

MONTH = dt.date(2025, 3, 1)


def populate(source, branch, other_branch, n: int, start: int = 0):
    for i in range(start, start + n):
        person(
            source,
            branch if i % 2 else other_branch,
            name=f"客户{i}",
            identifiers=[("national_id", NATIONAL_ID)] if i == 0 else [],
            addresses=[{"street": f"路{i}号"}],
        )


def test_dashboard_needs_login(client):
    response = client.get(reverse("quality:dashboard"))
    assert response.status_code == 302


def test_dashboard_renders_without_figures(client, manager):
    client.force_login(manager)
    response = client.get(reverse("quality:dashboard"))
    assert response.status_code == 200


def test_dashboard_queries_do_not_grow_with_customers(
    client, manager, source, branch, other_branch, django_assert_max_num_queries
):
    client.force_login(manager)
    populate(source, branch, other_branch, 4)
    quality_compute()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        response = client.get(reverse("quality:dashboard"))
    assert response.status_code == 200
    populate(source, branch, other_branch, 20, start=4)
    quality_compute()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("quality:dashboard"))
    body = response.content.decode()
    assert "24" in body
    assert branch.name in body and other_branch.name in body
    assert "<svg" in body and "<polyline" in body


def test_branch_staff_see_their_branch_only(
    client, branch_staff, source, branch, other_branch
):
    populate(source, branch, other_branch, 6)
    quality_compute()
    client.force_login(branch_staff)
    response = client.get(reverse("quality:dashboard"))
    summary = response.context["summary"]
    assert summary.figures.customers == 3
    assert [r.branch for r in summary.branches] == [branch]
    verification_rotate(month=MONTH)
    response = client.get(reverse("quality:tasks"))
    names = {t.customer.branch_id for t in response.context["page"].object_list}
    assert names == {branch.pk}


def test_tasks_page_query_count_is_pinned(
    client, manager, source, branch, other_branch, django_assert_num_queries
):
    populate(source, branch, other_branch, 40)
    quality_compute()
    verification_rotate(month=MONTH)
    client.force_login(manager)
    client.get(reverse("quality:tasks"))  # warm the session and user caches
    # session, user, count, page, the user's branch in the top bar
    with django_assert_num_queries(5):
        response = client.get(reverse("quality:tasks"))
    assert len(response.context["page"].object_list) == 4


def test_staff_confirm_a_check_from_the_list(client, branch_staff, source, branch):
    customer = bare(source, branch)
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get()
    client.force_login(branch_staff)
    response = client.post(
        reverse("quality:task_confirm", args=[task.uuid]),
        {"outcome": "confirmed", "note": "已电话核实"},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.CONFIRMED and task.done_by == branch_staff
    assert customer.quality.grade == 2


def test_other_branch_task_is_not_found(client, branch_staff, source, other_branch):
    bare(source, other_branch)
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get()
    client.force_login(branch_staff)
    response = client.post(reverse("quality:task_confirm", args=[task.uuid]))
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.status == "open"


def test_auditor_reads_but_cannot_confirm(client, auditor, source, branch):
    bare(source, branch)
    quality_compute()
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get()
    client.force_login(auditor)
    for name in ("quality:dashboard", "quality:tasks", "quality:cleanup"):
        assert client.get(reverse(name)).status_code == 200
    confirm_url = reverse("quality:task_confirm", args=[task.uuid])
    assert confirm_url not in client.get(reverse("quality:tasks")).content.decode()
    client.post(confirm_url)
    task.refresh_from_db()
    assert task.status == "open"
    client.post(reverse("quality:rotate"))
    client.post(reverse("quality:cleanup_action"), {"action": "propose"})
    assert VerificationTask.objects.count() == 1


def test_manager_archives_from_the_cleanup_list(client, manager, source, branch):
    dead = bare(source, branch)
    cleanup_propose(month=MONTH)
    task = VerificationTask.objects.get()
    client.force_login(manager)
    assert client.get(reverse("quality:cleanup")).status_code == 200
    response = client.post(
        reverse("quality:cleanup_action"), {"action": "archive", "task": [task.uuid]}
    )
    assert response.status_code == 302
    dead = Customer.objects.get(pk=dead.pk)
    assert dead.archived_at is not None


@pytest.mark.parametrize("name", ["quality:rotate", "quality:recompute"])
def test_branch_staff_cannot_run_manager_actions(
    client, branch_staff, name, source, branch
):
    bare(source, branch)
    client.force_login(branch_staff)
    client.post(reverse(name))
    assert not VerificationTask.objects.exists()


def test_manager_queues_a_recomputation(
    client, manager, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("quality:recompute"))
    assert DBTaskResult.objects.filter(task_path__contains="quality_compute").exists()
