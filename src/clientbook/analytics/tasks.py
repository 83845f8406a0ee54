"""Analyses in the background worker (`clientbook worker`)."""

from django_tasks import task

from clientbook.analytics.models import AnalysisRun


@task()
def analysis_task(run_id: int) -> None:
    """Runs a queued analysis. Safe to run twice: a finished run is left alone."""
    from clientbook.analytics.services import analysis_execute

    run = AnalysisRun.objects.filter(pk=run_id).first()
    if run is not None:
        analysis_execute(run=run)
