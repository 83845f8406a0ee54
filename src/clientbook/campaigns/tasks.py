"""Campaign sends in the background worker (`clientbook worker`)."""

from django_tasks import task

from clientbook.campaigns.models import Dispatch


@task()
def dispatch_task(dispatch_id: int) -> None:
    """Runs (or resumes) a dispatch; never sends to a member twice."""
    from clientbook.campaigns.sending import dispatch_run

    dispatch = (
        Dispatch.objects.filter(pk=dispatch_id).select_related("campaign").first()
    )
    if dispatch is not None:
        dispatch_run(dispatch)
