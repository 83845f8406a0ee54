"""Offer allocation and look-alikes through the services, on the demo company:
what is stored, what replaces what, what is refused; custom fields among the
features."""

import pytest
from django.db.models import Sum

from clientbook.analytics import loading, services
from clientbook.analytics.connection import analytics_connection
from clientbook.analytics.models import (
    AnalysisRun,
    CustomerScore,
    OfferAssignment,
    Recommendation,
)
from clientbook.customers.models import CustomFieldValue
from clientbook.errors import ValidationFailed

from .fixtures import AS_OF, demo_data  # noqa: F401

pytestmark = pytest.mark.usefixtures("demo_data")

TEA = "茶叶"


def _rule_offers() -> dict:
    services.rules_mine(as_of=AS_OF, min_support=0.05, min_confidence=0.2)
    items = list(
        Recommendation.objects.values_list("item", flat=True)
        .distinct()
        .order_by("item")[:3]
    )
    return {item: {"cost": 5.0, "margin": 80.0} for item in items}


def test_offers_from_rules_store_ga_greedy_exact_and_counts(db):
    offers = _rule_offers()
    run = services.offers_allocate(as_of=AS_OF, offers=offers, budget=200.0)
    metrics = run.metrics
    genetic, greedy = metrics["genetic"], metrics["greedy"]
    assert genetic["profit"] >= greedy["profit"] - 1e-6
    assert genetic["spent"] <= 200.0 + 1e-6
    # small enough to be solved exactly too: the GA cannot beat the optimum
    assert genetic["profit"] <= metrics["exact"]["profit"] + 1e-6
    assert metrics["offers"] == list(offers)
    stored = OfferAssignment.objects.filter(run=run)
    assert stored.count() == run.customers == sum(genetic["offers"])
    for offer, count in zip(metrics["offers"], genetic["offers"], strict=True):
        assert stored.filter(offer=offer).count() == count
    # the stored expected profits add up to the GA's expected profit
    total = float(stored.aggregate(total=Sum("expected_profit"))["total"])
    assert total == pytest.approx(genetic["profit"], abs=0.01 * run.customers + 0.01)


def test_a_new_allocation_replaces_the_old_one(db):
    offers = _rule_offers()
    first = services.offers_allocate(as_of=AS_OF, offers=offers, budget=100.0)
    second = services.offers_allocate(as_of=AS_OF, offers=offers, budget=50.0)
    first.refresh_from_db()
    assert (first.is_current, second.is_current) == (False, True)
    assert not OfferAssignment.objects.filter(run=first).exists()
    assert second.metrics["genetic"]["spent"] <= 50.0 + 1e-6


@pytest.mark.parametrize(
    ("offers", "budget", "score", "field"),
    [
        ({}, 10.0, "rules", "offers"),
        ({"茶叶": {"cost": 0, "margin": 10.0}}, 10.0, "rules", "cost"),
        ({"茶叶": {"cost": 1.0, "margin": -1}}, 10.0, "rules", "margin"),
        ({"茶叶": {"cost": 1.0, "margin": 10.0}}, -5, "rules", "budget"),
        ({"茶叶": {"cost": 1.0, "margin": 10.0}}, 10.0, "horoscope", "score"),
    ],
)
def test_bad_offers_are_refused_before_queueing(db, offers, budget, score, field):
    parameters = {"offers": offers, "budget": budget, "score": score}
    with pytest.raises(ValidationFailed) as caught:
        services.analysis_enqueue(
            kind="offers", as_of=AS_OF, parameters=parameters, actor=None
        )
    assert caught.value.field == field
    assert not AnalysisRun.objects.exists()


def test_lookalikes_score_only_non_buyers_and_separate_buyers(db):
    run = services.lookalike_score(as_of=AS_OF, item=TEA)
    con = analytics_connection()
    try:
        buyers = loading.item_buyers(con, before=AS_OF, item=TEA)
        known = set(loading.feature_frame(con, AS_OF, custom=False).index)
    finally:
        con.disconnect()
    scored = CustomerScore.objects.exclude(lookalike_score=None)
    assert scored.count() == run.metrics["scored"] == run.customers
    assert not scored.filter(customer_id__in=buyers).exists()
    # merged and archived buyers are not in the feature table
    assert run.metrics["buyers"] == len(buyers & known)
    assert run.metrics["buyers"] + run.metrics["scored"] == len(known)
    # buyers score higher than chance out of fold: the features tell them apart
    assert run.metrics["auc"] > 0.6
    assert len(run.metrics["gains"]) == 10
    assert all(0 <= s <= 1 for s in scored.values_list("lookalike_score", flat=True))


def test_a_lookalike_run_for_another_item_replaces_the_scores(db):
    services.lookalike_score(as_of=AS_OF, item=TEA, method="neighbours")
    before = set(
        CustomerScore.objects.exclude(lookalike_score=None).values_list(
            "customer_id", flat=True
        )
    )
    run = services.lookalike_score(as_of=AS_OF, item="茶具", method="neighbours")
    after = set(
        CustomerScore.objects.exclude(lookalike_score=None).values_list(
            "customer_id", flat=True
        )
    )
    assert len(after) == run.customers and after != before


def test_lookalike_needs_buyers(db):
    with pytest.raises(ValidationFailed) as caught:
        services.lookalike_score(as_of=AS_OF, item="没有这个品类")
    assert caught.value.code == "analysis_failed"
    assert AnalysisRun.objects.get().status == "failed"


def test_offers_from_lookalike_scores(db):
    services.lookalike_score(as_of=AS_OF, item=TEA, method="neighbours")
    offers = {
        "sample": {"cost": 2.0, "margin": 30.0},
        "coupon": {"cost": 8.0, "margin": 60.0},
    }
    run = services.offers_allocate(
        as_of=AS_OF, offers=offers, budget=150.0, score="lookalike"
    )
    assert run.metrics["genetic"]["profit"] >= run.metrics["greedy"]["profit"] - 1e-6
    assigned = OfferAssignment.objects.filter(run=run).values_list(
        "customer_id", flat=True
    )
    # only customers with a look-alike score (non-buyers of tea) get an offer
    assert set(assigned) <= set(
        CustomerScore.objects.exclude(lookalike_score=None).values_list(
            "customer_id", flat=True
        )
    )


def test_custom_fields_are_in_the_feature_table(db):
    con = analytics_connection()
    try:
        frame = loading.feature_frame(con, AS_OF)
    finally:
        con.disconnect()
    # numbers as numbers, choices as their text; text and date fields left out
    assert frame["custom_tea_years"].dtype.kind == "f"
    assert frame["custom_gift_budget"].dtype.kind == "f"
    values = CustomFieldValue.objects.filter(field__key="member_level")
    expected = dict(values.values_list("customer_id", "value_text"))
    known = frame.loc[frame.index.isin(list(expected)), "custom_member_level"]
    assert len(known) > 0
    assert all(known[cid] == expected[cid] for cid in known.index)
    years = CustomFieldValue.objects.filter(field__key="tea_years").first()
    if years.customer_id in frame.index:
        assert frame.loc[years.customer_id, "custom_tea_years"] == years.value_integer
    matrix = services.model_matrix(frame)
    assert "custom_member_level=金卡" in matrix.columns
    assert set(matrix["custom_member_level=金卡"].unique()) <= {0.0, 1.0}
