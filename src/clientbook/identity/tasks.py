"""Duplicate detection in the background worker (`clientbook worker`)."""

from django_tasks import task

from clientbook.identity.models import DedupeRun


@task()
def dedupe_run_task(run_id: int) -> None:
    """Executes a run. Safe to run twice: a finished run is left alone."""
    from clientbook.identity.services import dedupe_run_execute

    run = DedupeRun.objects.filter(pk=run_id).first()
    if run is not None:
        dedupe_run_execute(run=run)
