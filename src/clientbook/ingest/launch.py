"""Starting a job: small ones run at once, in the caller's request, larger
ones go to the background worker (`clientbook worker`).

Why a row limit: a file under `IMPORT_SYNC_ROWS` (default 5,000) is done
within seconds (measured on the shared 2-core development machine, SQLite:
5,000 customer rows with mobile, email and address in 5-6 s, dry run or
real), so the user sees the preview or result straight away without a
worker running. Anything larger would hold a web worker, and the HTTP
timeouts in front of it, for minutes, so it is queued and its page shows
progress instead. A file whose size cannot be estimated is queued too.
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
