"""The services store what the engines compute, replace results atomically and
keep auditors out. Data: the demo company (300 customers, 3 years)."""

import datetime as dt
import math

import ibis
import numpy as np
import pandas as pd
import pytest
from django.db.models import F, Q

from clientbook.analytics import loading, services
from clientbook.analytics.connection import (
    AnalyticsConnectionConfig,
    analytics_connection,
)
from clientbook.analytics.engines import clv as clv_engine
from clientbook.analytics.engines import offers as offer_engine
from clientbook.analytics.engines import rfm as rfm_engine
from clientbook.analytics.engines import rules as rules_engine
from clientbook.analytics.models import (
    AnalysisRun,
    AssociationRule,
    ClusterProfile,
    CustomerScore,
    ModelVersion,
    OfferAssignment,
    Recommendation,
    RoughSetRule,
)
from clientbook.errors import AccessDenied, ValidationFailed
from clientbook.org.models import Role
from clientbook.privacy.models import AuditEntry
from clientbook.sales.models import Order, OrderLine
from clientbook.tests.factories import staff

from .fixtures import AS_OF, demo_data  # noqa: F401

pytestmark = pytest.mark.usefixtures("demo_data")


def _orders() -> pd.DataFrame:
    """Orders before AS_OF straight from the ORM (an independent read)."""
    as_of = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    known = Q(customer__archived_at__isnull=True) | Q(customer__archived_at__gte=as_of)
    rows = Order.objects.filter(
        known,
        ordered_at__lt=as_of,
        customer__merged_into__isnull=True,
        customer__created_at__lt=as_of,
    ).values("customer_id", "ordered_at", "amount", "cost")
    frame = pd.DataFrame(list(rows))
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True).dt.tz_localize(
        None
    )
    frame["amount"] = frame["amount"].astype(float)
    frame["cost"] = frame["cost"].astype(float)
    return frame


def _scores() -> pd.DataFrame:
    return pd.DataFrame(list(CustomerScore.objects.values())).set_index("customer_id")


# --- RFM -------------------------------------------------------------------------


def test_rfm_stores_what_the_engine_computes(db):
    # when
    run = services.analysis_run_rfm(as_of=AS_OF)

    # then: frequency and net sales match the orders read through the ORM
    orders = _orders()
    per_customer = orders.groupby("customer_id").agg(
        frequency=("amount", "size"), monetary=("amount", "sum")
    )
    stored = _scores().loc[per_customer.index]
    assert (stored["frequency"] == per_customer["frequency"]).all()
    assert np.allclose(stored["monetary"].astype(float), per_customer["monetary"])
    # and the cells equal a direct engine call on the same figures
    rfm = pd.DataFrame(
        {
            "recency": stored["recency_days"],
            "frequency": stored["frequency"],
            "monetary": stored["monetary"].astype(float),
        }
    )
    direct = rfm_engine.rfm_scores(rfm)
    assert (direct["cell"] == stored["rfm_cell"]).all()
    assert (direct["r_score"] == stored["rfm_r"]).all()
    assert run.is_current and run.status == "done"
    assert run.customers == len(per_customer)
    assert sum(c["customers"] for c in run.metrics["grid"]) == len(per_customer)
    entry = AuditEntry.objects.get(action="analytics.rfm")
    assert entry.entity_id == str(run.pk)


def test_rfm_champions_are_worth_more_than_the_rest(db):
    services.analysis_run_rfm(as_of=AS_OF)
    scores = _scores()
    scores = scores[scores["rfm_cell"] != ""]
    champions = scores[scores["rfm_cell"] == "champions"]["monetary"].astype(float)
    lost = scores[scores["rfm_cell"] == "lost"]["monetary"].astype(float)
    assert len(champions) > 0
    assert champions.mean() > 2 * scores["monetary"].astype(float).mean() / 2
    assert champions.mean() > lost.mean()


def test_a_rerun_replaces_the_results_and_the_current_run(db):
    first = services.analysis_run_rfm(as_of=AS_OF, bins=5)
    second = services.analysis_run_rfm(as_of=AS_OF, bins=3)

    first.refresh_from_db()
    assert (first.is_current, second.is_current) == (False, True)
    assert AnalysisRun.objects.filter(kind="rfm", is_current=True).count() == 1
    assert CustomerScore.objects.filter(rfm_r__gt=3).count() == 0
    assert CustomerScore.objects.filter(rfm_r=3).exists()


def test_a_failing_run_leaves_the_old_results(db, monkeypatch):
    # given
    old = services.analysis_run_rfm(as_of=AS_OF)
    before = sorted(CustomerScore.objects.values_list("customer_id", "rfm_cell"))

    def broken(*args, **kwargs):
        raise ValueError("engine broke")

    monkeypatch.setattr(rfm_engine, "rfm_scores", broken)

    # when
    with pytest.raises(ValidationFailed) as caught:
        services.analysis_run_rfm(as_of=AS_OF, bins=3)

    # then
    assert caught.value.code == "analysis_failed"
    failed = AnalysisRun.objects.exclude(pk=old.pk).get(kind="rfm")
    assert (failed.status, failed.is_current, failed.error) == (
        "failed",
        False,
        "engine broke",
    )
    old.refresh_from_db()
    assert old.is_current
    assert (
        sorted(CustomerScore.objects.values_list("customer_id", "rfm_cell")) == before
    )
    assert AuditEntry.objects.filter(action="analytics.rfm").count() == 1


def test_a_failure_while_writing_rolls_the_write_back(db, monkeypatch):
    services.analysis_run_rfm(as_of=AS_OF)
    before = sorted(CustomerScore.objects.values_list("customer_id", "rfm_r"))
    real = services.scores_replace

    def half_then_fail(*, group, rows):
        real(group=group, rows=list(rows)[:10])
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "scores_replace", half_then_fail)
    with pytest.raises(RuntimeError):
        services.analysis_run_rfm(as_of=AS_OF, bins=3)
    assert sorted(CustomerScore.objects.values_list("customer_id", "rfm_r")) == before


def test_auditors_cannot_start_runs(db):
    auditor = staff(Role.AUDITOR, username="analytics-auditor")
    with pytest.raises(AccessDenied) as caught:
        services.analysis_run_rfm(as_of=AS_OF, actor=auditor)
    assert caught.value.code == "read_only"
    assert not AnalysisRun.objects.exists()
    assert not CustomerScore.objects.exists()


# --- value -----------------------------------------------------------------------


def test_value_profit_matches_the_orders_and_pareto_holds(db, marketer):
    run = services.analysis_run_value(as_of=AS_OF, actor=marketer)

    orders = _orders()
    margin = (orders["amount"] - orders["cost"]).groupby(orders["customer_id"]).sum()
    stored = _scores().loc[margin.index]
    assert np.allclose(stored["profit"].astype(float), margin, atol=0.01)
    assert run.metrics["top20_share"] > 0.5
    tiers = {t["tier"]: t["customers"] for t in run.metrics["tiers"]}
    assert sum(tiers.values()) == len(margin)
    assert tiers["vip"] == pytest.approx(0.05 * len(margin), abs=2)
    assert run.metrics["pareto"][0] == [0.0, 0.0]
    assert run.metrics["pareto"][-1][1] == pytest.approx(1.0)
    assert AuditEntry.objects.get(action="analytics.value").actor == marketer


def test_value_charges_complaints_as_cost_to_serve(db):
    run = services.analysis_run_value(as_of=AS_OF, complaint_cost=50.0)
    plain = services.analysis_run_value(as_of=AS_OF)
    assert run.metrics["profit"] < plain.metrics["profit"]


# --- lifetime value ----------------------------------------------------------------


def test_clv_stores_a_direct_engine_fit(db):
    run = services.analysis_run_clv(as_of=AS_OF, horizon=6)

    # a direct fit on the same purchase days, read through the ORM
    orders = _orders()
    daily = (
        orders.assign(day=orders["ordered_at"].dt.normalize())
        .groupby(["customer_id", "day"], as_index=False)["amount"]
        .sum()
    )
    summary = clv_engine.summary_from_transactions(
        daily,
        observation_end=pd.Timestamp(AS_OF) - pd.Timedelta(days=1),
        date_col="day",
    )
    model = services._fit_best(clv_engine.BetaGeoModel, summary)
    for name in ("r", "alpha", "a", "b"):
        value = run.metrics["bgnbd"][name]
        assert math.isfinite(value) and value > 0
        assert value == pytest.approx(getattr(model.params, name), rel=1e-6)
    stored = _scores().loc[summary.index]
    expected = model.probability_alive(summary)
    assert np.allclose(stored["p_alive"], expected)
    assert stored["clv"].notna().all()
    assert run.metrics["calibration"]
    assert 0 < run.metrics["mean_p_alive"] < 1
    gamma_gamma = run.metrics["gamma_gamma"]
    assert all(math.isfinite(v) and v > 0 for v in gamma_gamma.values())
    assert gamma_gamma["q"] > 1


# --- clusters, models, rules, rough sets, offers ----------------------------------


def test_clusters_cover_the_buyers_and_are_described(db):
    run = services.analysis_run_cluster(as_of=AS_OF, k=3)
    profiles = list(ClusterProfile.objects.filter(run=run))
    assert [p.cluster for p in profiles] == [0, 1, 2]
    assert sum(p.customers for p in profiles) == run.customers
    assert CustomerScore.objects.filter(cluster__isnull=False).count() == run.customers
    assert any(p.traits for p in profiles)


def test_models_train_choose_and_score(db):
    run = services.model_train(target="lapsed", as_of=AS_OF, horizon_days=120)
    versions = list(ModelVersion.objects.filter(run=run))
    assert {v.algorithm for v in versions} == {
        "entropy_tree",
        "neural_network",
        "gradient_boosting",
    }
    assert all(0 <= v.metrics["auc"] <= 1 for v in versions)
    tree = next(v for v in versions if v.algorithm == "entropy_tree")
    # rules are stored as data, the highest share of lapsers first
    shares = [r["p"] for r in tree.rules]
    assert shares and shares == sorted(shares, reverse=True)
    assert all(c["op"] in ("<=", ">") for r in tree.rules for c in r["conditions"])
    assert len(tree.gains) == 10
    assert not any(v.chosen for v in versions)

    chosen = services.model_choose(target="lapsed")
    assert chosen.metrics["auc"] == max(v.metrics["auc"] for v in versions)
    scored = services.scores_write(target="lapsed", as_of=AS_OF)
    values = CustomerScore.objects.exclude(churn_score=None)
    assert values.count() == scored.customers > 0
    assert all(0 <= s <= 1 for s in values.values_list("churn_score", flat=True))
    assert AuditEntry.objects.filter(action="analytics.model_choose").count() == 1


def test_models_may_use_custom_fields(db):
    run = services.model_train(
        target="lapsed",
        as_of=AS_OF,
        horizon_days=120,
        algorithms=["entropy_tree"],
        custom_fields=True,
    )
    version = ModelVersion.objects.get(run=run)
    assert "custom_tea_years" in version.feature_names
    assert any(f.startswith("custom_member_level=") for f in version.feature_names)
    services.model_choose(version=version)
    scored = services.scores_write(target="lapsed", as_of=AS_OF)
    assert CustomerScore.objects.exclude(churn_score=None).count() == scored.customers


def test_campaign_responses_are_not_a_target_yet(db):
    with pytest.raises(ValidationFailed) as caught:
        services.model_train(target="responded", as_of=AS_OF)
    assert caught.value.code == "no_campaign_data"
    assert not AnalysisRun.objects.exists()


def test_scoring_without_a_chosen_model_is_refused(db):
    with pytest.raises(ValidationFailed) as caught:
        services.scores_write(target="lapsed", as_of=AS_OF)
    assert caught.value.code == "no_model"


def test_rules_equal_a_direct_engine_call_and_give_recommendations(db):
    run = services.rules_mine(as_of=AS_OF, min_support=0.05, min_confidence=0.3)

    lines = OrderLine.objects.filter(
        order__ordered_at__lt=dt.datetime(2025, 7, 1, tzinfo=dt.UTC), amount__gt=0
    ).values(customer_id=F("order__customer_id"), item=F("product__category"))
    pairs = pd.DataFrame(list(lines)).drop_duplicates()
    onehot = rules_engine.basket_matrix(
        pairs, basket_col="customer_id", item_col="item"
    )
    direct = rules_engine.mine_rules(
        onehot, rules_engine.RulesConfig(min_support=0.05, min_confidence=0.3)
    )
    stored = AssociationRule.objects.filter(run=run).order_by("-lift", "-confidence")
    assert len(stored) == len(direct) > 0
    assert {(tuple(r.antecedents), tuple(r.consequents)) for r in stored} == {
        (tuple(sorted(a)), tuple(sorted(c)))
        for a, c in zip(direct["antecedents"], direct["consequents"], strict=True)
    }
    recommended = Recommendation.objects.filter(run=run)
    assert recommended.exists()
    # nobody is offered what they already bought
    owned = set(map(tuple, pairs[["customer_id", "item"]].to_numpy().tolist()))
    assert not any((r.customer_id, r.item) in owned for r in recommended)


def test_roughsets_store_certain_and_possible_rules(db):
    run = services.roughsets_run(as_of=AS_OF, horizon_days=180)
    rules = RoughSetRule.objects.filter(run=run)
    assert rules.exists()
    assert run.metrics["lower"] <= run.metrics["lapsed"] <= run.metrics["upper"]
    certain = rules.filter(kind="certain")
    assert all(r.confidence == pytest.approx(1.0) for r in certain)
    assert set(run.metrics["reduct"]) <= set(run.metrics["conditions"])


def test_offers_ga_is_no_worse_than_greedy(db):
    services.rules_mine(as_of=AS_OF, min_support=0.05, min_confidence=0.2)
    items = list(Recommendation.objects.values_list("item", flat=True).distinct()[:3])
    offers = {item: {"cost": 5.0, "margin": 80.0} for item in items}
    run = services.offers_allocate(as_of=AS_OF, offers=offers, budget=200.0)
    metrics = run.metrics
    assert metrics["genetic"]["profit"] >= metrics["greedy"]["profit"] - 1e-6
    assert metrics["genetic"]["spent"] <= 200.0 + 1e-6
    if "exact" in metrics:
        assert metrics["genetic"]["profit"] <= metrics["exact"]["profit"] + 1e-6
    assert OfferAssignment.objects.filter(run=run).count() == run.customers
    assert isinstance(offer_engine.GAConfig(), offer_engine.GAConfig)


# --- connections ------------------------------------------------------------------


def test_duckdb_reads_the_same_features(db):
    operational = analytics_connection(AnalyticsConnectionConfig())
    duck = analytics_connection(AnalyticsConnectionConfig(backend="duckdb"))
    assert isinstance(duck, ibis.backends.duckdb.Backend)
    a = loading.feature_frame(operational, AS_OF)
    b = loading.feature_frame(duck, AS_OF)
    assert a.index.tolist() == b.index.tolist()
    numbers = ("frequency", "monetary", "margin", "recency_days", "complaints")
    for column in (*numbers, "custom_tea_years", "custom_gift_budget"):
        assert np.allclose(
            a[column].astype(float), b[column].astype(float), equal_nan=True
        )
    assert a["custom_member_level"].fillna("").tolist() == (
        b["custom_member_level"].fillna("").tolist()
    )
    assert a["monetary"].sum() == pytest.approx(_orders()["amount"].sum(), abs=1)
