"""The statistics of campaign evaluation, as plain functions of counts and sums.

Everything works from aggregates (members, responders, sum and sum of squares
of revenue), so the evaluation gets them from one GROUP BY and never loads
members. Conventions: a difference is always *first minus second* (a variant
minus the control); intervals are two-sided at ``1 - alpha``.

- Proportions: the difference's interval is Newcombe's hybrid score interval
  (Newcombe 1998, method 10, built from the two Wilson intervals), which
  keeps its coverage at rates of a few percent where the Wald interval does
  not; the p-value is the pooled two-proportion z-test, the same as the
  chi-square test of the 2×2 table without continuity correction.
- Means (revenue per member): Welch's t with the Welch–Satterthwaite degrees
  of freedom, for the interval and the p-value.

SciPy is imported inside the functions: start-up time matters.
"""

import functools
import math
from dataclasses import dataclass

ALPHA = 0.05


@dataclass(frozen=True)
class ProportionComparison:
    """Two proportions x1/n1 and x2/n2 and their difference p1 − p2."""

    x1: int
    n1: int
    x2: int
    n2: int
    p1: float | None
    p2: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    relative_lift: float | None
    alpha: float = ALPHA

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha


@dataclass(frozen=True)
class MeanComparison:
    """Two means (Welch): first minus second, with the interval and p-value."""

    n1: int
    n2: int
    mean1: float | None
    mean2: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    relative_lift: float | None
    df: float | None = None
    alpha: float = ALPHA

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha


@functools.cache
def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


def _normal_two_sided(z: float) -> float:
    """P(|Z| ≥ |z|) for a standard normal Z (erfc is exact to the tails,
    where 1 − cdf would round to 0)."""
    return math.erfc(abs(z) / math.sqrt(2))


def wilson_interval(x: int, n: int, *, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson's score interval for the proportion x/n (without continuity
    correction). Raises ValueError when n is 0."""
    if n <= 0:
        raise ValueError("n must be positive")
    z = _z(alpha)
    p = x / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def relative_lift(treated: float | None, control: float | None) -> float | None:
    """(treated − control) / control; None when the control figure is 0 or
    missing (no lift is defined over nothing)."""
    if treated is None or control is None or control == 0:
        return None
    return (treated - control) / control


def proportion_difference_ci(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    alpha: float = ALPHA,
    method: str = "newcombe",
) -> tuple[float, float]:
    """Interval for p1 − p2: ``newcombe`` (hybrid score, the default) or
    ``wald`` (normal approximation, for comparison with textbooks)."""
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    if method == "wald":
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        z = _z(alpha)
        return d - z * se, d + z * se
    if method != "newcombe":
        raise ValueError(f"unknown method {method!r}")
    l1, u1 = wilson_interval(x1, n1, alpha=alpha)
    l2, u2 = wilson_interval(x2, n2, alpha=alpha)
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled z-test (= chi-square of the 2×2 table
    without continuity correction). None when both rates are 0 or both 1:
    there is nothing to test."""
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return _normal_two_sided(z)


def proportions_compare(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    alpha: float = ALPHA,
    method: str = "newcombe",
) -> ProportionComparison:
    """Compares x1/n1 with x2/n2: difference, interval, p-value, relative lift.
    With an empty group the figures that need it are None."""
    p1 = x1 / n1 if n1 else None
    p2 = x2 / n2 if n2 else None
    if not n1 or not n2:
        return ProportionComparison(
            x1, n1, x2, n2, p1, p2, None, None, None, None, None
        )
    low, high = proportion_difference_ci(x1, n1, x2, n2, alpha=alpha, method=method)
    return ProportionComparison(
        x1=x1,
        n1=n1,
        x2=x2,
        n2=n2,
        p1=p1,
        p2=p2,
        difference=p1 - p2,
        ci_low=low,
        ci_high=high,
        p_value=two_proportion_p_value(x1, n1, x2, n2),
        relative_lift=relative_lift(p1, p2),
        alpha=alpha,
    )


def mean_and_variance(n: int, total: float, total_sq: float) -> tuple[float, float]:
    """Mean and sample variance (n − 1) from a count, a sum and a sum of
    squares. Rounding can make the variance of a constant slightly negative:
    it is clipped at 0."""
    mean = total / n
    if n < 2:
        return mean, 0.0
    variance = (total_sq - n * mean * mean) / (n - 1)
    return mean, max(variance, 0.0)


def welch_compare(
    n1: int,
    mean1: float,
    var1: float,
    n2: int,
    mean2: float,
    var2: float,
    *,
    alpha: float = ALPHA,
) -> MeanComparison:
    """Welch's t for mean1 − mean2 from the groups' sizes, means and sample
    variances."""
    from scipy.stats import t as student

    empty = MeanComparison(n1, n2, None, None, None, None, None, None, None)
    if not n1 or not n2:
        return empty
    difference = mean1 - mean2
    lift = relative_lift(mean1, mean2)
    a, b = var1 / n1, var2 / n2
    se = math.sqrt(a + b)
    if n1 < 2 or n2 < 2 or se == 0:
        # No spread to test against: the difference stands without a test.
        return MeanComparison(
            n1, n2, mean1, mean2, difference, None, None, None, lift, None
        )
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    statistic = difference / se
    quantile = float(student.ppf(1 - alpha / 2, df))
    return MeanComparison(
        n1=n1,
        n2=n2,
        mean1=mean1,
        mean2=mean2,
        difference=difference,
        ci_low=difference - quantile * se,
        ci_high=difference + quantile * se,
        p_value=float(2 * student.sf(abs(statistic), df)),
        relative_lift=lift,
        df=df,
        alpha=alpha,
    )


def means_compare(
    n1: int,
    sum1: float,
    sumsq1: float,
    n2: int,
    sum2: float,
    sumsq2: float,
    *,
    alpha: float = ALPHA,
) -> MeanComparison:
    """Welch's t for the difference of means, from counts, sums and sums of
    squares (revenue per member: every member counts, with 0 if nothing)."""
    if not n1 or not n2:
        return MeanComparison(n1, n2, None, None, None, None, None, None, None)
    mean1, var1 = mean_and_variance(n1, float(sum1), float(sumsq1))
    mean2, var2 = mean_and_variance(n2, float(sum2), float(sumsq2))
    return welch_compare(n1, mean1, var1, n2, mean2, var2, alpha=alpha)


def chi_square_p_value(table: list[list[int]]) -> float | None:
    """p-value of the chi-square test of independence of a contingency table
    (rows: values of an attribute, columns: groups), without continuity
    correction. Empty rows and columns are dropped; None when fewer than two
    of either remain."""
    rows = [row for row in table if any(row)]
    if len(rows) < 2:
        return None
    columns = [i for i in range(len(rows[0])) if any(row[i] for row in rows)]
    if len(columns) < 2:
        return None
    from scipy.stats import chi2_contingency

    observed = [[row[i] for i in columns] for row in rows]
    return float(chi2_contingency(observed, correction=False).pvalue)


@dataclass(frozen=True)
class ArmTotals:
    """What the test stage knows of one variant."""

    n: int
    responders: int
    revenue: float = 0.0
    revenue_sq: float = 0.0


@dataclass(frozen=True)
class WinnerChoice:
    """The chooser's verdict: the best arm, how sure, and each comparison of
    the best with another arm (keyed by that arm)."""

    winner: str | None
    metric: str
    p_value: float | None
    significant: bool
    alpha: float
    comparisons: dict


METRICS = ("response", "revenue")


def _arm_value(arm: ArmTotals, metric: str) -> float:
    if not arm.n:
        return float("-inf")
    return (arm.responders if metric == "response" else arm.revenue) / arm.n


def _compare(best: ArmTotals, other: ArmTotals, metric: str, alpha: float):
    if metric == "response":
        return proportions_compare(
            best.responders, best.n, other.responders, other.n, alpha=alpha
        )
    return means_compare(
        best.n,
        best.revenue,
        best.revenue_sq,
        other.n,
        other.revenue,
        other.revenue_sq,
        alpha=alpha,
    )


def winner_choose(
    arms: dict[str, ArmTotals], *, metric: str = "response", alpha: float = ALPHA
) -> WinnerChoice:
    """Picks the test-stage winner: the arm with the highest response rate
    (``metric="response"``) or revenue per member (``"revenue"``), compared
    with every other arm (two-proportion z-test, or Welch's t).

    The winner is significant when it beats each other arm at alpha divided
    by the number of comparisons (Bonferroni: with three arms, two chances
    to be fooled); ``p_value`` is the largest of those comparisons', i.e.
    the one against the runner-up in practice."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    candidates = {code: arm for code, arm in arms.items() if arm.n}
    if not candidates:
        return WinnerChoice(None, metric, None, False, alpha, {})
    best = max(candidates, key=lambda code: _arm_value(candidates[code], metric))
    comparisons = {
        code: _compare(candidates[best], arm, metric, alpha)
        for code, arm in candidates.items()
        if code != best
    }
    p_values = [c.p_value for c in comparisons.values()]
    if not comparisons or any(p is None for p in p_values):
        return WinnerChoice(best, metric, None, False, alpha, comparisons)
    worst = max(p_values)
    significant = all(
        c.difference is not None and c.difference > 0 for c in comparisons.values()
    ) and worst < alpha / len(comparisons)
    return WinnerChoice(best, metric, worst, significant, alpha, comparisons)
