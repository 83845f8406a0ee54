"""Uploads no import was made from are swept away; a job's file stays."""

import datetime as dt
import os
import time

import pytest
from django.core.management import call_command

from clientbook.ingest.services import import_job_create
from clientbook.ingest.uploads import upload_sweep

pytestmark = pytest.mark.django_db


def test_old_unused_uploads_are_removed_and_job_files_kept(
    tmp_path, settings, source, capsys
):
    # given: a job's file, and unused files old and new, a half-copied one
    folder = tmp_path / "imports"
    folder.mkdir()
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_DIR": folder}
    upload = tmp_path / "c.csv"
    upload.write_text("姓名,手机\n张三,13800138000\n", encoding="utf-8")
    job_file = import_job_create(path=upload, source=source).file_path
    old, new, part = folder / "old.csv", folder / "new.csv", folder / "x.part"
    text = "姓名\n李四\n".encode()
    for path in (old, new, part):
        path.write_bytes(text)
    ten_days_ago = time.time() - 10 * 86400
    for path in (old, part, job_file):
        os.utime(path, (ten_days_ago, ten_days_ago))

    # when
    removed = upload_sweep(older_than=dt.timedelta(days=7))
    call_command("sweep_uploads", "--days", "0")

    # then: the old unused ones first, the new one at no age; the job's never
    assert removed == (2, 2 * len(text))
    assert sorted(p.name for p in folder.iterdir()) == [os.path.basename(job_file)]
    assert "removed 1 unused uploads" in capsys.readouterr().out
