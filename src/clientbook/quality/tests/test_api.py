"""/api/v1/quality: summary, per-customer quality, checks list and confirm."""

import datetime as dt

from clientbook.privacy.models import AuditEntry
from clientbook.quality.models import VerificationTask
from clientbook.quality.services import quality_compute, verification_rotate
from clientbook.quality.tests.helpers import NATIONAL_ID, bare, person
from clientbook.tests.api import ApiClient

MONTH = dt.date(2025, 3, 1)


def test_summary_is_scoped_by_branch(
    source, branch, other_branch, manager, branch_staff
):
    bare(source, branch, name="甲")
    person(
        source,
        other_branch,
        name="乙",
        identifiers=[("national_id", NATIONAL_ID)],
        gender="M",
    )
    quality_compute()
    body = ApiClient(manager).get("/quality/summary").json()
    assert body["customers"] == 2
    assert body["invalid_by_field"] == {"national_id": 1}
    assert [g["count"] for g in body["grades"]] == [0, 0, 0, 2]
    assert {b["branch"] for b in body["branches"]} == {"SH01", "BJ01"}
    mine = ApiClient(branch_staff).get("/quality/summary").json()
    assert mine["customers"] == 1 and mine["branches"][0]["branch"] == "SH01"


def test_customer_quality(source, branch, other_branch, branch_staff):
    customer = person(
        source, branch, identifiers=[("national_id", NATIONAL_ID)], gender="M"
    )
    stranger = bare(source, other_branch)
    api = ApiClient(branch_staff)
    assert api.get(f"/quality/customers/{customer.uuid}").status_code == 404
    quality_compute()
    body = api.get(f"/quality/customers/{customer.uuid}").json()
    assert body["grade"] == 4
    assert body["issues"] == [{"field": "national_id", "code": "gender_mismatch"}]
    assert body["completeness"] == 0.3  # name, gender, national ID
    response = api.get(f"/quality/customers/{stranger.uuid}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_tasks_list_and_confirm(source, branch, other_branch, branch_staff, auditor):
    mine = bare(source, branch, name="甲")
    bare(source, other_branch, name="乙")
    verification_rotate(month=MONTH)
    api = ApiClient(branch_staff)
    body = api.get("/quality/tasks").json()
    assert [t["customer"] for t in body["items"]] == [str(mine.uuid)]
    task = body["items"][0]
    # auditors read, and may not confirm
    assert ApiClient(auditor).get("/quality/tasks").json()["items"]
    refused = ApiClient(auditor).post(f"/quality/tasks/{task['uuid']}/confirm", {})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "read_only"
    bad = api.post(f"/quality/tasks/{task['uuid']}/confirm", {"outcome": "nope"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_outcome"
    done = api.post(
        f"/quality/tasks/{task['uuid']}/confirm", {"outcome": "confirmed", "note": "ok"}
    )
    assert done.status_code == 200 and done.json()["status"] == "confirmed"
    assert AuditEntry.objects.filter(action="customer.verify", customer=mine).exists()
    again = api.post(f"/quality/tasks/{task['uuid']}/confirm", {})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "task_closed"


def test_other_branch_task_is_404(source, other_branch, branch_staff):
    bare(source, other_branch)
    verification_rotate(month=MONTH)
    task = VerificationTask.objects.get()
    response = ApiClient(branch_staff).post(f"/quality/tasks/{task.uuid}/confirm", {})
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.status == "open"
