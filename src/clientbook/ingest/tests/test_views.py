"""The import pages: upload → mapping → dry run → import → result, the
reject downloads, templates, encodings, sheets, roles and the job list."""

import csv
import io
import re

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from clientbook.customers.models import Customer
from clientbook.ingest.models import ImportJob, JobStatus, MappingTemplate
from clientbook.ingest.services import import_job_create, import_job_run
from clientbook.privacy.models import AuditEntry
from clientbook.tests.factories import SourceFactory, staff

pytestmark = pytest.mark.django_db

HEADERS = ["姓名", "手机号码", "生日", "备注"]
ROWS = [
    ["张三", "13800138000", "1985-03-02", "老客"],
    ["李四", "13900139000", "1990/7/20", ""],
    ["王五", "12345", "1970-01-01", ""],  # a bad mobile
    ["赵六", "13700137000", "not a date", ""],  # a bad birth date
]


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    folder = tmp_path / "imports"
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_DIR": folder}
    return folder


def csv_bytes(headers=HEADERS, rows=ROWS, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def upload_file(name="会员.csv", content=None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, csv_bytes() if content is None else content)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(client, source, *, kind="customers", file=None, **extra):
    data = {"kind": kind, "source": source.pk, "file": file or upload_file(), **extra}
    return client.post(reverse("ingest:upload"), data)


def mapping_url(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def columns(page: str) -> dict[str, str]:
    """{column header: selected target} as the mapping screen shows them."""
    found = {}
    for i, header in re.findall(r'<label for="id_col_(\d+)">([^<]*)</label>', page):
        select = re.search(
            rf'<select name="col_{i}".*?</select>', page, flags=re.DOTALL
        ).group(0)
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select)
        found[header] = chosen.group(1) if chosen else ""
    return found


def post_mapping(client, url, mapping: dict[str, str], headers=HEADERS, **extra):
    data = {f"col_{i}": mapping.get(h, "") for i, h in enumerate(headers)}
    data.update(extra)
    return client.post(url, data)


def job_of(response) -> ImportJob:
    assert response.status_code == 302, (
        response.context
        and response.context.get("form")
        and response.context["form"].errors
    )
    uuid = response["Location"].rstrip("/").split("/")[-1]
    return ImportJob.objects.get(uuid=uuid)


GOOD_MAPPING = {"姓名": "name", "手机号码": "mobile", "生日": "birth_date"}


# The whole path -------------------------------------------------------------------


def test_upload_map_preview_import_and_result(client, source, manager, import_dir):
    client = logged_in(manager)

    # given: an uploaded CSV, kept under IMPORT_DIR by its hash
    url = mapping_url(upload(client, source))
    page = client.get(url).content.decode()
    kept = list(import_dir.iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".csv"

    # then: the mapping screen shows the columns, samples and the guess
    assert columns(page) == {
        "姓名": "name",
        "手机号码": "mobile",
        "生日": "birth_date",
        "备注": "notes",
    }
    assert "13800138000" in page and "1990/7/20" in page
    assert 'value="preference:备注"' in page and 'value="consent:sms:marketing"' in page

    # when: previewing (a dry run)
    dry = job_of(post_mapping(client, url, GOOD_MAPPING, action="preview"))

    # then: counted, nothing written, the first rejects shown
    assert dry.dry_run and dry.status == JobStatus.DONE
    assert (dry.read, dry.created, dry.rejected) == (4, 2, 2)
    assert dry.rows_total == 4 and dry.file_name == "会员.csv"
    assert dry.mapping == {**GOOD_MAPPING, "备注": ""}
    assert Customer.objects.count() == 0
    page = client.get(reverse("ingest:detail", args=[dry.uuid])).content.decode()
    assert reverse("ingest:confirm", args=[dry.uuid]) in page
    assert "12345" in page and "not a date" in page

    # when: importing for real
    real = job_of(client.post(reverse("ingest:confirm", args=[dry.uuid])))

    # then: the same file and mapping, written, with a result page
    assert not real.dry_run and real.status == JobStatus.DONE
    assert (real.file_sha256, real.mapping) == (dry.file_sha256, dry.mapping)
    assert (real.read, real.created, real.rejected) == (4, 2, 2)
    assert set(Customer.objects.values_list("name", flat=True)) == {"张三", "李四"}
    assert real.started_by == manager
    result = client.get(reverse("ingest:detail", args=[real.uuid]))
    body = result.content.decode()
    assert result.status_code == 200
    for text in (real.file_sha256, "会员.csv", "manager", "not a date"):
        assert text in body
    assert f"?from={real.uuid}" in body
    assert reverse("ingest:rejects_csv", args=[real.uuid]) in body
    assert AuditEntry.objects.filter(action="import.create", actor=manager).count() == 2


@pytest.fixture
def imported(source, manager, tmp_path) -> ImportJob:
    path = tmp_path / "会员.csv"
    path.write_bytes(csv_bytes())
    job = import_job_create(
        path=path, source=source, actor=manager, mapping=GOOD_MAPPING
    )
    return import_job_run(job=job)


def test_manager_sees_values_of_rejects_others_see_them_masked(
    source, manager, marketer, imported
):
    url = reverse("ingest:detail", args=[imported.uuid])

    shown = logged_in(manager).get(url).content.decode()
    masked = logged_in(marketer).get(url).content.decode()

    assert "<td>12345</td>" in shown
    assert "<td>12345</td>" not in masked and "<td>1***5</td>" in masked
    assert "not a date" in masked  # not an identifier: never masked


def test_reject_downloads_csv_and_xlsx(manager, imported):
    client = logged_in(manager)

    csv_response = client.get(reverse("ingest:rejects_csv", args=[imported.uuid]))
    xlsx_response = client.get(reverse("ingest:rejects_xlsx", args=[imported.uuid]))

    assert csv_response.status_code == 200
    assert "会员-rejects.csv" in csv_response["Content-Disposition"].replace(
        "%E4%BC%9A%E5%91%98", "会员"
    )
    text = csv_response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][4:] == HEADERS
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("3", "手机号码", "12345"),
        ("4", "生日", "not a date"),
    ]
    assert xlsx_response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx_response.streaming_content)))
    sheet = book.worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][4:] == HEADERS
    assert values[1][:3] == [3, "手机号码", "12345"]
    assert values[2][4:] == ["赵六", "13700137000", "not a date", None]


def test_xlsx_rejects_keep_formulas_and_leading_zeros_as_text(
    source, manager, tmp_path
):
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes(rows=[["=1+1", "0012", "", ""], ["", "x\x01", "", ""]]))
    job = import_job_create(
        path=path, source=source, actor=manager, mapping=GOOD_MAPPING
    )
    job = import_job_run(job=job)
    client = logged_in(manager)

    response = client.get(reverse("ingest:rejects_xlsx", args=[job.uuid]))

    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[1][4:6] == ("=1+1", "0012")
    assert book.worksheets[0].cell(2, 5).data_type == "s"
    assert rows[2][5] == "x"


def test_downloads_are_for_who_started_or_may_see_pii(
    source, marketer, branch_staff, manager, imported
):
    url = reverse("ingest:rejects_csv", args=[imported.uuid])

    refused = logged_in(marketer).get(url)
    allowed = logged_in(manager).get(url)

    assert refused.status_code == 403 and allowed.status_code == 200


# Mapping ----------------------------------------------------------------------------


def test_mapping_errors_name_the_column_and_create_no_job(source, manager):
    client = logged_in(manager)
    url = mapping_url(upload(client, source))

    twice = post_mapping(client, url, {"姓名": "name", "手机号码": "name"})
    missing = post_mapping(client, url, {"手机号码": "mobile"})
    unknown = post_mapping(client, url, {"姓名": "name", "备注": "nonsense"})

    # The language comes with the request (LocaleMiddleware), not from the test.
    client.cookies["django_language"] = "en"
    twice_en = post_mapping(client, url, {"姓名": "name", "手机号码": "name"})
    assert twice.status_code == missing.status_code == unknown.status_code == 422
    page = twice_en.content.decode()
    assert "Column “姓名”、“手机号码”" in page
    assert page.count('class="has-error"') == 2
    assert 'class="has-error"' not in missing.content.decode()
    assert 'role="alert"' in missing.content.decode()
    assert unknown.content.decode().count('class="has-error"') == 1
    assert ImportJob.objects.count() == 0


def test_template_saved_and_reused_by_the_next_file(source, manager):
    client = logged_in(manager)
    headers = ["客户", "电话号", "喜欢的饮品"]  # headers no guess recognises
    content = csv_bytes(headers, [["陈一", "13800138000", "乌龙茶"]])
    url = mapping_url(upload(client, source, file=upload_file("a.csv", content)))
    assert set(columns(client.get(url).content.decode()).values()) == {""}
    mapping = {
        "客户": "name",
        "电话号": "mobile",
        "喜欢的饮品": "preference:喜欢的饮品",
    }

    # when: previewing with "save as template"
    job_of(
        post_mapping(
            client,
            url,
            mapping,
            headers=headers,
            save_template="on",
            template_name="门店登记表",
            action="preview",
        )
    )

    # then: the template is saved (audited) and maps the next file by itself
    template = MappingTemplate.objects.get()
    assert (template.name, template.source, template.kind) == (
        "门店登记表",
        source,
        "customers",
    )
    assert template.mapping == mapping
    assert AuditEntry.objects.filter(action="mapping_template.save").count() == 1
    url = mapping_url(upload(client, source, file=upload_file("b.csv", content)))
    assert columns(client.get(url).content.decode()) == mapping
    # and choosing it on the upload page maps the file with it too
    url = mapping_url(
        upload(client, source, file=upload_file("c.csv", content), template=template.pk)
    )
    assert columns(client.get(url).content.decode()) == mapping


def test_template_of_another_source_is_refused(source, manager):
    other = SourceFactory(code="fair")
    template = MappingTemplate.objects.create(
        source=other, kind="customers", name="t", mapping={"姓名": "name"}
    )
    client = logged_in(manager)

    response = upload(client, source, template=template.pk)

    assert response.status_code == 422 and "template" in response.context["form"].errors


def test_gbk_csv_is_read(source, manager):
    client = logged_in(manager)
    content = csv_bytes(
        rows=[["欧阳娜娜", "13812345678", "1988-08-08", "喜欢胡萝卜汁"]]
    )
    gbk = content.decode("utf-8-sig").encode("gbk")

    url = mapping_url(upload(client, source, file=upload_file("gbk.csv", gbk)))
    page = client.get(url).content.decode()
    job = job_of(post_mapping(client, url, GOOD_MAPPING, action="import"))

    assert "欧阳娜娜" in page and columns(page)["姓名"] == "name"
    assert (job.status, job.created) == (JobStatus.DONE, 1)
    assert Customer.objects.get().name == "欧阳娜娜"


def test_xlsx_sheet_is_chosen_after_upload(source, manager):
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["这是说明页"])
    members = book.create_sheet("会员")
    members.append(["姓名", "手机"])
    members.append(["孙七", "13600136000"])
    out = io.BytesIO()
    book.save(out)
    client = logged_in(manager)

    url = mapping_url(
        upload(client, source, file=upload_file("m.xlsx", out.getvalue()))
    )
    first = client.get(url).content.decode()
    second = client.get(url, {"sheet": "会员"}).content.decode()
    job = job_of(
        post_mapping(
            client,
            url,
            {"姓名": "name", "手机": "mobile"},
            headers=["姓名", "手机"],
            sheet="会员",
            action="import",
        )
    )

    assert list(columns(first)) == ["这是说明页"]
    assert '<option value="会员">' in first
    assert columns(second) == {"姓名": "name", "手机": "mobile"}
    assert (job.sheet, job.status, job.created) == ("会员", JobStatus.DONE, 1)
    assert Customer.objects.get().name == "孙七"


def test_unreadable_file_is_told_not_raised(source, manager):
    client = logged_in(manager)

    wrong = upload(client, source, file=upload_file("a.pdf", b"%PDF-1.4"))
    broken = upload(client, source, file=upload_file("b.xlsx", b"not a zip"))

    assert wrong.status_code == broken.status_code == 422
    assert "file" in wrong.context["form"].errors
    assert "file" in broken.context["form"].errors
    assert ImportJob.objects.count() == 0


def test_corrected_file_link_preselects_source_kind_and_mapping(
    source, manager, imported
):
    client = logged_in(manager)
    form_page = client.get(reverse("ingest:upload"), {"from": str(imported.uuid)})
    form = form_page.context["form"]
    assert (form.initial["source"], form.initial["kind"]) == (source.pk, "customers")

    # when: the downloaded rejects, corrected, come back
    rejects = client.get(reverse("ingest:rejects_csv", args=[imported.uuid]))
    text = rejects.content.decode("utf-8-sig")
    fixed = text.replace("12345", "13500135000").replace("not a date", "1999-09-09")
    response = upload(
        client,
        source,
        file=upload_file("fixed.csv", fixed.encode("utf-8")),
        from_job=str(imported.uuid),
    )
    page = client.get(mapping_url(response)).content.decode()

    # then: the earlier mapping, the report's own columns ignored
    assert len(columns(page)) == 4 + len(HEADERS)
    assert {k: v for k, v in columns(page).items() if v} == GOOD_MAPPING
    job = job_of(
        post_mapping(
            client,
            mapping_url(response),
            GOOD_MAPPING,
            headers=list(columns(page)),
            action="import",
        )
    )
    assert (job.created, job.rejected) == (2, 0)
    assert Customer.objects.count() == 4


# Progress and the background path -----------------------------------------------------


def test_large_file_goes_to_the_worker_and_the_page_polls(
    source, manager, settings, django_capture_on_commit_callbacks
):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_SYNC_ROWS": 2}
    client = logged_in(manager)
    url = mapping_url(upload(client, source))

    with django_capture_on_commit_callbacks(execute=True):
        job = job_of(post_mapping(client, url, GOOD_MAPPING, action="import"))

    # then: queued, not run in the request
    assert job.status == JobStatus.PENDING and job.rows_total == 4
    assert DBTaskResult.objects.filter(args_kwargs__args=[job.pk]).exists()
    page = client.get(reverse("ingest:detail", args=[job.uuid])).content.decode()
    assert 'hx-trigger="every 1s"' in page and "clientbook worker" in page
    progress_url = reverse("ingest:progress", args=[job.uuid])

    # when: the worker has run it
    import_job_run(job=job)

    # then: the next poll reloads the page, which shows the result
    polled = client.get(progress_url, HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and polled["HX-Refresh"] == "true"
    page = client.get(reverse("ingest:detail", args=[job.uuid])).content.decode()
    assert "hx-trigger" not in page and "not a date" in page


def test_progress_shows_rows_done_of_the_total(source, manager, imported):
    ImportJob.objects.filter(pk=imported.pk).update(
        status=JobStatus.RUNNING, rows_done=2, rows_total=4, finished_at=None
    )
    client = logged_in(manager)

    response = client.get(
        reverse("ingest:progress", args=[imported.uuid]), HTTP_HX_REQUEST="true"
    )

    body = response.content.decode()
    assert 'aria-valuenow="50"' in body and 'hx-trigger="every 1s"' in body


def test_failed_job_shows_its_error_and_can_run_again(source, manager, imported):
    ImportJob.objects.filter(pk=imported.pk).update(
        status=JobStatus.FAILED, error="disk full"
    )
    client = logged_in(manager)

    page = client.get(reverse("ingest:detail", args=[imported.uuid])).content.decode()
    again = client.post(reverse("ingest:resume", args=[imported.uuid]))

    assert "disk full" in page
    assert again.status_code == 302
    imported.refresh_from_db()
    assert imported.status == JobStatus.DONE and Customer.objects.count() == 2


# Roles -------------------------------------------------------------------------


def test_auditor_views_but_cannot_start_imports(source, auditor, imported):
    client = logged_in(auditor)

    listed = client.get(reverse("ingest:list"))
    shown = client.get(reverse("ingest:detail", args=[imported.uuid]))
    form = client.get(reverse("ingest:upload"))
    posted = upload(client, source)
    dry = ImportJob.objects.create(
        kind="customers",
        source=source,
        file_name="x.csv",
        file_path=imported.file_path,
        file_sha256=imported.file_sha256,
        mapping=imported.mapping,
        dry_run=True,
        status=JobStatus.DONE,
    )
    confirmed = client.post(reverse("ingest:confirm", args=[dry.uuid]))

    assert listed.status_code == shown.status_code == 200
    assert "会员.csv" in listed.content.decode()
    assert reverse("ingest:upload") not in listed.content.decode()
    assert form.status_code == posted.status_code == confirmed.status_code == 403
    assert ImportJob.objects.count() == 2


def test_branch_staff_see_their_branchs_jobs_only(
    source, branch, other_branch, branch_staff, manager, tmp_path
):
    colleague = staff("branch_staff", username="colleague", branch=branch)
    stranger = staff("branch_staff", username="stranger", branch=other_branch)
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes())
    jobs = {
        user.username: import_job_create(
            path=path, source=source, actor=user, mapping=GOOD_MAPPING, dry_run=True
        )
        for user in (branch_staff, colleague, stranger, manager)
    }
    client = logged_in(branch_staff)

    listed = client.get(reverse("ingest:list")).context["page"].object_list
    other = client.get(reverse("ingest:detail", args=[jobs["stranger"].uuid]))

    # manager's branch is the same branch: the fixture puts them in it
    assert {j.started_by.username for j in listed} == {"clerk", "colleague", "manager"}
    assert other.status_code == 404
    all_jobs = logged_in(manager).get(reverse("ingest:list")).context["page"]
    assert len(all_jobs.object_list) == 4


def test_branch_staff_import_into_their_branch(source, branch, branch_staff):
    client = logged_in(branch_staff)
    url = mapping_url(upload(client, source))

    job = job_of(post_mapping(client, url, GOOD_MAPPING, action="import"))

    assert job.created == 2
    assert set(Customer.objects.values_list("branch", flat=True)) == {branch.pk}


def test_list_query_count_is_pinned(
    source, manager, tmp_path, django_assert_num_queries
):
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes())
    client = logged_in(manager)
    for _ in range(3):
        import_job_create(path=path, source=source, actor=manager, mapping=GOOD_MAPPING)
    client.get(reverse("ingest:list"))  # warm the session

    # session, user, its branch (top bar), count, page of jobs with source and user
    with django_assert_num_queries(5):
        small = client.get(reverse("ingest:list"))
    for _ in range(7):
        import_job_create(path=path, source=source, actor=manager, mapping=GOOD_MAPPING)
    with django_assert_num_queries(5):
        large = client.get(reverse("ingest:list"))

    assert len(small.context["page"].object_list) == 3
    assert len(large.context["page"].object_list) == 10


def test_pages_need_a_login(source):
    response = Client().get(reverse("ingest:list"))

    assert response.status_code == 302 and "login" in response["Location"]


def test_someone_elses_upload_token_is_not_found(source, manager, marketer):
    url = mapping_url(upload(logged_in(manager), source))

    response = logged_in(marketer).get(url)

    assert response.status_code == 404


def test_uploads_are_streamed_to_disk(source, manager, monkeypatch):
    seen = []
    from clientbook.ingest import views

    real = views.upload_keep

    def spy(*, uploaded):
        seen.append(type(uploaded).__name__)
        return real(uploaded=uploaded)

    monkeypatch.setattr(views, "upload_keep", spy)

    upload(logged_in(manager), source)

    assert seen == ["TemporaryUploadedFile"]


# Back office ---------------------------------------------------------------------


def test_admin_shows_jobs_read_only_with_their_rejects(admin_user, imported):
    client = logged_in(admin_user)

    listed = client.get(reverse("admin:ingest_importjob_changelist"))
    shown = client.get(reverse("admin:ingest_importjob_change", args=[imported.pk]))
    added = client.get(reverse("admin:ingest_importjob_add"))

    assert listed.status_code == shown.status_code == 200
    body = shown.content.decode()
    assert "not a date" in body and imported.file_sha256 in body
    assert 'name="_save"' not in body
    assert added.status_code == 403


def test_admin_edits_templates_through_the_service(admin_user, source):
    client = logged_in(admin_user)
    url = reverse("admin:ingest_mappingtemplate_add")

    bad = client.post(
        url,
        {
            "source": source.pk,
            "kind": "customers",
            "name": "t",
            "mapping": '{"姓名": "nonsense"}',
        },
    )
    good = client.post(
        url,
        {
            "source": source.pk,
            "kind": "customers",
            "name": "t",
            "mapping": '{"姓名": "name", "电话": "mobile"}',
        },
    )
    template = MappingTemplate.objects.get()
    changed = client.post(
        reverse("admin:ingest_mappingtemplate_change", args=[template.pk]),
        {"mapping": '{"姓名": "name"}'},
    )

    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert good.status_code == changed.status_code == 302
    template.refresh_from_db()
    assert (template.name, template.mapping) == ("t", {"姓名": "name"})
    assert template.created_by == admin_user
    audit = AuditEntry.objects.filter(action="mapping_template.save", actor=admin_user)
    assert audit.count() == 2


def test_upload_checks_the_csrf_token(source, manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)

    response = upload(client, source)

    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_rejects_are_paged_on_the_result_page(source, manager, tmp_path):
    path = tmp_path / "bad.csv"
    rows = [[f"客户{i}", f"1{i:04d}", "", ""] for i in range(60)]
    path.write_bytes(csv_bytes(rows=rows))
    job = import_job_run(
        job=import_job_create(
            path=path, source=source, actor=manager, mapping=GOOD_MAPPING
        )
    )
    client = logged_in(manager)
    url = reverse("ingest:detail", args=[job.uuid])

    first = client.get(url)
    second = client.get(url, {"page": 2})

    assert job.rejected == 60
    assert [r["row_number"] for r in first.context["rejects"]] == list(range(1, 51))
    assert [r["row_number"] for r in second.context["rejects"]] == list(range(51, 61))
    assert 'href="?page=2#rejects"' in first.content.decode()


def test_change_the_mapping_after_a_preview(source, manager):
    client = logged_in(manager)
    url = mapping_url(upload(client, source))
    dry = job_of(
        post_mapping(
            client, url, {"姓名": "name", "手机号码": "mobile"}, action="preview"
        )
    )

    response = client.get(reverse("ingest:remap", args=[dry.uuid]))
    page = client.get(mapping_url(response)).content.decode()

    assert columns(page) == {
        "姓名": "name",
        "手机号码": "mobile",
        "生日": "",
        "备注": "",
    }


def test_an_unexpected_failure_is_shown_not_raised(source, manager, monkeypatch):
    from clientbook.ingest import services

    def broken(job, progress):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "_run", broken)
    client = logged_in(manager)
    url = mapping_url(upload(client, source))

    job = job_of(post_mapping(client, url, GOOD_MAPPING, action="import"))
    page = client.get(reverse("ingest:detail", args=[job.uuid]))

    assert job.status == JobStatus.FAILED
    assert page.status_code == 200 and "disk on fire" in page.content.decode()
    assert reverse("ingest:resume", args=[job.uuid]) in page.content.decode()
