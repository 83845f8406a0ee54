"""A worker killed in the middle of an import (kill -9) loses no row and
writes none twice when the job is run again; its parsing processes die
with it."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from clientbook.customers.models import Customer, Identifier
from clientbook.ingest.models import ImportJob, JobStatus, SourceRecord
from clientbook.ingest.services import import_job_create, import_job_run

ROWS = 6000  # above parallel.MIN_ROWS: the worker parses in processes


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}@{host}/{db['NAME']}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_import_resumes_without_loss_or_duplicates(tmp_path, source):
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["姓名", "手机"])
        writer.writerows([f"客户{i}", f"139{i:08d}"] for i in range(ROWS))
    job = import_job_create(path=path, source=source)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CLIENTBOOK_IMPORT_CHUNK_ROWS": "25",
    }

    # when: a worker runs the job and is killed part-way through
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clientbook.cli",
            "import",
            "--resume",
            str(job.uuid),
            "-v",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.poll() is None:
        job.refresh_from_db()
        if job.rows_done >= 200:
            break
        time.sleep(0.01)
    parsers = _children(worker.pid)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    job.refresh_from_db()
    assert 0 < job.rows_done < ROWS, worker.stderr.read().decode()[-2000:]
    assert job.status == JobStatus.RUNNING
    assert parsers and _gone(parsers)

    # then: what was committed is whole — one customer per committed row
    assert Customer.objects.count() == job.rows_done == job.created
    assert Identifier.objects.count() == job.rows_done

    # when: the job is run again, it carries on after the last committed row
    job = import_job_run(job=ImportJob.objects.get(pk=job.pk))

    assert job.status == JobStatus.DONE
    assert (job.read, job.created, job.rejected) == (ROWS, ROWS, 0)
    assert Customer.objects.count() == ROWS
    assert Identifier.objects.values("value").distinct().count() == ROWS
    assert SourceRecord.objects.count() == ROWS


def _children(pid: int) -> set[int]:
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as stream:
            found |= {int(p) for p in stream.read().split()}
    return found


def _gone(pids: set[int]) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not any(_running(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"  # not a zombie
    except FileNotFoundError:
        return False
