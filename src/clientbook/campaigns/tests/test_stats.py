"""The evaluation's statistics against textbook figures and SciPy run on the
raw observations."""

import math
import random

import pytest
from scipy import stats as sp

from clientbook.campaigns import stats


def test_wilson_interval_matches_newcombe_1998_single_proportion_examples():
    # Newcombe (1998) "Two-sided confidence intervals for the single
    # proportion", Statistics in Medicine 17:857-872, Table I, method 3.
    assert stats.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert stats.wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    assert stats.wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=5e-5)
    assert stats.wilson_interval(1, 29) == pytest.approx((0.0061, 0.1718), abs=5e-5)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        # Newcombe (1998) "Interval estimation for the difference between
        # independent proportions", Statistics in Medicine 17:873-890,
        # Table II, method 10 (hybrid score).
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
    ],
)
def test_newcombe_interval_matches_the_paper(x1, n1, x2, n2, low, high):
    assert stats.proportion_difference_ci(x1, n1, x2, n2) == pytest.approx(
        (low, high), abs=5e-5
    )


def test_wald_interval_by_hand():
    # 56/70 − 48/80 = 0.2; se = sqrt(.8·.2/70 + .6·.4/80) = 0.072703;
    # Newcombe (1998) Table II, method 1: 0.0575 to 0.3425.
    low, high = stats.proportion_difference_ci(56, 70, 48, 80, method="wald")
    se = math.sqrt(0.8 * 0.2 / 70 + 0.6 * 0.4 / 80)
    assert se == pytest.approx(0.072703, abs=1e-6)
    assert (low, high) == pytest.approx((0.0575, 0.3425), abs=5e-5)
    assert (low, high) == pytest.approx((0.2 - 1.959964 * se, 0.2 + 1.959964 * se))
    with pytest.raises(ValueError):
        stats.proportion_difference_ci(1, 2, 1, 2, method="exact")


def test_two_proportion_p_value_is_the_chi_square_of_the_two_by_two_table():
    table = [[56, 14], [48, 32]]
    expected = sp.chi2_contingency(table, correction=False).pvalue
    assert stats.two_proportion_p_value(56, 70, 48, 80) == pytest.approx(expected)
    # By hand: pooled 104/150, z = 0.2 / sqrt(p(1-p)(1/70+1/80)) = 2.6360
    pooled = 104 / 150
    z = 0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert z == pytest.approx(2.6502, abs=1e-4)
    assert stats.two_proportion_p_value(56, 70, 48, 80) == pytest.approx(
        2 * sp.norm.sf(z)
    )


def test_proportions_compare_gives_every_figure():
    result = stats.proportions_compare(56, 70, 48, 80)
    assert result.p1 == pytest.approx(0.8)
    assert result.p2 == pytest.approx(0.6)
    assert result.difference == pytest.approx(0.2)
    assert result.relative_lift == pytest.approx(1 / 3)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert result.significant


def test_proportions_compare_with_nothing_to_compare():
    empty = stats.proportions_compare(0, 0, 5, 10)
    assert empty.difference is None and empty.p_value is None
    assert not empty.significant
    # Both rates 0: a difference of 0 and no test.
    zero = stats.proportions_compare(0, 100, 0, 100)
    assert zero.difference == 0
    assert zero.p_value is None
    assert zero.relative_lift is None


def _sums(values):
    return len(values), sum(values), sum(v * v for v in values)


def test_means_compare_equals_scipy_welch_on_the_raw_values():
    rng = random.Random(7)
    treated = [rng.expovariate(1 / 30) if rng.random() < 0.1 else 0 for _ in range(800)]
    control = [
        rng.expovariate(1 / 25) if rng.random() < 0.07 else 0 for _ in range(300)
    ]
    result = stats.means_compare(*_sums(treated), *_sums(control))
    scipy_result = sp.ttest_ind(treated, control, equal_var=False)
    interval = scipy_result.confidence_interval(0.95)
    assert result.difference == pytest.approx(sum(treated) / 800 - sum(control) / 300)
    assert result.p_value == pytest.approx(scipy_result.pvalue, rel=1e-9)
    assert result.df == pytest.approx(scipy_result.df, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (interval.low, interval.high), rel=1e-9
    )


def test_welch_textbook_example():
    # Welch's t by hand: means 20.5 / 17.0, variances 9 / 16, n 10 / 12:
    # se = sqrt(0.9 + 1.3333) = 1.49443, t = 2.34203,
    # df = 2.2333² / (0.9²/9 + 1.3333²/11) = 19.823
    result = stats.welch_compare(10, 20.5, 9.0, 12, 17.0, 16.0)
    assert result.df == pytest.approx(19.823, abs=1e-3)
    t_value = 3.5 / math.sqrt(0.9 + 16 / 12)
    assert t_value == pytest.approx(2.34203, abs=1e-5)
    assert result.p_value == pytest.approx(2 * sp.t.sf(t_value, result.df))
    assert 0.02 < result.p_value < 0.04


def test_means_compare_without_spread_or_members():
    same = stats.means_compare(3, 30, 300, 4, 40, 400)  # all tens
    assert same.difference == 0
    assert same.p_value is None
    assert stats.means_compare(0, 0, 0, 4, 40, 400).difference is None


def test_mean_and_variance_from_sums():
    values = [1.0, 2.0, 4.0, 7.0]
    mean, variance = stats.mean_and_variance(*_sums(values))
    assert mean == pytest.approx(3.5)
    assert variance == pytest.approx(sp.tvar(values))


def test_relative_lift():
    assert stats.relative_lift(0.12, 0.10) == pytest.approx(0.2)
    assert stats.relative_lift(0.12, 0) is None
    assert stats.relative_lift(None, 0.1) is None


def test_chi_square_p_value_drops_empty_rows_and_columns():
    table = [[30, 10], [20, 25], [0, 0], [5, 9]]
    expected = sp.chi2_contingency(
        [[30, 10], [20, 25], [5, 9]], correction=False
    ).pvalue
    assert stats.chi_square_p_value(table) == pytest.approx(expected)
    assert stats.chi_square_p_value([[3, 4]]) is None
    assert stats.chi_square_p_value([[3, 0], [4, 0]]) is None


def test_winner_on_response_rate_like_the_bar_mailing_test():
    arms = {
        "a": stats.ArmTotals(n=1000, responders=62),
        "b": stats.ArmTotals(n=1000, responders=35),
    }
    choice = stats.winner_choose(arms)
    assert choice.winner == "a"
    assert choice.p_value == pytest.approx(
        stats.two_proportion_p_value(62, 1000, 35, 1000)
    )
    assert choice.significant


def test_winner_not_significant_with_a_small_difference():
    arms = {
        "a": stats.ArmTotals(n=200, responders=12),
        "b": stats.ArmTotals(n=200, responders=10),
    }
    choice = stats.winner_choose(arms)
    assert choice.winner == "a"
    assert not choice.significant
    assert choice.p_value > 0.5


def test_winner_with_three_arms_is_corrected_for_two_comparisons():
    # a beats c clearly; a against b has p ≈ 0.035: significant alone,
    # not at 0.05 / 2.
    arms = {
        "a": stats.ArmTotals(n=1000, responders=80),
        "b": stats.ArmTotals(n=1000, responders=57),
        "c": stats.ArmTotals(n=1000, responders=30),
    }
    choice = stats.winner_choose(arms)
    p_ab = stats.two_proportion_p_value(80, 1000, 57, 1000)
    assert 0.025 < p_ab < 0.05
    assert choice.winner == "a"
    assert choice.p_value == pytest.approx(p_ab)
    assert not choice.significant
    assert set(choice.comparisons) == {"b", "c"}


def test_winner_on_revenue_per_member():
    rng = random.Random(3)
    a = [rng.choice([0, 0, 0, 100]) for _ in range(500)]
    b = [rng.choice([0, 0, 0, 0, 0, 100]) for _ in range(500)]
    arms = {
        "a": stats.ArmTotals(
            len(a), sum(1 for v in a if v), sum(a), sum(v * v for v in a)
        ),
        "b": stats.ArmTotals(
            len(b), sum(1 for v in b if v), sum(b), sum(v * v for v in b)
        ),
    }
    choice = stats.winner_choose(arms, metric="revenue")
    assert choice.winner == "a"
    assert choice.p_value == pytest.approx(
        sp.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9
    )
    assert choice.significant


def test_winner_without_members():
    assert stats.winner_choose({"a": stats.ArmTotals(0, 0)}).winner is None
    with pytest.raises(ValueError):
        stats.winner_choose({}, metric="clicks")
