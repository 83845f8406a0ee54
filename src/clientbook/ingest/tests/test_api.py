"""/api/v1/imports: file uploads, rows as JSON, jobs, rejects; errors."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks_db.models import DBTaskResult

from clientbook.customers.models import Customer
from clientbook.ingest.models import ImportJob, JobStatus, MappingTemplate
from clientbook.ingest.services import import_job_run
from clientbook.ingest.tests.test_views import GOOD_MAPPING, HEADERS, csv_bytes
from clientbook.privacy.models import AuditEntry
from clientbook.tests.api import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    folder = tmp_path / "imports"
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_DIR": folder}
    return folder


def post_file(api: ApiClient, content=None, name="会员.csv", **fields):
    data = {
        "kind": "customers",
        "source": "manual",
        "file": SimpleUploadedFile(name, csv_bytes() if content is None else content),
        **fields,
    }
    return api.client.post("/api/v1/imports", data, **api.headers)


ROWS = [
    {"姓名": "张三", "手机": "13800138000", "等级": "金卡"},
    {"姓名": "李四", "手机": "bad"},
    {"姓名": "王五", "手机": 13700137000, "生日": "1990-01-02"},
]
ROWS_MAPPING = {"姓名": "name", "手机": "mobile", "生日": "birth_date"}
ROWS_MAPPING_2 = {"姓名": "name", "手机": "mobile"}


def test_upload_a_file_runs_a_small_import_at_once(manager, source):
    api = ApiClient(manager)

    response = post_file(api, mapping=json.dumps(GOOD_MAPPING))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "done" and body["dry_run"] is False
    assert body["counts"] == {
        "read": 4,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "merged": 0,
        "rejected": 2,
    }
    assert body["file_name"] == "会员.csv" and len(body["file_sha256"]) == 64
    assert (body["source"], body["started_by"], body["rows_total"]) == (
        "manual",
        "manager",
        4,
    )
    assert Customer.objects.count() == 2
    job = ImportJob.objects.get(uuid=body["uuid"])
    audit = AuditEntry.objects.get(action="import.create")
    assert (audit.actor, audit.after["sha256"]) == (manager, job.file_sha256)


def test_upload_without_mapping_guesses_it_and_dry_run_writes_nothing(manager, source):
    api = ApiClient(manager)

    response = post_file(api, dry_run="true")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["dry_run"] is True and body["counts"]["created"] == 2
    assert body["mapping"]["姓名"] == "name" and body["mapping"]["手机号码"] == "mobile"
    assert Customer.objects.count() == 0

    # when: imported for real from the dry run
    real = api.post(f"/imports/{body['uuid']}/import")

    assert real.status_code == 201, real.content
    assert real.json()["dry_run"] is False and real.json()["counts"]["created"] == 2
    assert real.json()["file_sha256"] == body["file_sha256"]
    assert Customer.objects.count() == 2
    again = api.post(f"/imports/{real.json()['uuid']}/import")
    assert again.status_code == 422 and again.json()["error"]["field"] == "uuid"


def test_upload_with_a_saved_template(manager, source):
    MappingTemplate.objects.create(
        source=source, kind="customers", name="会员表", mapping=GOOD_MAPPING
    )
    api = ApiClient(manager)

    response = post_file(api, template="会员表")
    unknown = post_file(api, template="nope")

    assert response.status_code == 201 and response.json()["template"] == "会员表"
    assert response.json()["mapping"] == GOOD_MAPPING
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_template"


def test_large_upload_is_queued_with_202(
    manager, source, settings, django_capture_on_commit_callbacks
):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_SYNC_ROWS": 3}
    api = ApiClient(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(api, mapping=json.dumps(GOOD_MAPPING))

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["rows_total"]) == ("pending", 4)
    job = ImportJob.objects.get(uuid=body["uuid"])
    assert DBTaskResult.objects.filter(args_kwargs__args=[job.pk]).count() == 1
    assert Customer.objects.count() == 0

    # when: the worker has run it, polling tells
    import_job_run(job=job)
    polled = api.get(f"/imports/{job.uuid}")
    assert polled.json()["status"] == "done"
    assert polled.json()["counts"]["created"] == 2


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"source": "nope"}, "source", "unknown_source"),
        ({"kind": "pets"}, "kind", "invalid"),
        ({"mapping": "{not json"}, "mapping", "invalid"),
        ({"mapping": '{"姓名": 1}'}, "mapping", "invalid"),
        ({"mapping": '{"姓名": "nonsense"}'}, "mapping.姓名", "unknown_target"),
        ({"mapping": '{"手机号码": "mobile"}'}, "mapping", "missing_target"),
        ({"name": "a.pdf"}, "file", "unsupported_file"),
    ],
)
def test_upload_errors_are_422_with_the_field(manager, source, fields, field, code):
    api = ApiClient(manager)
    name = fields.pop("name", "会员.csv")

    response = post_file(api, name=name, **fields)

    assert response.status_code == 422, response.content
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == code
    assert ImportJob.objects.count() == 0


def test_upload_without_a_file_is_422(manager, source):
    api = ApiClient(manager)

    response = api.client.post("/api/v1/imports", {"source": "manual"}, **api.headers)

    assert response.status_code == 422
    # ("file", "file") is where ninja places the missing file
    assert response.json()["error"]["errors"][0]["field"].startswith("file")


def test_auditor_is_refused_and_nothing_is_kept(auditor, source, import_dir):
    api = ApiClient(auditor)

    upload = post_file(api)
    rows = api.post(
        "/imports/rows", {"source": "manual", "rows": ROWS, "mapping": ROWS_MAPPING}
    )

    assert upload.status_code == rows.status_code == 403
    assert upload.json()["error"]["code"] == "read_only"
    assert ImportJob.objects.count() == 0
    assert not import_dir.exists() or not any(import_dir.iterdir())


def test_rows_are_imported_through_a_json_lines_job(manager, source, import_dir):
    api = ApiClient(manager)

    response = api.post(
        "/imports/rows",
        {"source": "manual", "rows": ROWS, "mapping": ROWS_MAPPING, "name": "crm"},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["file_name"] == "crm" and body["status"] == "done"
    assert (body["counts"]["read"], body["counts"]["created"]) == (3, 2)
    assert body["counts"]["rejected"] == 1
    wang = Customer.objects.get(name="王五")
    assert str(wang.birth_date) == "1990-01-02"
    assert wang.identifiers.get().value == "+8613700137000"
    # one kept file, under its hash; the temporary one is gone
    kept = list(import_dir.iterdir())
    assert [p.name for p in kept] == [f"{body['file_sha256']}.jsonl"]
    lines = kept[0].read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[1]) == {
        "姓名": "李四",
        "手机": "bad",
        "等级": None,
        "生日": None,
    }

    # sending the same rows again changes nothing
    again = api.post(
        "/imports/rows", {"source": "manual", "rows": ROWS, "mapping": ROWS_MAPPING}
    )
    assert again.json()["counts"]["unchanged"] == 2
    assert again.json()["counts"]["created"] == 0


def test_rows_with_a_guessed_mapping_or_too_many(manager, source, settings):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "API_BULK_LIMIT": 2}
    api = ApiClient(manager)

    too_many = api.post("/imports/rows", {"source": "manual", "rows": ROWS})
    none = api.post("/imports/rows", {"source": "manual", "rows": []})
    guessed = api.post("/imports/rows", {"source": "manual", "rows": ROWS[:2]})
    bad_target = api.post(
        "/imports/rows",
        {"source": "manual", "rows": ROWS[:2], "mapping": {"姓名": "nope"}},
    )

    assert too_many.status_code == none.status_code == 422
    assert too_many.json()["error"]["field"] == "rows"
    assert guessed.status_code == 201, guessed.content
    assert guessed.json()["mapping"] == {"姓名": "name", "手机": "mobile", "等级": ""}
    assert bad_target.status_code == 422
    assert bad_target.json()["error"]["field"] == "mapping.姓名"


def test_rejects_are_paged_and_masked_without_view_pii(manager, marketer, source):
    rows = [{"姓名": f"客户{i}", "手机": f"1{i:04d}"} for i in range(5)]
    api = ApiClient(manager)
    response = api.post(
        "/imports/rows",
        {
            "source": "manual",
            "rows": rows,
            "mapping": {"姓名": "name", "手机": "mobile"},
        },
    )
    assert response.status_code == 201, response.content
    job = response.json()

    first = api.get(f"/imports/{job['uuid']}/rejects", page=1, page_size=2).json()
    last = api.get(f"/imports/{job['uuid']}/rejects", page=3, page_size=2).json()
    masked = ApiClient(marketer).get(f"/imports/{job['uuid']}/rejects").json()

    assert (first["total"], first["has_next"], last["has_next"]) == (5, True, False)
    assert [r["row_number"] for r in first["items"]] == [1, 2]
    assert [r["row_number"] for r in last["items"]] == [5]
    assert first["items"][0]["value"] == "10000"
    assert first["items"][0]["column"] == "手机" and first["items"][0]["reason"]
    assert first["items"][0]["raw"] == {"姓名": "客户0", "手机": "10000"}
    assert masked["items"][0]["value"] == "1***0" and masked["items"][0]["raw"] is None


def test_jobs_are_visible_by_branch_and_listed_newest_first(
    manager, branch_staff, source, other_branch
):
    from clientbook.tests.factories import staff

    stranger = staff("branch_staff", username="stranger", branch=other_branch)
    mine = ApiClient(branch_staff).post(
        "/imports/rows", {"source": "manual", "rows": ROWS, "mapping": ROWS_MAPPING}
    )
    theirs = ApiClient(stranger).post(
        "/imports/rows",
        {"source": "manual", "rows": ROWS, "mapping": ROWS_MAPPING, "dry_run": True},
    )

    listed = ApiClient(branch_staff).get("/imports").json()
    hidden = ApiClient(branch_staff).get(f"/imports/{theirs.json()['uuid']}")
    everything = ApiClient(manager).get("/imports", page_size=1).json()

    assert [j["uuid"] for j in listed["items"]] == [mine.json()["uuid"]]
    assert hidden.status_code == 404
    assert everything["has_next"] and len(everything["items"]) == 1
    assert everything["items"][0]["uuid"] == theirs.json()["uuid"]


def test_api_needs_a_token(source):
    response = ApiClient().get("/imports")

    assert response.status_code == 401


def test_failed_job_reports_its_status(manager, source):
    api = ApiClient(manager)
    body = post_file(api, mapping=json.dumps(GOOD_MAPPING)).json()
    ImportJob.objects.filter(uuid=body["uuid"]).update(
        status=JobStatus.FAILED, error="disk full"
    )

    response = api.get(f"/imports/{body['uuid']}")

    assert response.json()["status"] == "failed"
    assert response.json()["error"] == "disk full"
    assert HEADERS[0] in response.json()["mapping"]
