"""A customer import that writes each chunk on a thread of its own while it
plans the next (`services._write_behind`) stores what one writing chunk
after chunk stores, though the next chunk's lookups cannot see the chunk
being written."""

import datetime as dt
import random

import pytest
from django.conf import settings
from django.db import connection

from clientbook.customers.models import (
    Address,
    Customer,
    CustomFieldValue,
    Identifier,
    KeyDate,
    Preference,
)
from clientbook.customers.normalise import id_check_digit
from clientbook.customers.services import customer_create
from clientbook.ingest import pipeline, services
from clientbook.ingest.models import ImportJob, ImportReject, SourceRecord
from clientbook.ingest.rows import Staged
from clientbook.ingest.tests.test_import_customers import _tables, run, write_csv
from clientbook.privacy.models import AuditEntry, Consent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="written behind on PostgreSQL only"
    ),
]

HEADERS = ["姓名", "手机", "身份证号", "邮箱", "地址", "职业"]
PEOPLE = 150
KNOWN = 20  # people in the database before the import
CHUNK = 40


def national_id(i: int) -> str:
    body = f"1101051985{1 + i % 12:02d}{1 + i % 28:02d}{i:03d}"
    return body + id_check_digit(body)


def person_rows(i: int, draw: random.Random) -> list[list[str]]:
    """Rows of person `i`: the first, then repeats and variants of it."""
    mobile, number = f"139{i:08d}", national_id(i)
    first = [f"客户{i}", mobile, number, "", "", ""]
    variants = [
        list(first),  # a repeat
        [f"客户{i}", f"+86 139 {i // 10**4:04d} {i % 10**4:04d}", "", "", "", "教师"],
        [f"客户{i}", "", number[:6] + number[8:17], f"c{i}@example.com", "", ""],
        [f"客户{i}", mobile, "", "", f"上海市黄浦区南京东路{i}号", ""],
        [f"客户{i}", mobile, national_id((i + 1) % PEOPLE), "", "", ""],  # conflict
        [f"客户{i}", "12345", "", "", "", ""],  # bad
    ]
    return [first, *draw.sample(variants, draw.randint(0, 3))]


def file_rows() -> list[list[str]]:
    """People's later rows a few dozen rows after their first: often in the
    next chunk, the one planned while the first is written."""
    draw = random.Random(7)
    placed = []
    for i in range(PEOPLE):
        start = draw.uniform(0, PEOPLE * 2)
        for n, row in enumerate(person_rows(i, draw)):
            placed.append((start + n * draw.uniform(5, 60), row))
    return [row for _at, row in sorted(placed, key=lambda p: p[0])]


def known_people(source) -> None:
    for i in range(KNOWN):
        customer_create(
            name=f"客户{i}",
            source=source,
            identifiers=[{"type": "mobile", "value": f"139{i:08d}"}],
        )


def empty_tables() -> None:
    models = [
        Customer,
        Customer.tags.through,
        Identifier,
        Address,
        Preference,
        KeyDate,
        CustomFieldValue,
        Consent,
        SourceRecord,
        AuditEntry,
        ImportReject,
        ImportJob,
    ]
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def stored(tmp_path, source, monkeypatch, *, behind: bool) -> dict:
    empty_tables()
    known_people(source)
    monkeypatch.setattr(services, "_writes_behind", lambda job, steps: behind)
    job = run(write_csv(tmp_path / "people.csv", HEADERS, file_rows()), source)
    rejects = ImportReject.objects.values_list("row_number", "column", "value", "code")
    return {**_tables(job), "rejects": sorted(rejects)}


def miss_once(monkeypatch, identifier: tuple[str, str]) -> list[int]:
    """The first lookup of `identifier`'s holder finds none, as if someone
    wrote it meanwhile; returns the holder missed."""
    missed, live_holders = [], pipeline._live_holders

    def missing(keys):
        found = live_holders(keys)
        if identifier in found and not missed:
            missed.append(found.pop(identifier))
        return found

    monkeypatch.setattr(pipeline, "_live_holders", missing)
    return missed


def test_chunks_written_behind_store_what_chunks_written_in_turn_store(
    tmp_path, source, monkeypatch
):
    # given: chunks of 40 rows, each person's rows spread over a few of them
    monkeypatch.setitem(settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS", CHUNK)
    held, prepare = [], pipeline.prepare

    def counted(ctx, records, *, meanwhile=None):
        ready = prepare(ctx, records, meanwhile=meanwhile)
        held.append(len(ready.held))
        return ready

    monkeypatch.setattr(pipeline, "prepare", counted)
    in_turn = stored(tmp_path, source, monkeypatch, behind=False)
    assert not any(held)

    # when
    behind = stored(tmp_path, source, monkeypatch, behind=True)

    # then: rows were held back for the chunk before, and all came out alike
    assert sum(held) > 20, held
    assert behind == in_turn
    created, updated, unchanged, merged, rejected = in_turn["counts"]
    assert created > 100 and updated >= KNOWN and rejected > 10


def test_a_chunk_refused_while_the_next_is_planned_is_redone_row_by_row(
    tmp_path, source, monkeypatch
):
    # given: a known customer's mobile the first lookups miss, as if someone
    # had written it meanwhile, in the third of five chunks
    monkeypatch.setitem(settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS", 10)
    held = customer_create(
        name="王五",
        source=source,
        identifiers=[{"type": "mobile", "value": "13700137000"}],
    )
    rows = [[f"客户{i}", f"139{i:08d}", "", "", "", ""] for i in range(50)]
    rows[25] = ["王五", "13700137000", "", "", "", "教师"]
    missed = miss_once(monkeypatch, ("mobile", "+8613700137000"))
    written_behind = []
    monkeypatch.setattr(
        services,
        "_write_behind",
        lambda *args, behind=services._write_behind: (
            written_behind.append(1) or behind(*args)
        ),
    )

    # when
    job = run(write_csv(tmp_path / "m.csv", HEADERS, rows), source)

    # then: the database refused the new customer; redone, the row matched
    assert written_behind and missed == [held.pk]
    assert (job.created, job.updated, job.rejected, job.read) == (49, 1, 0, 50)
    assert Customer.objects.count() == 50
    held.refresh_from_db()
    assert held.occupation == "教师"
    assert job.rows_done == 50


def test_after_a_chunk_is_redone_the_next_is_planned_again(
    tmp_path, source, monkeypatch
):
    # given: a known customer's mobile the first lookups miss in chunk 3 of
    # 5, with his occupation; in chunk 4 a row finding him by his email (not
    # held back: chunk 3 planned him as a new customer), with his ID number,
    # and another customer's occupation, so chunk 4 writes occupations
    monkeypatch.setitem(settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS", 10)
    wang = customer_create(
        name="王五",
        source=source,
        identifiers=[
            {"type": "mobile", "value": "13700137000"},
            {"type": "email", "value": "w5@example.com"},
        ],
    )
    customer_create(
        name="赵六",
        source=source,
        identifiers=[{"type": "mobile", "value": "13600136000"}],
    )
    rows = [[f"客户{i}", f"139{i:08d}", "", "", "", ""] for i in range(50)]
    rows[25] = ["王五", "13700137000", "", "", "", "教师"]
    rows[35] = ["王五", "", national_id(5), "w5@example.com", "", ""]
    rows[36] = ["赵六", "13600136000", "", "", "", "工程师"]
    missed = miss_once(monkeypatch, ("mobile", "+8613700137000"))

    # when
    job = run(write_csv(tmp_path / "m.csv", HEADERS, rows), source)

    # then: chunk 4 wrote what its ID number says over chunk 3's occupation,
    # not over what it had read before chunk 3 was redone
    assert missed == [wang.pk]
    assert (job.created, job.updated, job.rejected) == (47, 3, 0)
    wang.refresh_from_db()
    assert (wang.occupation, wang.birth_date, wang.gender) == (
        "教师",
        dt.date(1985, 6, 6),
        "M",
    )


def test_rows_tied_in_a_chain_to_the_chunk_being_written_are_all_held_back():
    # given: rows each sharing a mobile with the next, the last one a mobile
    # of the chunk being written, and a row tied to nothing
    def staged(n: int, *mobiles: str) -> Staged:
        hard = tuple(("mobile", m) for m in mobiles)
        return Staged(n, None, f"id:{n}", hard, "", None, None)

    chain = [staged(n, f"m{n}", f"m{n + 1}") for n in range(2000)]
    alone = staged(9999, "m-alone")
    writing = pipeline.Prepared(pipeline.ChunkResult(), keys={("mobile", "m2000")})
    found = pipeline._Found({}, {}, {}, set())
    # when
    free, held, _found = pipeline._independent([alone, *chain], found, writing)
    # then
    assert free == [alone] and held == chain


def test_a_write_failing_while_planning_fails_too_is_logged(
    tmp_path, source, monkeypatch, caplog
):
    # given: the second chunk's write fails, and so does the third's planning
    monkeypatch.setitem(settings.CLIENTBOOK, "IMPORT_CHUNK_ROWS", 10)
    calls = {"write": 0, "prepare": 0}
    write, prepare = pipeline.write, pipeline.prepare

    def failing(name, call, error):
        def run(*args, **kwargs):
            calls[name] += 1
            if calls[name] == (2 if name == "write" else 3):
                raise error
            return call(*args, **kwargs)

        return run

    monkeypatch.setattr(pipeline, "write", failing("write", write, ValueError("w")))
    monkeypatch.setattr(
        pipeline, "prepare", failing("prepare", prepare, RuntimeError("planning"))
    )
    rows = [[f"客户{i}", f"139{i:08d}", "", "", "", ""] for i in range(30)]
    # when
    with pytest.raises(RuntimeError, match="planning"):
        run(write_csv(tmp_path / "f.csv", HEADERS, rows), source)
    # then: the job names the planning's error, the log the write's; the
    # first chunk stays committed with its progress
    job = ImportJob.objects.get()
    assert (job.status, job.error, job.rows_done, job.created) == (
        "failed",
        "planning",
        10,
        10,
    )
    assert (
        "writing chunk 2 failed too" in caplog.text and "ValueError: w" in caplog.text
    )
