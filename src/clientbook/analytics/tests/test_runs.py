"""Runs against committed data on a tiny company: what another connection sees
while a re-run writes, and the background worker."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from clientbook.analytics import services
from clientbook.analytics.connection import analytics_connection
from clientbook.analytics.models import AnalysisRun, CustomerScore
from clientbook.sales.models import Order
from clientbook.tests.factories import CustomerFactory, SourceFactory

AS_OF = dt.date(2025, 7, 1)


def _company(customers: int = 12) -> None:
    """Customer i orders i times, a week apart, for 100 each."""
    source = SourceFactory(code="shop")
    start = timezone.make_aware(dt.datetime(2025, 1, 1))
    for i in range(1, customers + 1):
        customer = CustomerFactory(source=source)
        customer.created_at = start - dt.timedelta(days=30)
        customer.save(update_fields=["created_at"])
        for n in range(i):
            Order.objects.create(
                number=f"O{i}-{n}",
                customer=customer,
                source=source,
                ordered_at=start + dt.timedelta(days=7 * n + i),
                amount=Decimal("100.00"),
                cost=Decimal("60.00"),
            )


def _seen_by_another_connection() -> dict:
    con = analytics_connection()
    try:
        scores = con.table("analytics_customerscore").to_pandas()
        runs = con.table("analytics_analysisrun").to_pandas()
    finally:
        con.disconnect()
    current = runs[runs["is_current"].astype(bool)]
    return {
        "max_r": int(scores["rfm_r"].max()),
        "current": current["id"].tolist(),
    }


@pytest.mark.django_db(transaction=True)
def test_old_results_stay_visible_until_the_new_ones_commit(monkeypatch):
    # given: a committed run with five levels
    _company()
    old = services.analysis_run_rfm(as_of=AS_OF, bins=5)
    seen_during_write = {}
    real = services.scores_replace

    def replace_and_look(*, group, rows):
        count = real(group=group, rows=rows)
        # written but not committed: another connection still sees the old run
        seen_during_write.update(_seen_by_another_connection())
        return count

    monkeypatch.setattr(services, "scores_replace", replace_and_look)

    # when: a re-run with three levels
    new = services.analysis_run_rfm(as_of=AS_OF, bins=3)

    # then
    assert seen_during_write == {"max_r": 5, "current": [old.pk]}
    assert _seen_by_another_connection() == {"max_r": 3, "current": [new.pk]}
    assert CustomerScore.objects.count() == 12


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_queued_analysis(marketer):
    _company()
    run = services.analysis_enqueue(
        kind="rfm", as_of=AS_OF, parameters={"bins": 4}, actor=marketer
    )
    assert run.status == "queued"

    call_command("worker", "--batch", verbosity=0)

    run.refresh_from_db()
    assert (run.status, run.is_current, run.customers) == ("done", True, 12)
    assert run.requested_by == marketer
    assert CustomerScore.objects.filter(rfm_r=4).exists()
    # running the task again changes nothing
    services.analysis_execute(run=run)
    assert AnalysisRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_that_fails_is_marked_failed():
    run = services.analysis_enqueue(kind="rfm", as_of=AS_OF, actor=None)
    call_command("worker", "--batch", verbosity=0)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error
    assert not run.is_current
