"""Starting a job: small ones run at once, in the caller's request, larger
ones go to the background worker (`clientbook worker`).

Why a row limit: the engine writes a few thousand customer rows a second,
so a file under `IMPORT_SYNC_ROWS` (default 5,000) is done within a couple
of seconds and the user sees the result straight away; anything larger
would hold a web worker (and its HTTP timeout) for minutes, so it is queued
and its page shows progress instead. A file whose size cannot be estimated
is queued.
"""

import logging
from pathlib import Path

from django.conf import settings

from clientbook.errors import ClientbookError
from clientbook.ingest.models import ImportJob
from clientbook.ingest.services import import_job_enqueue, import_job_run
from clientbook.ingest.uploads import estimate_rows

logger = logging.getLogger(__name__)

SYNC_ROWS = 5_000


def sync_row_limit() -> int:
    return int(settings.CLIENTBOOK.get("IMPORT_SYNC_ROWS", SYNC_ROWS))


def import_job_start(*, job: ImportJob, rows: int | None = None) -> bool:
    """Runs the job now if it is small, else enqueues it. Returns whether it
    ran. A job that fails is left FAILED with its error for its page to
    show; nothing is raised to the caller.

    Args:
        rows: the number of data rows if known (API rows); else estimated.
    """
    total = rows
    if total is None:
        total = estimate_rows(Path(job.file_path), sheet=job.sheet)
    if total is not None and job.rows_total != total:
        # The engine does not estimate the total; the progress bar needs it.
        ImportJob.objects.filter(pk=job.pk).update(rows_total=total)
        job.rows_total = total
    if total is None or total > sync_row_limit():
        import_job_enqueue(job=job)
        return False
    try:
        import_job_run(job=job)
    except ClientbookError:
        pass  # already stored on the job as its error
    except Exception:
        logger.exception("import job %s failed", job.uuid)
    job.refresh_from_db()
    return True
