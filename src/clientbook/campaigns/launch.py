"""Selection and assignment from the web: small campaigns at once, in the
request; large ones in the background worker, the detail page showing that
they run. The limit (`CAMPAIGN_SYNC_MEMBERS`, default 100,000 matched
customers) keeps a request within seconds: selection and assignment take
about 10 s per 100,000 members on the 2-core development machine (see
bench/README.md "Campaigns")."""

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.analytics.models import CustomerScore
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import Campaign
from clientbook.errors import Conflict
from clientbook.segments.models import Segment
from clientbook.segments.selectors import segment_members_all

SYNC_MEMBERS = 100_000
STEPS = ("select", "assign")
# A job that has not finished after this long is taken for dead.
STALE = dt.timedelta(hours=2)


def sync_limit() -> int:
    return int(settings.CLIENTBOOK.get("CAMPAIGN_SYNC_MEMBERS", SYNC_MEMBERS))


def estimate(campaign: Campaign) -> int:
    """How many customers the step will handle: the last selection's count,
    else the segments' sizes (or the scored customers)."""
    counts = campaign.selection_counts or {}
    if counts.get("matched") is not None:
        return int(counts["matched"])
    selection = campaign.selection or {}
    refs = selection.get("segments") or []
    if refs:
        segments = Segment.objects.filter(uuid__in=refs)
        return sum(segment_members_all(s).count() for s in segments)
    field = (selection.get("score") or {}).get("field")
    if field:
        return CustomerScore.objects.filter(**{f"{field}__isnull": False}).count()
    return 0


def is_running(campaign: Campaign) -> bool:
    started = campaign.job_started_at
    return (
        bool(campaign.job) and started is not None and started > timezone.now() - STALE
    )


def prepare_start(*, campaign: Campaign, step: str, actor) -> dict | None:
    """Runs `step` now and returns its counts, or queues it and returns None.

    Raises:
        Conflict: a selection or assignment of this campaign is running.
        ClientbookError: what the step itself raises when run now.
    """
    from clientbook.campaigns import services
    from clientbook.campaigns.tasks import prepare_task

    if step not in STEPS:
        raise ValueError(step)
    if is_running(campaign):
        raise Conflict(
            ErrorCode.FROZEN,
            _("A selection or assignment of this campaign is running."),
            field="job",
            value=campaign.job,
        )
    if estimate(campaign) <= sync_limit():
        run = services.campaign_select if step == "select" else services.campaign_assign
        return run(campaign=campaign, actor=actor)
    services.ensure_can_run(actor)
    services.ensure_open(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(
        job=step, job_started_at=timezone.now(), job_error=""
    )
    actor_id = actor.pk if actor is not None else None
    prepare_task.enqueue(campaign.pk, step, actor_id)
    return None


def prepare_finish(campaign_id: int, error: str = "") -> None:
    Campaign.objects.filter(pk=campaign_id).filter(~Q(job="")).update(
        job="", job_error=error
    )
