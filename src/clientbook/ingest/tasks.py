"""Imports in the background worker (`clientbook worker`)."""

from django_tasks import task

from clientbook.ingest.models import ImportJob


@task()
def import_job_task(job_id: int) -> None:
    """Runs (or resumes) an import job. Safe to run twice: a finished job is
    left alone and a stopped one carries on after its last committed row."""
    from clientbook.ingest.services import import_job_run

    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None:
        import_job_run(job=job)
