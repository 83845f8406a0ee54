"""Background jobs of the quality app (`clientbook worker`). Both are
idempotent: running one twice recomputes the same rows and proposes no task
twice. Schedule the nightly one with cron or a systemd timer
(`clientbook quality --nightly`), or enqueue it from the dashboard."""

from django_tasks import task


@task()
def quality_compute_task() -> dict:
    """Recomputes every customer's quality and takes the day's snapshot."""
    from clientbook.quality.services import quality_compute

    return quality_compute()


@task()
def quality_nightly_task() -> dict:
    """The nightly run: recompute, then this month's verification rotation
    (tops up only what is missing) and clean-up proposals."""
    from clientbook.quality.services import (
        cleanup_propose,
        quality_compute,
        verification_rotate,
    )

    result = quality_compute()
    result["rotation"] = sum(verification_rotate().values())
    result["cleanup"] = cleanup_propose()
    return result
