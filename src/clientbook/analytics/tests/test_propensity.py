"""Response models on synthetic customers with a known signal, tables by hand."""

import numpy as np
import pandas as pd
import pytest

from clientbook.analytics.engines import propensity as prop


def _customers(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    # churn rises with days since last order and falls with order count;
    # "noise" carries no signal
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "recency": rng.exponential(60, n),
            "frequency": rng.poisson(4, n).astype(float),
            "noise": rng.normal(size=n),
            "snapshot": pd.to_datetime("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 180, n), unit="D"),
        }
    )
    logit = 0.03 * (frame["recency"] - 60) - 0.5 * (frame["frequency"] - 4) - 1
    frame["churned"] = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame


FEATURES = ["recency", "frequency", "noise"]


@pytest.fixture(scope="module")
def results() -> list[prop.ModelResult]:
    train, test = prop.time_split(
        _customers(), date_col="snapshot", cutoff="2024-05-01"
    )
    return prop.train_models(
        train[FEATURES], train["churned"], test[FEATURES], test["churned"]
    )


def test_time_split_puts_the_future_in_the_test_set():
    frame = _customers()
    train, test = prop.time_split(frame, date_col="snapshot", cutoff="2024-05-01")
    assert (
        train["snapshot"].max() < pd.Timestamp("2024-05-01") <= test["snapshot"].min()
    )
    assert len(train) + len(test) == len(frame)
    with pytest.raises(ValueError):
        prop.time_split(frame, date_col="snapshot", cutoff="2030-01-01")


def test_every_model_finds_the_signal(results):
    assert [r.name for r in results] == [
        "entropy_tree",
        "neural_network",
        "gradient_boosting",
    ]
    for result in results:
        assert result.metrics["auc"] > 0.8, result.name
        assert result.metrics["top_decile_lift"] > 1.5, result.name
        assert result.feature_names == FEATURES
        assert result.params


def test_gains_table_is_monotone(results):
    for result in results:
        gains = result.gains
        assert gains["group"].tolist() == list(range(1, 11))
        assert gains["cumulative_gain"].is_monotonic_increasing
        assert gains["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
        assert gains["cumulative_lift"].iloc[-1] == pytest.approx(1.0)
        # a model with signal: the best decile beats the worst
        assert gains["response_rate"].iloc[0] > gains["response_rate"].iloc[-1]


def test_tree_rules_are_readable(results):
    tree = next(r for r in results if r.name == "entropy_tree")
    assert tree.estimator.criterion == "entropy"
    rules = prop.tree_rules(tree.estimator, FEATURES, positive_label="churn")
    assert len(rules) == tree.estimator.get_n_leaves()
    assert rules[0].startswith("if recency > ") or "recency >" in rules[0]
    assert all(r.startswith("if ") and " then churn (p=" in r for r in rules)


def test_choose_best_is_explicit(results):
    best = prop.choose_best(results, metric="auc")
    assert best.metrics["auc"] == max(r.metrics["auc"] for r in results)
    lowest_brier = prop.choose_best(results, metric="brier")
    assert lowest_brier.metrics["brier"] == min(r.metrics["brier"] for r in results)
    scores = best.score(_customers(50, seed=9))
    assert scores.between(0, 1).all()
    with pytest.raises(ValueError):
        prop.choose_best([])


def test_gains_table_by_hand():
    # given: ten customers, scores descending, responders at positions 1, 2, 5
    y = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    score = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    # when: five groups of two
    gains = prop.gains_table(y, score, groups=5)
    # then: base rate 0.3; group 1 rate 1.0, lift 3.33; group 3 rate 0.5
    assert gains["responders"].tolist() == [2, 0, 1, 0, 0]
    assert gains["lift"].tolist() == pytest.approx([10 / 3, 0, 5 / 3, 0, 0])
    assert gains["cumulative_gain"].tolist() == pytest.approx([2 / 3, 2 / 3, 1, 1, 1])
    assert gains["cumulative_lift"].iloc[1] == pytest.approx((2 / 4) / 0.3)


def test_calibration_table_by_hand():
    table = prop.calibration_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], bins=2)
    assert table["bin"].tolist() == [1, 2]
    assert table["predicted"].tolist() == pytest.approx([0.15, 0.8])
    assert table["observed"].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("method", ["model", "neighbours"])
def test_lookalikes_rank_buyer_like_customers_first(method):
    # given: buyers sit around (5, 5); non-buyers half near them, half far away
    rng = np.random.default_rng(1)
    near = rng.normal(5, 0.5, size=(200, 2))
    far = rng.normal(-5, 0.5, size=(200, 2))
    buyers = rng.normal(5, 0.5, size=(100, 2))
    features = pd.DataFrame(np.vstack([near, far, buyers]), columns=["a", "b"])
    bought = pd.Series([False] * 400 + [True] * 100, index=features.index)
    # when
    scores = prop.lookalike_scores(
        features, bought, prop.LookalikeConfig(method=method)
    )
    # then: only non-buyers are scored, and every near one beats every far one
    assert len(scores) == 400
    assert set(scores.index[:200]) == set(range(200))


def test_lookalike_config_validation():
    with pytest.raises(ValueError):
        prop.LookalikeConfig(method="magic")
