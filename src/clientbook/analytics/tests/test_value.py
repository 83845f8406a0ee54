"""Customer value, Pareto curve and tiers on inputs worked out by hand."""

import math

import pandas as pd
import pytest
from django.utils import translation

from clientbook.analytics.engines import value


def _profits() -> pd.Series:
    # sorted best first: a100 b50 c30 d20 e10 j10 f5 g0 h-5 i-10, total 210
    return pd.Series(
        [100.0, 50, 30, 20, 10, 5, 0, -5, -10, 10], index=list("abcdefghij")
    )


def test_customer_value_nets_returns_and_costs():
    # given: customer 1 returns part of an order; customer 3 was only contacted
    lines = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "revenue": [100.0, -20.0, 50.0],
            "cost": [60.0, -12.0, 20.0],
        }
    )
    service = pd.Series([5.0], index=[1])
    campaign = pd.Series([1.0, 1.0, 40.0, 3.0], index=[1, 1, 2, 3])
    # when
    frame = value.customer_value(lines, service_costs=service, campaign_costs=campaign)
    # then
    assert frame.index.tolist() == [1, 2, 3]
    assert frame.loc[1, ["revenue", "product_cost", "gross_margin"]].tolist() == [
        80.0,
        48.0,
        32.0,
    ]
    assert frame["service_cost"].tolist() == [5.0, 0.0, 0.0]
    assert frame["campaign_cost"].tolist() == [2.0, 40.0, 3.0]
    assert frame["profit"].tolist() == [25.0, -10.0, -3.0]
    assert frame.loc[1, "margin_rate"] == pytest.approx(0.4)
    assert math.isnan(frame.loc[3, "margin_rate"])


def test_pareto_curve_is_a_whale_curve():
    curve = value.pareto_curve(_profits())
    assert curve["customer_id"].tolist() == list("abcdejfghi")
    assert curve["cumulative_profit"].tolist() == [
        100,
        150,
        180,
        200,
        210,
        220,
        225,
        225,
        220,
        210,
    ]
    assert curve["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert curve["cumulative_share"].max() == pytest.approx(225 / 210)
    assert curve["customer_share"].iloc[1] == pytest.approx(0.2)


def test_top_20_percent_share():
    assert value.top_share(_profits(), 0.2) == pytest.approx(150 / 210)
    assert value.top_share(_profits(), 1.0) == pytest.approx(1.0)


def test_tiers_by_quantile():
    # np.quantile (linear): q0.9 = 50 + 0.1 * 50 = 55, q0.6 = 10 + 0.4 * 10 = 14
    config = value.TierConfig(basis="quantile", vip=0.9, good=0.6)
    assert config.thresholds(_profits()) == pytest.approx((55.0, 14.0))
    tiers = value.value_tiers(_profits(), config)
    assert tiers.to_dict() == {
        "a": value.VIP,
        "b": value.GOOD,
        "c": value.GOOD,
        "d": value.GOOD,
        "e": value.ORDINARY,
        "f": value.ORDINARY,
        "g": value.ORDINARY,
        "h": value.LOSS_MAKING,
        "i": value.LOSS_MAKING,
        "j": value.ORDINARY,
    }


def test_tiers_by_amount_and_summary():
    config = value.TierConfig(basis="amount", vip=40, good=15)
    tiers = value.value_tiers(_profits(), config)
    summary = value.tier_summary(_profits(), tiers).set_index("tier")
    assert summary["customers"].tolist() == [2, 2, 4, 2]
    assert summary["profit"].tolist() == [150, 50, 25, -15]
    assert summary.loc[value.VIP, "profit_share"] == pytest.approx(150 / 210)
    with translation.override("en"):
        assert str(value.TIER_LABELS[value.LOSS_MAKING]) == "Loss-making"


def test_tier_config_validation():
    with pytest.raises(ValueError):
        value.TierConfig(vip=0.5, good=0.8)
    with pytest.raises(ValueError):
        value.TierConfig(basis="amount", vip=10, good=20)
    with pytest.raises(ValueError):
        value.top_share(_profits(), 0)
