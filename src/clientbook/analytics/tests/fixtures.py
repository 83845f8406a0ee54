"""The demo company, loaded once per test module and committed.

Ibis reads through its own database connection, which cannot see rows a
test's transaction has not committed; so the demo data is committed once
per module (and flushed afterwards), while each test's own writes stay in
its rolled-back transaction as usual.
"""

import datetime as dt

import pytest
from django.core.management import call_command

TODAY = dt.date(2025, 6, 30)
AS_OF = dt.date(2025, 7, 1)
CUSTOMERS = 300


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    from clientbook import demo

    with django_db_blocker.unblock():
        demo.build(customers=CUSTOMERS, seed=11, today=TODAY)
        yield
        call_command("flush", interactive=False, verbosity=0)


def run_everything() -> None:
    """Every analysis once, a model chosen and the customers scored."""
    from clientbook.analytics import services

    services.analysis_run_rfm(as_of=AS_OF)
    services.analysis_run_value(as_of=AS_OF)
    services.analysis_run_clv(as_of=AS_OF)
    services.analysis_run_cluster(as_of=AS_OF, k=3)
    services.model_train(
        target="lapsed",
        as_of=AS_OF,
        horizon_days=120,
        algorithms=["entropy_tree", "gradient_boosting"],
    )
    services.model_choose(target="lapsed")
    services.scores_write(target="lapsed", as_of=AS_OF)
    services.rules_mine(as_of=AS_OF, min_support=0.05, min_confidence=0.3)
    services.roughsets_run(as_of=AS_OF)
    services.lookalike_score(as_of=AS_OF, item="茶叶")
    services.offers_allocate(
        as_of=AS_OF,
        offers={"sample": {"cost": 2.0, "margin": 30.0}},
        budget=100.0,
        score="lookalike",
    )


@pytest.fixture(scope="module")
def analysed(demo_data, django_db_blocker):
    """The demo company with every analysis stored (committed)."""
    with django_db_blocker.unblock():
        run_everything()
