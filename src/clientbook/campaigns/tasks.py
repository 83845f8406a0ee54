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


@task()
def prepare_task(campaign_id: int, step: str, actor_id: int | None) -> None:
    """A selection or assignment too large for a web request."""
    from django.utils.translation import gettext as _

    from clientbook.campaigns import services
    from clientbook.campaigns.launch import prepare_finish
    from clientbook.campaigns.models import Campaign
    from clientbook.errors import ClientbookError
    from clientbook.org.models import User

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    run = services.campaign_select if step == "select" else services.campaign_assign
    try:
        run(campaign=campaign, actor=actor)
    except ClientbookError as exc:
        prepare_finish(campaign_id, exc.message)
        return
    except Exception:
        prepare_finish(campaign_id, _("The job failed; the worker's log says why."))
        raise
    prepare_finish(campaign_id)
