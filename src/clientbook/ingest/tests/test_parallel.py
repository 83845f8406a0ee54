"""Parsing in worker processes gives the import the same records, in the
same order, as parsing in the importing process."""

import csv
import datetime as dt
import gc
import multiprocessing
import os
import signal
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from clientbook.customers.models import Address, Customer
from clientbook.ingest import parallel
from clientbook.ingest.services import import_job_create, import_job_run

pytestmark = pytest.mark.django_db


def test_chunks_come_back_in_order_with_their_parse():
    chunks = [[i] * (i % 3 + 1) for i in range(20)]
    done = list(parallel.parse_ahead(_doubled, chunks, processes=2))
    assert done == [(c, [x * 2 for x in c]) for c in chunks]


def _doubled(chunk):
    return [x * 2 for x in chunk]


def test_workers_die_on_sigterm_whatever_the_importer_does_with_it():
    # given: an importer that only notes SIGTERM, as a task worker does
    noted = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        # when: its workers parse
        done = list(parallel.parse_ahead(_sigterm_is_default, [[1], [2]], processes=2))
    finally:
        signal.signal(signal.SIGTERM, noted)
    # then: in them SIGTERM ends the process, so the pool can end them
    assert [parsed for _chunk, parsed in done] == [[True], [True]]


def _sigterm_is_default(chunk):
    return [signal.getsignal(signal.SIGTERM) is signal.SIG_DFL]


def test_workers_parse_at_a_lower_priority_than_the_importer():
    done = list(parallel.parse_ahead(_niceness, [[1], [2]], processes=2))
    expected = min(os.nice(0) + parallel.NICE, 19)  # Linux caps niceness at 19
    assert [parsed for _chunk, parsed in done] == [[expected], [expected]]
    assert os.nice(0) < expected  # the importer itself is not niced


def _niceness(chunk):
    return [os.nice(0)]


def test_an_error_reading_the_file_reaches_the_importer():
    # given: a file whose third chunk cannot be read
    def chunks():
        yield [1]
        yield [2]
        raise UnicodeDecodeError("gb18030", b"\xff", 0, 1, "illegal multibyte")

    # when / then: the chunks before it come, then the error itself
    done = parallel.parse_ahead(_doubled, chunks(), processes=2)
    assert [next(done), next(done)] == [([1], [2]), ([2], [4])]
    with pytest.raises(UnicodeDecodeError, match="illegal multibyte"):
        next(done)


def test_an_importer_that_stops_early_leaves_no_reader_behind():
    # given: many chunks, of which the importer takes two
    read = []

    def chunks():
        for i in range(1000):
            read.append(i)
            yield [i]

    done = parallel.parse_ahead(_doubled, chunks(), processes=2)
    taken = [next(done), next(done)]
    # when: it stops (an error in a chunk's transaction, say)
    done.close()
    # then: the reading thread stopped too, a chunk or two ahead at most
    assert taken == [([0], [0]), ([1], [2])]
    assert len(read) <= 4
    assert parallel.READER not in {t.name for t in threading.enumerate()}
    assert not multiprocessing.active_children()


def test_small_files_and_one_core_parse_in_the_importing_process(settings):
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "IMPORT_WORKERS": 2,
        "IMPORT_SYNC_ROWS": parallel.MIN_ROWS,
    }
    assert parallel.workers(parallel.MIN_ROWS + 1) == 2
    assert parallel.workers(parallel.MIN_ROWS) == 0
    # nor files small enough for a web request to import itself
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_SYNC_ROWS": 10**5}
    assert parallel.workers(10**5) == 0
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_WORKERS": 1}
    assert parallel.workers(10**6) == 0


def _rows(count):
    for i in range(count):
        mobile = f"139{i % 40:08d}"  # a duplicate every 40 rows
        birth = (
            "not a date" if i % 17 == 0 else f"19{50 + i % 40}-0{1 + i % 9}-1{i % 9}"
        )
        yield [f"客户{i % 40}", mobile, birth, "浙江省杭州市西湖区文三路100号"]


@pytest.mark.parametrize("workers", [0, 2])
def test_an_import_with_workers_writes_what_one_without_writes(
    tmp_path, source, settings, monkeypatch, workers
):
    monkeypatch.setattr(parallel, "MIN_ROWS", 1)
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "IMPORT_SYNC_ROWS": 1,
        "IMPORT_CHUNK_ROWS": 7,
        "IMPORT_WORKERS": workers,
    }
    path = tmp_path / "p.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["姓名", "手机", "生日", "地址"])
        writer.writerows(_rows(100))

    job = import_job_run(job=import_job_create(path=path, source=source))

    counts = (job.read, job.created, job.updated, job.unchanged, job.merged)
    # Rows of a customer in a later chunk update it (the birth date).
    assert counts + (job.rejected,) == (100, 40, 54, 0, 0, 6)
    assert [r.row_number for r in job.rejects.order_by("row_number")] == list(
        range(1, 101, 17)
    )
    assert Customer.objects.count() == 40
    assert Customer.objects.get(name="客户0").birth_date == dt.date(1950, 9, 18)
    assert Address.objects.filter(city="杭州市").count() == 40


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statistics are PostgreSQL's"
)
@pytest.mark.parametrize(("sync_rows", "analyses"), [(1, 4), (100, 0)])
def test_a_big_import_analyzes_the_tables_it_probes_as_they_double(
    tmp_path, source, settings, monkeypatch, sync_rows, analyses
):
    # given: 100 rows in 15 chunks, big or small for a web request
    monkeypatch.setattr(parallel, "MIN_ROWS", 1)
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "IMPORT_SYNC_ROWS": sync_rows,
        "IMPORT_CHUNK_ROWS": 7,
        "IMPORT_WORKERS": 0,
    }
    path = tmp_path / "p.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["姓名", "手机", "生日", "地址"])
        writer.writerows(_rows(100))
    job = import_job_create(path=path, source=source)
    # when
    with CaptureQueriesContext(connection) as queries:
        import_job_run(job=job)
    # then: after chunks 1, 2, 4 and 8 of the big one, identifiers among them
    done = [q["sql"] for q in queries if q["sql"].startswith("ANALYZE")]
    assert len(done) == analyses
    assert all('"customers_identifier"' in sql for sql in done)


def test_a_big_import_runs_the_collector_between_chunks_and_restores_it(settings):
    # given: imports bigger and not bigger than a web request imports itself
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_SYNC_ROWS": 10**5}
    seen = []
    # when
    with parallel.collections_between_chunks(10**5 + 1) as collect:
        seen.append(gc.isenabled())
        collect()
    with parallel.collections_between_chunks(10**5):
        seen.append(gc.isenabled())
    # then: off inside the big one only, and on again after
    assert seen == [False, True]
    assert gc.isenabled()


def test_a_worker_that_stops_answering_fails_the_import_instead_of_holding_it(
    monkeypatch,
):
    # given: workers, one chunk of which never comes back
    monkeypatch.setattr(parallel, "WAIT", 1)
    chunks = [[1], [2], [3]]
    # when / then
    started = time.monotonic()
    with (
        translation.override("en"),
        pytest.raises(RuntimeError, match="did not answer in 1 s"),
    ):
        list(parallel.parse_ahead(_stuck_on_two, chunks, processes=2))
    assert time.monotonic() - started < 30
    assert not multiprocessing.active_children()  # the stuck worker too


def _stuck_on_two(chunk):
    if chunk == [2]:
        time.sleep(3600)
    return chunk
