import csv
import datetime as dt
import json
import pickle
from pathlib import Path

import openpyxl
import pytest
from django.db import connection, transaction
from django.utils import translation

from clientbook.customers.models import Customer, Identifier
from clientbook.customers.services import custom_field_define, customer_create
from clientbook.ingest import services, staging
from clientbook.ingest.models import ImportJob, ImportReject, SourceRecord
from clientbook.ingest.rows import CustomerRecord, RowParser, Staged, with_raw
from clientbook.ingest.services import (
    import_job_create,
    import_job_run,
    import_rejects_csv,
    mapping_template_save,
)
from clientbook.privacy.models import AuditEntry, Consent
from clientbook.privacy.selectors import audit_list_for_customer

pytestmark = pytest.mark.django_db

HEADERS = [
    "姓名",
    "性别",
    "生日",
    "手机号码",
    "身份证号",
    "邮箱",
    "会员卡号",
    "地址",
    "标签",
    "短信营销",
]
ROWS = [
    [
        "张三",
        "男",
        "1985/3/2",
        "138 0013 8000",
        "110105198503020011",
        "zs@example.com",
        "M001",
        "上海市黄浦区南京东路1号",
        "VIP、老客",
        "是",
    ],
    ["李四", "女", "1990年7月20日", "+86 139-0013-9000", "", "", "M002", "", "", ""],
    ["王五", "M", "not a date", "13700137000", "", "", "", "", "", ""],
    ["赵六", "F", "19920101", "12345", "", "", "", "", "", ""],
    ["", "女", "", "13600136000", "", "", "", "", "", ""],
    ["钱七", "2", "33000", "13500135000", "", "qq@EXAMPLE.com", "M003", "", "", "否"],
]


def write_csv(path: Path, headers, rows, encoding="utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def run(path, source, actor=None, **kwargs) -> ImportJob:
    job = import_job_create(path=path, source=source, actor=actor, **kwargs)
    return import_job_run(job=job)


def test_import_writes_good_rows_and_keeps_bad_ones_with_reasons(
    tmp_path, source, manager
):
    path = write_csv(tmp_path / "会员.csv", HEADERS, ROWS)

    job = run(path, source, manager)

    assert (job.read, job.created, job.rejected, job.status) == (6, 3, 3, "done")
    zhang = Customer.objects.get(name="张三")
    assert zhang.gender == "M" and zhang.birth_date == dt.date(1985, 3, 2)
    assert set(zhang.identifiers.values_list("type", "value")) == {
        ("mobile", "+8613800138000"),
        ("national_id", "110105198503020011"),
        ("email", "zs@example.com"),
        ("membership", "M001"),
    }
    assert sorted(zhang.tags.values_list("name", flat=True)) == ["VIP", "老客"]
    assert zhang.addresses.get().raw == "上海市黄浦区南京东路1号"
    assert Consent.objects.get(customer=zhang).status == "granted"
    # 33000 is an Excel serial date: days since 1899-12-30.
    assert Customer.objects.get(name="钱七").birth_date == dt.date(1990, 5, 7)
    rejects = {(r.row_number, r.column, r.value, r.code) for r in job.rejects.all()}
    assert rejects == {
        (3, "生日", "not a date", "invalid"),
        (4, "手机号码", "12345", "invalid"),
        (5, "姓名", "", "required"),
    }
    reasons = {r.row_number: r.reason for r in job.rejects.all()}
    assert reasons[3] and reasons[4] and reasons[3] != reasons[4]
    assert ImportReject.objects.get(row_number=4).raw["姓名"] == "赵六"
    # The job's one entry of the customers it created is in each one's log.
    entry = AuditEntry.objects.get(action="customer.import_create", actor=manager)
    assert entry.after == {"import_job": str(job.uuid), "file": "会员.csv"}
    assert not AuditEntry.objects.filter(action="customer.create").exists()
    for customer in Customer.objects.all():
        assert customer.import_job_id == job.pk
        assert entry in audit_list_for_customer(customer)


@pytest.mark.parametrize(("cells", "committed"), [(20, [2, 4, 6]), (1000, [5, 6])])
def test_a_chunk_holds_fewer_rows_of_a_wider_file(
    tmp_path, source, settings, cells, committed
):
    # given: chunks of at most 5 rows and `cells` cells; rows of 10 cells
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "IMPORT_CHUNK_ROWS": 5,
        "IMPORT_CHUNK_CELLS": cells,
    }
    path = write_csv(tmp_path / "wide.csv", HEADERS, ROWS)
    job, done = import_job_create(path=path, source=source), []
    # when: it is imported
    job = import_job_run(job=job, progress=lambda j: done.append(j.rows_done))
    # then: each chunk committed as many rows as fit
    assert done == committed and job.read == 6


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_a_job_audits_the_customers_it_creates_once(
    tmp_path, source, settings, chunk_rows
):
    # given: a file of three new customers, a chunk a row or one chunk
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    path = write_csv(tmp_path / "a.csv", HEADERS, ROWS)
    job = run(path, source)
    # when: a customer made by hand, and the file imported again
    other = customer_create(name="手工", source=source)
    run(path, source)
    # then: one entry for the job, in its customers' logs only
    entry = AuditEntry.objects.get(action="customer.import_create")
    assert entry.entity_id == str(job.pk)
    assert entry not in audit_list_for_customer(other)
    assert all(
        list(audit_list_for_customer(c)) == [entry]
        for c in Customer.objects.filter(import_job=job)
    )


def test_reimporting_the_same_file_changes_nothing(tmp_path, source):
    path = write_csv(tmp_path / "a.csv", HEADERS, ROWS)
    run(path, source)
    before = (
        Customer.objects.count(),
        Identifier.objects.count(),
        AuditEntry.objects.count(),
        Consent.objects.count(),
    )
    stamps = list(Customer.objects.order_by("pk").values_list("updated_at", flat=True))

    again = run(path, source)

    assert (again.created, again.updated, again.unchanged, again.rejected) == (
        0,
        0,
        3,
        3,
    )
    after = (
        Customer.objects.count(),
        Identifier.objects.count(),
        AuditEntry.objects.count() - 1,
        Consent.objects.count(),
    )  # - import.create
    assert after == before
    assert (
        list(Customer.objects.order_by("pk").values_list("updated_at", flat=True))
        == stamps
    )


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_reimporting_a_file_with_several_rows_of_one_customer_changes_nothing(
    tmp_path, source, settings, chunk_rows
):
    # given: one customer in three rows: the second writes the first's phone
    # otherwise, the third finds it by its national ID under another mobile
    # and names it anew (the later row wins)
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    rows = [
        ["王伟", "13800138000", "110105198503020011"],
        ["王伟", "+86 138 0013 8000", "110105198503020011"],
        ["邝桂花", "13900139000", "110105198503020011"],
    ]
    path = write_csv(tmp_path / "s.csv", ["姓名", "手机", "身份证号"], rows)
    run(path, source)
    assert Customer.objects.get().name == "邝桂花"
    # when: the same file again
    again = run(path, source)
    # then: every row is unchanged, and so is the customer
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert Customer.objects.get().name == "邝桂花"


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_reimporting_rows_of_one_key_that_disagree_changes_nothing(
    tmp_path, source, settings, chunk_rows
):
    # given: one customer's row three times, with two birth dates (the last
    # wins), imported; then the birth date corrected by hand
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    rows = [
        ["秦一", "13800138000", "1980-01-01"],
        ["秦一", "13800138000", "1981-01-01"],
        ["秦一", "13800138000", "1980-01-01"],
    ]
    path = write_csv(tmp_path / "k.csv", ["姓名", "手机", "生日"], rows)
    run(path, source)
    assert Customer.objects.get().birth_date == dt.date(1980, 1, 1)
    Customer.objects.update(birth_date=dt.date(1980, 2, 1))
    audited = AuditEntry.objects.filter(entity="customers.customer").count()
    # when: the same file again, in one chunk or a chunk a row
    again = run(path, source)
    # then: every row is found unchanged, and the correction stays
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert Customer.objects.get().birth_date == dt.date(1980, 2, 1)
    assert AuditEntry.objects.filter(entity="customers.customer").count() == audited
    # and once more: the job that read them last counts its rows afresh
    assert run(path, source).unchanged == 3


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_a_row_repeated_in_a_later_file_is_no_change(
    tmp_path, source, settings, chunk_rows
):
    # given: a customer a file of one row made, corrected by hand since
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    header, row = ["姓名", "手机", "生日"], ["秦四", "13800138000", "1980-01-01"]
    run(write_csv(tmp_path / "a.csv", header, [row]), source)
    Customer.objects.update(birth_date=dt.date(1980, 2, 1))
    # when: a file with that row twice, imported twice
    path = write_csv(tmp_path / "b.csv", header, [row, row])
    first, again = run(path, source), run(path, source)
    # then: neither changes the customer
    assert (
        (first.updated, first.unchanged) == (again.updated, again.unchanged) == (0, 2)
    )
    assert Customer.objects.get().birth_date == dt.date(1980, 2, 1)
    assert SourceRecord.objects.get().content_hashes.count(",") == 0  # one place
    # and a file that adds a row after the repeat: applied, and only once
    path = write_csv(tmp_path / "c.csv", header, [row, row, [*row[:2], "1981-01-01"]])
    assert run(path, source).updated == 1
    Customer.objects.update(birth_date=dt.date(1981, 2, 1))
    assert run(path, source).updated == 0
    assert Customer.objects.get().birth_date == dt.date(1981, 2, 1)


@pytest.mark.parametrize("chunk_rows", [1, 2, 5000])
def test_a_key_of_one_row_that_gains_rows_keeps_them_all(
    tmp_path, source, settings, chunk_rows
):
    # given: a customer a file of one row made
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    header, row = ["姓名", "手机", "生日"], ["秦五", "13800138000", "1980-01-01"]
    run(write_csv(tmp_path / "a.csv", header, [row]), source)
    # when: a file with that row, another customer's, and a new row of the
    # first (in the next chunk, for chunks of one or two rows), imported;
    # then the customer corrected by hand, and the file imported again
    rows = [row, ["李五", "13900139000", ""], [*row[:2], "1981-01-01"]]
    path = write_csv(tmp_path / "b.csv", header, rows)
    assert run(path, source).updated == 1
    Customer.objects.filter(name="秦五").update(birth_date=dt.date(1981, 2, 1))
    again = run(path, source)
    # then: the second time changes nothing
    assert (again.updated, again.unchanged) == (0, 3)
    assert Customer.objects.get(name="秦五").birth_date == dt.date(1981, 2, 1)


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_a_row_refused_on_reimport_keeps_the_places_of_the_rows_after_it(
    tmp_path, source, settings, chunk_rows
):
    # given: a file with two rows of one customer, imported; since then its
    # email moved by hand to another customer, and its birth date corrected
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    header = ["客户编号", "姓名", "手机", "邮箱", "生日"]
    rows = [["6", "秦六", "13800138000", "q6@example.com", "1980-01-01"]]
    rows.append(["6", "秦六", "13800138000", "", "1981-01-01"])
    path = write_csv(tmp_path / "a.csv", header, rows)
    run(path, source)
    other = [["7", "李六", "13900139000", "", ""]]
    run(write_csv(tmp_path / "o.csv", header, other), source)
    li = Customer.objects.get(name="李六")
    Identifier.objects.filter(type="email").update(customer=li)
    Customer.objects.filter(name="秦六").update(birth_date=dt.date(1960, 1, 1))
    # when: the file again: its first row is now refused (the mobile names
    # one customer, the email another)
    again = run(path, source)
    # then: the row after it is still found unchanged
    assert (again.rejected, again.updated, again.unchanged) == (1, 0, 1)
    assert Customer.objects.get(name="秦六").birth_date == dt.date(1960, 1, 1)


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_a_row_refused_then_followed_by_a_new_row_of_its_key_keeps_both(
    tmp_path, source, settings, chunk_rows
):
    # given: a customer from a file of one row, whose email moved since
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    header = ["客户编号", "姓名", "手机", "邮箱", "生日"]
    row = ["6", "秦六", "13800138000", "q6@example.com", "1980-01-01"]
    run(write_csv(tmp_path / "a.csv", header, [row]), source)
    other = [["7", "李六", "13900139000", "", ""]]
    run(write_csv(tmp_path / "o.csv", header, other), source)
    qin, li = Customer.objects.get(name="秦六"), Customer.objects.get(name="李六")
    Identifier.objects.filter(type="email").update(customer=li)
    # when: a file with that row (refused) and a new one of its key, then
    # the email given back, the birth date corrected, and the file again
    rows = [row, ["6", "秦六", "13800138000", "", "1981-01-01"]]
    path = write_csv(tmp_path / "b.csv", header, rows)
    assert run(path, source).rejected == 1
    Identifier.objects.filter(type="email").update(customer=qin)
    Customer.objects.filter(pk=qin.pk).update(birth_date=dt.date(1960, 1, 1))
    again = run(path, source)
    # then: both rows are found unchanged
    assert (again.updated, again.unchanged) == (0, 2)
    assert Customer.objects.get(pk=qin.pk).birth_date == dt.date(1960, 1, 1)


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_rows_of_a_new_key_follow_the_customer_its_first_row_went_to(
    tmp_path, source, settings, chunk_rows
):
    # given: a customer holding a mobile
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    header = ["客户编号", "姓名", "手机", "生日"]
    run(write_csv(tmp_path / "a.csv", header, [["9", "甲", "13800138000", ""]]), source)
    # when: a new key's first row comes with that mobile, its second without
    rows = [["1", "甲", "13800138000", "1980-01-01"], ["1", "甲", "", "1981-01-01"]]
    path = write_csv(tmp_path / "b.csv", header, rows)
    first, again = run(path, source), run(path, source)
    # then: both went to that customer, as they do a chunk a row
    assert Customer.objects.get().birth_date == dt.date(1981, 1, 1)
    assert (first.rejected, again.rejected, again.updated) == (0, 0, 0)


def test_a_reimport_after_a_merge_changes_the_survivor_in_nothing(
    tmp_path, source, manager
):
    # given: a customer of two disagreeing rows, merged into another since,
    # and the survivor corrected by hand
    from clientbook.identity.services import customer_merge

    header = ["姓名", "手机", "生日"]
    rows = [["甲", "13800138000", "1980-01-01"], ["甲", "13800138000", "1981-01-01"]]
    path = write_csv(tmp_path / "a.csv", header, rows)
    run(path, source)
    run(write_csv(tmp_path / "o.csv", header, [["乙", "13900139000", ""]]), source)
    jia, yi = Customer.objects.get(name="甲"), Customer.objects.get(name="乙")
    customer_merge(survivor=yi, duplicate=jia, actor=manager)
    Customer.objects.filter(pk=yi.pk).update(birth_date=dt.date(1960, 1, 1))
    # when: the file again
    again = run(path, source)
    # then: its rows are found unchanged on the survivor (the merge moved the
    # source records with the rest)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert Customer.objects.get(pk=yi.pk).birth_date == dt.date(1960, 1, 1)


def test_a_reimport_stopped_between_rows_of_one_key_resumes_changing_nothing(
    tmp_path, source, settings, monkeypatch
):
    # given: a file with three disagreeing rows of one customer, imported
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": 1}
    header = ["姓名", "手机", "生日"]
    rows = [["秦三", "13800138000", f"{y}-01-01"] for y in (1980, 1981, 1982)]
    path = write_csv(tmp_path / "a.csv", header, rows)
    run(path, source)
    Customer.objects.update(birth_date=dt.date(1982, 2, 1))  # corrected by hand
    # when: the same file again, stopped after its second row, then resumed
    apply, chunks = services.apply_customer_chunk, []

    def stopping(ctx, records):
        if len(chunks) == 2:
            raise RuntimeError("stopped")
        chunks.append(records)
        return apply(ctx, records)

    monkeypatch.setattr(services, "apply_customer_chunk", stopping)
    job = import_job_create(path=path, source=source)
    with pytest.raises(RuntimeError):
        import_job_run(job=job)
    monkeypatch.setattr(services, "apply_customer_chunk", apply)
    job = import_job_run(job=job)
    # then: the resumed job took up the key's rows where it stopped
    assert (job.rows_done, job.updated, job.unchanged) == (3, 0, 3)
    assert Customer.objects.get().birth_date == dt.date(1982, 2, 1)


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_a_changed_row_of_a_key_is_applied_and_so_is_every_row_after_it(
    tmp_path, source, settings, chunk_rows
):
    # given: a file with three rows of one customer, imported
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    header = ["姓名", "手机", "生日"]
    rows = [["秦二", "13800138000", f"{y}-01-01"] for y in (1980, 1981, 1980)]
    run(write_csv(tmp_path / "a.csv", header, rows), source)
    # when: the file again with its second row changed
    rows[1][2] = "1982-01-01"
    again = run(write_csv(tmp_path / "b.csv", header, rows), source)
    # then: the first row is unchanged, the second applied, and the third
    # too, since the customer moved on from what it said last time (in one
    # chunk, the two cancel out: the customer counts as unchanged)
    assert (again.unchanged, again.updated) == ((2, 0) if chunk_rows > 1 else (1, 2))
    assert Customer.objects.get().birth_date == dt.date(1980, 1, 1)
    assert SourceRecord.objects.get().content_hashes.count(",") == 2
    # and the changed file read again changes nothing
    assert (run(write_csv(tmp_path / "c.csv", header, rows), source).updated) == 0


@pytest.mark.parametrize("chunk_rows", [1, 5000])
def test_the_last_row_of_a_key_wins_even_when_it_repeats_an_earlier_one(
    tmp_path, source, settings, chunk_rows
):
    # given: a customer a first file made
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": chunk_rows}
    header = ["姓名", "手机", "生日"]
    run(
        write_csv(tmp_path / "a.csv", header, [["韩一", "13800138000", "1979-01-01"]]),
        source,
    )
    # when: a file says A, then B, then A again
    rows = [["韩一", "13800138000", f"{year}-01-01"] for year in (1980, 1981, 1980)]
    run(write_csv(tmp_path / "b.csv", header, rows), source)
    # then: the last row wins
    assert Customer.objects.get().birth_date == dt.date(1980, 1, 1)


def test_a_file_imported_with_raw_row_hashes_is_unchanged_when_read_again(
    tmp_path, source
):
    # given: a row imported by a version that stored the raw row's hash
    import hashlib

    path = write_csv(tmp_path / "r.csv", ["姓名", "手机"], [["魏一", "13800138000"]])
    run(path, source)
    raw = json.dumps(
        {"姓名": "魏一", "手机": "13800138000"}, sort_keys=True, ensure_ascii=False
    )
    SourceRecord.objects.update(content_hashes=hashlib.sha256(raw.encode()).hexdigest())
    Customer.objects.update(name="魏二")  # changed since, by hand
    # when: the same file again
    again = run(path, source)
    # then: the row is unchanged, and so is what changed since
    assert (again.updated, again.unchanged) == (0, 1)
    assert Customer.objects.get().name == "魏二"


def test_a_file_imported_with_standard_library_json_hashes_is_unchanged_again(
    tmp_path, source
):
    # given: rows imported by a version that hashed their parts as the
    # standard library's JSON, the customer changed by hand since
    import hashlib

    header = ["姓名", "手机", "生日"]
    path = write_csv(
        tmp_path / "j.csv",
        header,
        [["魏一", "13800138000", "1980-01-02"], ["魏一", "13800138000", "1981-01-02"]],
    )
    run(path, source)
    stored = SourceRecord.objects.get().content_hashes.split(",")
    assert [len(h) for h in stored] == [48, 48]
    legacy = [
        hashlib.sha256(
            json.dumps(
                [
                    {"name": "魏一", "birth_date": birth},
                    [["mobile", "+8613800138000"]],
                    None,
                    *([], [], [], {}, [], None, ""),
                ],
                sort_keys=True,
                ensure_ascii=False,
            ).encode()
        ).hexdigest()
        for birth in ("1980-01-02", "1981-01-02")
    ]
    SourceRecord.objects.update(content_hashes=",".join(legacy))
    Customer.objects.update(name="魏二")
    # when: the same file again
    again = run(path, source)
    # then: both rows are unchanged, and so is what changed since
    assert (again.updated, again.unchanged) == (0, 2)
    assert Customer.objects.get().name == "魏二"


def test_reimporting_a_file_with_one_more_column_mapped_takes_it(tmp_path, source):
    # given: a file imported without its occupation column
    path = write_csv(
        tmp_path / "o.csv", ["姓名", "手机", "职业"], [["陶一", "13800138000", "教师"]]
    )
    run(path, source, mapping={"姓名": "name", "手机": "phone", "职业": ""})
    # when: the same file with that column mapped
    again = run(
        path, source, mapping={"姓名": "name", "手机": "phone", "职业": "occupation"}
    )
    # then: the row says more than before, and the customer gets it
    assert (again.updated, again.unchanged) == (1, 0)
    assert Customer.objects.get().occupation == "教师"


def test_corrected_rejects_complete_the_import(tmp_path, source):
    path = write_csv(tmp_path / "a.csv", HEADERS, ROWS)
    job = run(path, source)
    with translation.override("en"):
        report = list(csv.reader(import_rejects_csv(job).splitlines()))
    assert report[0][:4] == ["row", "column", "value", "reason"]
    fixed = []
    for row in report[1:]:
        data = dict(zip(report[0][4:], row[4:], strict=True))
        data.update(
            {
                "生日": "1980-01-01",
                "手机号码": data["手机号码"].replace("12345", "13300133000"),
                "姓名": data["姓名"] or "孙八",
            }
        )
        fixed.append([data[h] for h in HEADERS])

    second = run(write_csv(tmp_path / "fixed.csv", HEADERS, fixed), source)

    assert (second.created, second.rejected) == (3, 0)
    assert Customer.objects.count() == 6


def test_dry_run_writes_nothing_but_reports(tmp_path, source):
    path = write_csv(tmp_path / "a.csv", HEADERS, ROWS)

    job = run(path, source, dry_run=True)

    assert (job.created, job.rejected, job.dry_run) == (3, 3, True)
    assert job.rejects.count() == 3
    assert not Customer.objects.exists()
    assert not SourceRecord.objects.exists()


def test_a_dry_run_of_many_chunks_counts_what_the_run_writes(
    tmp_path, source, settings
):
    # given: new customers in chunks of two (staged on PostgreSQL, in the
    # dry run's one transaction), a duplicate of an earlier chunk, rejects
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": 2}
    rows = [[f"客户{i}", "", "", f"1380013800{i}", *[""] * 6] for i in range(7)]
    path = write_csv(tmp_path / "a.csv", HEADERS, [*rows, rows[1], *ROWS[2:4]])

    # when
    dry = run(path, source, dry_run=True)
    real = run(path, source)

    # then
    counts = ("read", "created", "updated", "unchanged", "merged", "rejected")
    assert [getattr(dry, c) for c in counts] == [getattr(real, c) for c in counts]
    assert real.created == Customer.objects.count() == 7


def test_gb18030_csv_is_detected(tmp_path, source):
    path = write_csv(tmp_path / "gbk.csv", HEADERS, ROWS[:2], encoding="gb18030")
    job = run(path, source)
    assert job.created == 2
    assert Customer.objects.filter(name="李四").exists()


def test_xlsx_any_sheet_and_numbers_as_typed(tmp_path, source):
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["这是说明页"])
    sheet = book.create_sheet("客户")
    sheet.append(["姓名", "手机", "出生日期"])
    sheet.append(["周九", 13800138001, dt.datetime(1970, 1, 2)])
    path = tmp_path / "book.xlsx"
    book.save(path)

    job = run(path, source, sheet="客户")

    assert job.created == 1
    customer = Customer.objects.get()
    assert customer.birth_date == dt.date(1970, 1, 2)
    assert customer.identifiers.get().value == "+8613800138001"


def test_json_lines(tmp_path, source):
    path = tmp_path / "web.jsonl"
    lines = [
        {"name": "吴十", "email": "Wu@Example.com", "gender": "F"},
        "oops",
        {"name": "郑十一", "mobile": "13900139001"},
    ]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")

    job = run(path, source)

    assert (job.created, job.rejected) == (2, 1)
    assert Identifier.objects.get(type="email").value == "wu@example.com"


def test_matches_existing_customer_by_hard_identifier_across_id_forms(
    tmp_path, source, branch
):
    known = customer_create(
        name="张三",
        source=source,
        branch=branch,
        identifiers=[{"type": "national_id", "value": "110105491231002"}],
    )
    path = write_csv(
        tmp_path / "b.csv",
        ["姓名", "身份证", "邮箱", "职业"],
        [["张三", "11010519491231002X", "new@example.com", "教师"]],
    )

    job = run(path, source)

    assert (job.created, job.updated) == (0, 1)
    known.refresh_from_db()
    assert known.occupation == "教师"
    assert known.identifiers.filter(type="email", value="new@example.com").exists()
    # The birth date and sex the profile lacked are read from the national ID.
    assert (known.birth_date, known.gender) == (dt.date(1949, 12, 31), "F")
    entry = AuditEntry.objects.get(action="customer.import_update")
    assert entry.before == {"occupation": "", "birth_date": None, "gender": ""}
    assert entry.after["occupation"] == "教师"


def test_row_whose_identifiers_point_to_two_customers_is_rejected(
    tmp_path, source, branch
):
    a = customer_create(
        name="甲",
        source=source,
        branch=branch,
        identifiers=[{"type": "mobile", "value": "13800138000"}],
    )
    customer_create(
        name="乙",
        source=source,
        branch=branch,
        identifiers=[{"type": "email", "value": "b@example.com"}],
    )
    path = write_csv(
        tmp_path / "c.csv",
        ["姓名", "手机", "邮箱"],
        [["甲乙", "13800138000", "b@example.com"]],
    )

    job = run(path, source)

    reject = job.rejects.get()
    assert reject.code == "identifier_conflict"
    assert (
        "甲" in reject.reason and "乙" in reject.reason and str(a.uuid) in reject.reason
    )
    assert Customer.objects.count() == 2


def test_duplicates_in_one_file_become_one_customer(tmp_path, source, settings):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS": 2}
    rows = [
        ["冯一", "13800138000", "", ""],
        ["冯一", "138-0013-8000", "f@example.com", ""],
        ["x", "", "", ""],
        ["冯一", "", "f@example.com", "1988-08-08"],
        ["冯一", "", "f@example.com", ""],
    ]
    path = write_csv(tmp_path / "d.csv", ["姓名", "手机", "邮箱", "生日"], rows)

    job = run(path, source)

    assert job.created == 2  # 冯一 and x
    assert job.merged == 1  # row 2, in the same chunk as row 1
    assert job.updated == 1  # row 4, a later chunk, matched by the email, adds a date
    assert job.unchanged == 1  # row 5 tells nothing new
    feng = Customer.objects.get(name="冯一")
    assert feng.identifiers.count() == 2
    assert feng.birth_date == dt.date(1988, 8, 8)


def test_mapping_template_maps_the_next_file(tmp_path, source):
    headers = ["客户全称", "联系手机"]
    mapping_template_save(
        source=source,
        kind="customers",
        name="门店登记表",
        mapping={"客户全称": "name", "联系手机": "mobile"},
    )
    path = write_csv(tmp_path / "e.csv", headers, [["褚二", "13800138000"]])

    job = import_job_create(path=path, source=source)

    assert job.mapping == {"客户全称": "name", "联系手机": "mobile"}
    assert import_job_run(job=job).created == 1


def test_custom_fields_and_preferences(tmp_path, source, admin_user):
    custom_field_define(
        key="visits",
        label="到店次数",
        customer_kind="individual",
        field_type="integer",
        actor=admin_user,
    )
    path = write_csv(
        tmp_path / "f.csv",
        ["姓名", "到店次数", "饮品"],
        [["卫三", "7", "胡萝卜汁"], ["蒋四", "七", ""]],
    )
    job = import_job_create(
        path=path,
        source=source,
        mapping={
            "姓名": "name",
            "到店次数": "custom:visits",
            "饮品": "preference:饮品",
        },
    )

    job = import_job_run(job=job)

    assert (job.created, job.rejected) == (1, 1)
    wei = Customer.objects.get(name="卫三")
    assert wei.custom_values.get().value_integer == 7
    assert wei.preferences.get().value == "胡萝卜汁"
    assert job.rejects.get().column == "到店次数"


def test_bad_mapping_is_refused_naming_the_column(tmp_path, source):
    from clientbook.errors import ValidationFailed

    path = write_csv(tmp_path / "g.csv", ["姓名"], [["a"]])
    with pytest.raises(ValidationFailed) as err:
        import_job_create(path=path, source=source, mapping={"姓名": "nonsense"})
    assert err.value.field == "mapping.姓名"
    with pytest.raises(ValidationFailed) as err:
        import_job_create(path=path, source=source, mapping={"手机": "mobile"})
    assert err.value.code == "unknown_column"
    assert not ImportJob.objects.exists()


def test_national_id_conflicting_with_birth_date_or_sex_is_refused(tmp_path, source):
    path = write_csv(
        tmp_path / "h.csv",
        ["姓名", "身份证号", "生日", "性别"],
        [
            ["甲", "110105198503020011", "1985-03-02", "男"],
            ["乙", "11010519491231002X", "1950-01-01", "女"],
            ["丙", "110105491231002", "", "男"],
        ],
    )

    job = run(path, source)

    assert (job.created, job.rejected) == (1, 2)
    rejects = {(r.row_number, r.column, r.code) for r in job.rejects.all()}
    assert rejects == {(2, "生日", "id_conflict"), (3, "性别", "id_conflict")}


def test_one_line_addresses_are_split(tmp_path, source):
    path = write_csv(
        tmp_path / "i.csv",
        ["姓名", "地址", "邮编"],
        [
            ["甲", "浙江杭州西湖区文三路100号", ""],
            ["乙", "朝阳区建国路88号", ""],
            ["丙", "上海市徐汇区漕溪北路88号", "200030"],
        ],
    )

    run(path, source)

    hangzhou = Customer.objects.get(name="甲").addresses.get()
    assert (
        hangzhou.province,
        hangzhou.city,
        hangzhou.district,
        hangzhou.street,
        hangzhou.postcode,
        hangzhou.is_valid,
    ) == ("浙江省", "杭州市", "西湖区", "文三路100号", "310000", True)
    # 朝阳区 is in Beijing and in Changchun: not placed, and marked for checking.
    chaoyang = Customer.objects.get(name="乙").addresses.get()
    assert (chaoyang.province, chaoyang.city, chaoyang.is_valid) == ("", "", False)
    assert chaoyang.raw == "朝阳区建国路88号"
    shanghai = Customer.objects.get(name="丙").addresses.get()
    assert (shanghai.city, shanghai.postcode) == ("上海市", "200030")


def test_fast_inserts_store_what_the_orm_stores(source):
    """The import's bulk writer and Django's save give identical rows."""
    import uuid

    from django.forms.models import model_to_dict
    from django.utils import timezone

    from clientbook.ingest import fastwrite

    when = timezone.now().replace(microsecond=123456)
    fields = dict(
        name="同",
        source=source,
        birth_date=dt.date(1999, 12, 31),
        notes="x",
        gender="F",
    )
    fast = Customer(uuid=uuid.uuid4(), **fields)
    slow = Customer(uuid=uuid.uuid4(), **fields)
    fastwrite.insert([fast])
    slow.save()
    ident = Identifier(
        customer=fast,
        type="email",
        value="a@b.cn",
        source=source,
        is_verified=True,
        first_seen=when,
        last_seen=when,
    )
    fastwrite.insert([ident])

    a = Customer.objects.get(pk=fast.pk)
    b = Customer.objects.get(pk=slow.pk)
    skip = {"id", "uuid", "created_at", "updated_at"}
    assert {k: v for k, v in model_to_dict(a).items() if k not in skip} == {
        k: v for k, v in model_to_dict(b).items() if k not in skip
    }
    assert a.uuid == fast.uuid and a.created_at == fast.created_at
    stored = Identifier.objects.get(pk=ident.pk)
    assert (stored.first_seen, stored.is_verified) == (when, True)
    assert slow.pk > fast.pk  # ids allocated by the writer are not given again


def test_bulk_updates_store_what_the_orm_stores(source):
    """Rows each with their own values (text, dates, times, booleans,
    foreign keys, NULLs), many at once."""
    from django.utils import timezone

    from clientbook.ingest import fastwrite

    when = timezone.now().replace(microsecond=654321)
    people = [
        customer_create(name=f"批{i}", source=source, identifiers=[])
        for i in range(200)
    ]
    values = {
        c.pk: (f"改{i}", dt.date(1980, 1, 1 + i % 28) if i % 3 else None, when)
        for i, c in enumerate(people)
    }
    # when
    fastwrite.update_rows(
        Customer,
        ["name", "birth_date", "updated_at"],
        [(*v, pk) for pk, v in values.items()],
    )
    # then
    stored = Customer.objects.values_list("pk", "name", "birth_date", "updated_at")
    assert {pk: (n, b, u) for pk, n, b, u in stored} == values
    ident = Identifier.objects.create(
        customer=people[0],
        type="email",
        value="u@b.cn",
        source=source,
        first_seen=when,
        last_seen=when,
    )
    fastwrite.update_rows(
        Identifier, ["is_verified", "customer_id"], [(True, people[1].pk, ident.pk)]
    )
    ident.refresh_from_db()
    assert (ident.is_verified, ident.customer_id) == (True, people[1].pk)


@pytest.mark.django_db(transaction=True)
def test_bulk_updates_outside_a_transaction(source):
    from clientbook.ingest import fastwrite

    customer = customer_create(name="外一", source=source, identifiers=[])
    fastwrite.update_rows(Customer, ["name"], [("外二", customer.pk)])
    assert Customer.objects.get().name == "外二"


def test_reject_report_cannot_run_formulas_but_keeps_phones_and_amounts(
    tmp_path, source
):
    path = write_csv(
        tmp_path / "j.csv",
        ["姓名", "手机", "备注"],
        [
            ['=HYPERLINK("http://x")', "12345", "@SUM(A1)"],
            ["甲", "+86 12", "-12.00"],
        ],
    )
    job = run(path, source)

    report = list(csv.reader(import_rejects_csv(job).splitlines()))

    rows = {r[0]: r for r in report[1:]}
    assert rows["1"][4] == '\'=HYPERLINK("http://x")'
    assert rows["1"][6] == "'@SUM(A1)"
    assert rows["2"][5:] == ["+86 12", "-12.00"]
    assert job.rows_total == 2


def test_keys_with_quotes_backslashes_and_braces_are_found_again(tmp_path, source):
    # given: source ids and membership numbers as some systems write them
    awkward = ['A"1', "B\\2", "{C,3}", "D 4", "NULL"]
    rows = [[f"客户{i}", value, value] for i, value in enumerate(awkward)]
    path = write_csv(tmp_path / "ids.csv", ["姓名", "客户编号", "会员卡号"], rows)
    first = run(path, source)
    # when: the same file again
    again = run(
        write_csv(tmp_path / "ids2.csv", ["姓名", "客户编号", "会员卡号"], rows), source
    )
    # then: every row is found by its key, none created twice
    assert (first.created, again.created, again.unchanged) == (5, 0, 5)
    assert sorted(
        Identifier.objects.filter(type="membership").values_list("value", flat=True)
    ) == sorted(awkward)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="staging is PostgreSQL's")
def test_staged_new_customers_are_stored_as_the_general_path_stores_them(
    tmp_path, source, manager, monkeypatch
):
    # given: plain new customers (with and without address or identifiers),
    # ones with tags and consents, a duplicate, a known key, rejects
    rows = [
        *ROWS,
        ["孙八", "男", "", "13400134000", "", "", "", "", "", ""],
        ["周九", "", "", "", "", "", "", "北京市海淀区中关村大街1号", "", ""],
        ["钱七", "2", "", "+86 135 0013 5000", "", "", "", "", "", ""],
        ['吴"十\\', "女", "", "13300133000", "", "o'k@example.com", "", "", "", ""],
        ["郑十一", "", "", "", "", "", 'M"{1}\\,2', "路\\1号", "", ""],
    ]
    path = write_csv(tmp_path / "c.csv", HEADERS, rows)
    run(write_csv(tmp_path / "known.csv", HEADERS, [rows[1]]), source, manager)

    written, write = [], staging.write
    monkeypatch.setattr(
        staging, "write", lambda ctx, rows: written.extend(rows) or write(ctx, rows)
    )

    def stored(staged: bool) -> dict:
        monkeypatch.setattr(staging, "is_used", lambda: staged)
        keep = transaction.savepoint()
        job = run(path, source, manager)
        tables = _tables(job)
        transaction.savepoint_rollback(keep)
        return tables

    # when / then
    with_staging, without = stored(True), stored(False)
    assert with_staging == without
    assert len(with_staging["customers"]) == 7
    # staged: 孙八, 周九, 吴"十\ and 郑十一 (张三 has tags and consent, 钱七 two rows),
    # as COPY text: branch, uuid, kind, name…
    names = [line.split("\t")[3].replace("\\\\", "\\") for line in written]
    assert sorted(names) == sorted(["孙八", "周九", '吴"十\\', "郑十一"])


@pytest.mark.parametrize("mixed", [True, False])
def test_a_parsed_chunk_comes_back_from_a_worker_as_it_was_sent(mixed):
    # given: a chunk of slim rows, with (or without) a whole one and a bad one
    parser = RowParser(
        {"姓名": "name", "手机": "mobile", "标签": "tags"},
        branches={},
        custom_fields={},
        stage=staging.line,
    )
    rows = [(n, {"姓名": f"客户{n}", "手机": f"139{n:08d}"}) for n in range(2, 7)]
    if mixed:
        rows[1] = (3, {"姓名": "赵六", "手机": "13800138000", "标签": "VIP"})
        rows[3] = (5, {"姓名": "钱七", "手机": "12345"})
    parsed = parser.chunk(rows)
    # when: pickled, as the worker sends it
    sent = with_raw(rows, pickle.loads(pickle.dumps(parsed)))
    # then: the same records, in the same order
    assert [type(r) for r in sent] == [type(r) for r in parsed]
    assert {type(r) for r in sent} == ({Staged, CustomerRecord} if mixed else {Staged})
    for was, came in zip(parsed, sent, strict=True):
        assert (came.row_number, came.source_key(), came.content_hash()) == (
            was.row_number,
            was.source_key(),
            was.content_hash(),
        )
        assert (came.hard_identifiers, came.staged) == (
            was.hard_identifiers,
            was.staged,
        )
        assert came.errors == was.errors and came.raw == dict(rows)[came.row_number]


def test_plain_new_customers_travel_slim_unless_most_are_needed_whole():
    # given: a parser that stages, and rows of which one brings a tag
    parser = RowParser(
        {"姓名": "name", "手机": "mobile", "地址": "address", "标签": "tags"},
        branches={},
        custom_fields={},
        stage=staging.line,
    )
    rows = [
        (2, {"姓名": " 王五 ", "手机": "139 0013 9000", "地址": "上海市黄浦区1号"}),
        (3, {"姓名": "赵六", "手机": "13800138000", "标签": "VIP"}),
    ]
    # when: parsed, and sent from a worker
    plain, tagged = parser.chunk(rows)
    [sent] = with_raw(rows, [pickle.loads(pickle.dumps(plain))])
    # then: the plain one comes as what matching needs and its staging row
    assert type(plain) is Staged and type(tagged) is CustomerRecord
    assert not sent.errors and sent.staged == plain.staged
    whole = parser.whole(sent)  # parsed again from the raw row
    assert (sent.source_key(), sent.hard_identifiers, sent.content_hash()) == (
        whole.source_key(),
        (("mobile", "+8613900139000"),),
        whole.content_hash(),
    )
    assert whole.profile["name"] == "王五" and whole.address_row[2] == "上海市"
    assert whole.staged == sent.staged and parser.whole(tagged) is tagged
    # made again, the row differs in its new customer's UUID only
    assert staging.line(whole).split("\t")[1:] == whole.staged.split("\t")[1:]
    # and whole while most rows are needed whole, slim again when few are
    parser.needed(30, 100)
    assert type(parser.chunk(rows)[0]) is CustomerRecord
    parser.needed(10, 100)  # in between: as it was
    assert type(parser.chunk(rows)[0]) is CustomerRecord
    parser.needed(4, 100)
    assert type(parser.chunk(rows)[0]) is Staged


def _tables(job) -> dict:
    """What an import wrote, with the keys the database made left out."""
    from clientbook.customers.models import Address

    names = dict(Customer.objects.values_list("id", "name"))
    skip = {
        "id",
        "uuid",
        "customer",
        "created_at",
        "updated_at",
        "first_seen",
        "last_seen",
        "at",
        "job",
    }

    def rows(queryset, *fields):
        out = []
        for item in queryset.values():
            of = names.get(item.get("customer_id"))
            item = {k: v for k, v in item.items() if k.removesuffix("_id") not in skip}
            item["of"] = of
            if "entity_id" in item:  # a customer's, as a string
                item["entity_id"] = names.get(int(item["entity_id"]))
            if (item.get("after") or {}).get("import_job") == str(job.uuid):
                item["after"]["import_job"] = "this job"
            if item.get("import_job_id") == job.pk:
                item["import_job_id"] = "this job"
            out.append(item)
        return sorted(out, key=repr)

    assert {c.uuid.version for c in Customer.objects.all()} == {7}
    return {
        "customers": rows(Customer.objects.all()),
        "identifiers": rows(Identifier.objects.all()),
        "addresses": rows(Address.objects.all()),
        "sources": rows(SourceRecord.objects.filter(job=job)),
        "audit": rows(
            AuditEntry.objects.filter(entity="customers.customer").exclude(
                action="import.create"
            )
        ),
        "created": AuditEntry.objects.filter(
            action="customer.import_create", entity_id=str(job.pk)
        ).count(),
        "counts": (job.created, job.updated, job.unchanged, job.merged, job.rejected),
    }


@pytest.mark.parametrize("tags", ["", "VIP"])  # staged, and written by COPY
def test_a_chunk_refused_for_a_key_taken_meanwhile_is_redone_row_by_row(
    tmp_path, source, monkeypatch, tags
):
    # given: a customer whose mobile the import's first lookup misses, as if
    # someone else had written it meanwhile
    from clientbook.ingest import pipeline

    held = customer_create(
        name="王五",
        source=source,
        identifiers=[{"type": "mobile", "value": "13700137000"}],
    )
    lookups, live_holders = [], pipeline._live_holders
    monkeypatch.setattr(
        pipeline,
        "_live_holders",
        lambda keys: (
            live_holders(keys) if lookups.append(keys) or len(lookups) > 1 else {}
        ),
    )
    path = write_csv(
        tmp_path / "m.csv",
        ["姓名", "手机", "职业", "标签"],
        [["王五", "13700137000", "教师", tags]],
    )

    # when
    job = run(path, source)

    # then: the database refused the new customer; redone, the row matched
    assert (job.created, job.updated, job.rejected) == (0, 1, 0)
    assert Customer.objects.count() == 1
    held.refresh_from_db()
    assert held.occupation == "教师"


def test_a_long_street_is_cut_to_its_column_and_kept_whole_in_the_raw_address(
    tmp_path, source
):
    # given: an address whose street, once its district is read, is 360 long
    address = "浙江省杭州市西湖区" + "文三路" * 120
    path = write_csv(tmp_path / "a.csv", ["姓名", "地址"], [["张三", address]])
    # when
    job = run(path, source)
    # then
    assert (job.created, job.rejected) == (1, 0)
    stored = Customer.objects.get().addresses.get()
    assert stored.street == ("文三路" * 120)[:300] and stored.raw == address


def test_a_nul_character_refuses_its_row_naming_the_column(tmp_path, source):
    # given: a NUL in a mapped cell; one in an unmapped cell of a row refused
    # for another reason (PostgreSQL stores neither: it failed the job)
    path = write_csv(
        tmp_path / "a.csv",
        ["姓名", "手机", "无关列"],
        [
            ["张\x00三", "13800138000", ""],
            ["李四", "12345", "x\x00y"],
            ["王五", "13900139000", ""],
        ],
    )
    # when
    job = run(path, source)
    # then: the rows refused say where, and the report shows the NUL as �
    assert (job.status, job.created, job.rejected) == ("done", 1, 2)
    rejects = {(r.row_number, r.column, r.value) for r in job.rejects.all()}
    assert rejects == {(1, "姓名", "张\ufffd三"), (2, "手机", "12345")}
    assert ImportReject.objects.get(row_number=2).raw["无关列"] == "x\ufffdy"
    assert Customer.objects.get().name == "王五"


def test_half_a_surrogate_pair_refuses_its_row_naming_the_column(tmp_path, source):
    # given: JSON Lines whose escapes make half a UTF-16 surrogate pair, in a
    # mapped cell and in an unmapped cell of a row refused for another reason
    # (no UTF-8 text holds one: it failed the job)
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"姓名": "张\\ud800三", "手机": "13800138000", "无关列": ""}\n'
        '{"姓名": "李四", "手机": "12345", "无关列": "x\\udfffy"}\n'
        '{"姓名": "王五", "手机": "13900139000", "无关列": "x\\udfffy"}\n',
        encoding="utf-8",
    )
    # when
    job = run(path, source)
    # then: the rows refused say where, and the report shows the half as �
    assert (job.status, job.created, job.rejected) == ("done", 1, 2)
    rejects = {(r.row_number, r.column, r.value) for r in job.rejects.all()}
    assert rejects == {(1, "姓名", "张\ufffd三"), (2, "手机", "12345")}
    assert ImportReject.objects.get(row_number=2).raw["无关列"] == "x\ufffdy"
    assert Customer.objects.get().name == "王五"
