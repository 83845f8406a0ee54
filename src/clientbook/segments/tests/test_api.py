"""The REST API: CRUD, preview, count, members, snapshot, export, errors."""

import csv
import io

from clientbook.customers.services import customer_create
from clientbook.privacy.models import AuditEntry
from clientbook.segments.models import Segment
from clientbook.tests.api import ApiClient

WOMEN = {"conditions": [{"field": "gender", "op": "eq", "value": "F"}]}


def _people(source, branch, other_branch):
    for i in range(3):
        customer_create(
            name=f"本店{i}",
            source=source,
            gender="F",
            branch=branch,
            identifiers=[{"type": "mobile", "value": f"1380013800{i}"}],
        )
    customer_create(name="外店", source=source, gender="F", branch=other_branch)
    customer_create(name="男", source=source, gender="M", branch=branch)


def test_crud_and_reads(marketer, source, branch, other_branch):
    _people(source, branch, other_branch)
    api = ApiClient(marketer)
    created = api.post("/segments", {"name": "Women", "definition": WOMEN})
    assert created.status_code == 201, created.content
    ref = created.json()["uuid"]
    assert created.json()["definition"]["version"] == 1
    assert api.get(f"/segments/{ref}").json()["name"] == "Women"
    assert api.get("/segments/Women/count").json() == {"count": 4}
    page = api.get(f"/segments/{ref}/members", page_size=3).json()
    assert len(page["items"]) == 3 and page["has_next"] is True
    renamed = api.patch(f"/segments/{ref}", {"name": "Ladies"})
    assert renamed.json()["name"] == "Ladies"
    snap = api.post(f"/segments/{ref}/snapshot")
    assert snap.status_code == 201 and snap.json()["count"] == 4
    assert len(api.get(f"/segments/{ref}/snapshots").json()) == 1
    assert [s["name"] for s in api.get("/segments").json()] == ["Ladies"]
    archived = api.delete(f"/segments/{ref}")
    assert archived.json()["archived_at"] is not None
    assert api.get("/segments").json() == []
    assert api.get(f"/segments/{ref}").status_code == 404


def test_preview_without_saving(marketer, branch_staff, source, branch, other_branch):
    _people(source, branch, other_branch)
    body = {"definition": WOMEN, "sample": 2}
    answer = ApiClient(marketer).post("/segments/preview", body).json()
    assert answer["count"] == 4 and len(answer["sample"]) == 2
    scoped = ApiClient(branch_staff).post("/segments/preview", body).json()
    assert scoped["count"] == 3
    assert {m["branch"] for m in scoped["sample"]} == {"SH01"}
    assert not Segment.objects.exists()


def test_invalid_definition_names_the_path(marketer):
    bad = {
        "conditions": [
            {"field": "gender", "op": "eq", "value": "F"},
            {"field": "age", "op": "gte", "value": "x"},
        ]
    }
    answer = ApiClient(marketer).post("/segments", {"name": "X", "definition": bad})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_value", "conditions[1].value")
    assert error["errors"][0]["field"] == "conditions[1].value"
    assert not Segment.objects.exists()


def test_export_masked_and_audited(marketer, admin_user, source, branch, other_branch):
    _people(source, branch, other_branch)
    api = ApiClient(marketer)
    api.post("/segments", {"name": "Women", "definition": WOMEN})
    answer = api.get("/segments/Women/export", columns="name,mobile")
    assert answer.status_code == 200
    body = b"".join(answer.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 5
    assert "+86138****8000" in {r[1] for r in rows}
    refused = api.get("/segments/Women/export", pii="true")
    assert refused.status_code == 403
    answer = ApiClient(admin_user).get(
        "/segments/Women/export", columns="mobile", pii="true"
    )
    body = b"".join(answer.streaming_content).decode("utf-8-sig")
    assert "+8613800138000" in body
    assert AuditEntry.objects.filter(action="segment.export").count() == 2


def test_fields_catalogue(marketer):
    fields = ApiClient(marketer).get("/segments/fields").json()
    names = {f["name"] for f in fields}
    assert {"consent", "bought", "spent", "segment", "selected"} <= names
