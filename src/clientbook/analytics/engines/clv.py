"""Customer lifetime value: BG/NBD for repeat purchases, Gamma-Gamma for spend.

Methods and sources:

- BG/NBD ("beta-geometric / negative binomial distribution"): Fader, Hardie &
  Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", *Marketing Science* 24(2):275-284. While alive, a customer
  buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each
  purchase they drop out with probability p ~ Beta(a, b). The log-likelihood
  (eq. 6), the conditional expectation (eq. 10), P(alive) and the unconditional
  expectation E[X(t)] (eq. 7) below follow the paper and Hardie's note
  "Implementing the BG/NBD model" (brucehardie.com/notes/004).
- Gamma-Gamma spend: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value
  Curves for Customer Base Analysis", *J. Marketing Research* 42(4), and
  Hardie's note "The Gamma-Gamma Model of Monetary Value"
  (brucehardie.com/notes/025). Each transaction value z ~ Gamma(p, nu) with
  nu ~ Gamma(q, gamma) across customers; it assumes spend is independent of
  purchase frequency.
- CLV: discounted sum over months of expected purchases in the month times
  expected spend, as in the `lifetimes` library's ``customer_lifetime_value``.

Why not a library: `lifetimes` 0.11.3 (the last release, 2020; the project is
in limited maintenance and points users to PyMC-Marketing) still installs and
reproduces the published figures with pandas 3 / numpy 2, but it pulls in
`autograd` and `dill` for a few closed-form likelihoods, and nobody fixes it
when a future pandas or scipy breaks it. PyMC-Marketing is maintained but
brings PyMC and a compiler tool chain. The likelihoods are short, so they are
written here with scipy: maximum likelihood by L-BFGS-B on log-parameters
with the analytic gradient, a few dozen evaluations where the Nelder-Mead
search the dataset notes in SOURCES.md used needs thousands to reach the
same optimum. :class:`CLVModel` and :class:`SpendModel` are the protocols the
rest of Clientbook uses, so a library model can be swapped in behind a small
adapter.

Time is measured in a unit chosen when the summary is built (weeks by
default, as in the papers); every ``t`` passed to a model is in that unit.

Summaries follow the convention of the papers and of `lifetimes`: a customer
is a row with ``frequency`` (x, number of repeat purchase days after the first),
``recency`` (t_x, time from first to last purchase), ``T`` (time from first
purchase to the end of observation) and ``monetary_value`` (mean value of the
repeat purchase days, 0 when there are none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Protocol, Self

import numpy as np
import pandas as pd
from scipy import optimize, special

DAYS_PER_WEEK = 7.0
#: Weeks in an average month (365.25 / 12 / 7).
WEEKS_PER_MONTH = 365.25 / 12 / 7

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


# --- transaction log to summary -------------------------------------------------


def _daily_purchases(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
) -> pd.DataFrame:
    """One row per customer and purchase day, with the day's total amount.

    Several orders on one day count as one purchase: that is how the CDNOW
    summaries used in the BG/NBD paper were built.
    """
    day = pd.to_datetime(transactions[date_col]).dt.normalize()
    amount = (
        transactions[amount_col].astype(float)
        if amount_col is not None
        else pd.Series(0.0, index=transactions.index)
    )
    frame = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].to_numpy(),
            "day": day,
            "amount": amount,
        }
    )
    daily = frame.groupby(["customer_id", "day"], sort=True)["amount"].sum()
    return daily.reset_index()


def summary_from_transactions(
    transactions: pd.DataFrame,
    *,
    observation_end: str | pd.Timestamp,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
    unit_days: float = DAYS_PER_WEEK,
) -> pd.DataFrame:
    """Build the (frequency, recency, T, monetary_value) summary as of a date.

    Args:
        transactions: one row per order (or order line) with a customer id, a
            date or datetime and an amount.
        observation_end: last day observed, inclusive; later rows are ignored.
        unit_days: length of the time unit in days (7 for weeks, 1 for days).

    Returns:
        A frame indexed by customer id, sorted, with the summary columns.
    """
    end = pd.Timestamp(observation_end).normalize()
    dates = pd.to_datetime(transactions[date_col])
    seen = transactions.loc[dates.dt.normalize() <= end]
    daily = _daily_purchases(
        seen, customer_col=customer_col, date_col=date_col, amount_col=amount_col
    )
    grouped = daily.groupby("customer_id", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    frequency = grouped["day"].count() - 1
    repeat_amount = grouped["amount"].sum() - grouped["amount"].first()
    unit = pd.Timedelta(days=unit_days)
    summary = pd.DataFrame(
        {
            "frequency": frequency.astype("int64"),
            "recency": (last - first) / unit,
            "T": (end - first) / unit,
            "monetary_value": (repeat_amount / frequency.where(frequency > 0)).fillna(
                0.0
            ),
        }
    )
    summary.index.name = customer_col
    return summary


def calibration_holdout_summary(
    transactions: pd.DataFrame,
    *,
    calibration_end: str | pd.Timestamp,
    holdout_end: str | pd.Timestamp,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
    unit_days: float = DAYS_PER_WEEK,
) -> pd.DataFrame:
    """The calibration summary plus purchases in the holdout period after it.

    Only customers who bought by ``calibration_end`` are kept: the holdout
    checks predictions for a known customer base. Adds ``frequency_holdout``
    (purchase days in the holdout), ``monetary_value_holdout`` and
    ``duration_holdout`` (length of the holdout in time units).
    """
    cal_end = pd.Timestamp(calibration_end).normalize()
    hold_end = pd.Timestamp(holdout_end).normalize()
    if hold_end <= cal_end:
        raise ValueError("holdout_end must be after calibration_end")
    summary = summary_from_transactions(
        transactions,
        observation_end=cal_end,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        unit_days=unit_days,
    )
    daily = _daily_purchases(
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
    )
    holdout = daily[(daily["day"] > cal_end) & (daily["day"] <= hold_end)]
    grouped = holdout.groupby("customer_id")["amount"]
    summary["frequency_holdout"] = (
        grouped.count().reindex(summary.index, fill_value=0).astype("int64")
    )
    summary["monetary_value_holdout"] = grouped.mean().reindex(
        summary.index, fill_value=0.0
    )
    summary["duration_holdout"] = (hold_end - cal_end) / pd.Timedelta(days=unit_days)
    return summary


# --- protocols ----------------------------------------------------------------


class CLVModel(Protocol):
    """The repeat-purchase side of a lifetime-value model (BG/NBD or a library's)."""

    def fit(self, summary: pd.DataFrame) -> Self: ...

    def conditional_expected_purchases(
        self, t: float, summary: pd.DataFrame
    ) -> np.ndarray: ...

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray: ...


class SpendModel(Protocol):
    """The spend side of a lifetime-value model (Gamma-Gamma or a library's)."""

    def fit(self, summary: pd.DataFrame) -> Self: ...

    def conditional_expected_spend(self, summary: pd.DataFrame) -> np.ndarray: ...


# --- fitting ------------------------------------------------------------------


@dataclass(frozen=True)
class FitConfig:
    """How a likelihood is maximised.

    L-BFGS-B on the logarithms of the parameters (which keeps them positive),
    following the analytic gradient: a few dozen evaluations where the
    Nelder-Mead search used before needed thousands. ``tolerance`` is the
    largest gradient component of the mean log-likelihood per customer at
    which it stops, so it does not depend on how many customers there are;
    1e-8 reproduces published parameters to three decimals.
    """

    initial: float = 1.0
    max_iter: int = 1_000
    tolerance: float = 1e-8

    def __post_init__(self) -> None:
        if self.initial <= 0:
            raise ValueError("initial must be positive")
        if self.max_iter < 1:
            raise ValueError("max_iter must be at least 1")
        if self.tolerance <= 0:
            raise ValueError("tolerance must be positive")


#: Bounds on the log-parameters: e^±30 is far beyond any sensible fit and
#: keeps a drifting search (p -> infinity on heavy-tailed spend) finite.
LOG_BOUND = 30.0
#: A line search that cannot improve any more still counts as converged when
#: the mean gradient is this small: the optimum is reached to rounding.
GRADIENT_ACCEPT = 1e-5


def _maximise(
    value_and_gradient, n_params: int, weight_total: float, config: FitConfig
) -> tuple[np.ndarray, float]:
    """Maximise a log-likelihood over log-parameters; return params, LL.

    ``value_and_gradient(params)`` gives the total log-likelihood and its
    gradient in the natural parameters; the search minimises the mean
    negative log-likelihood per customer, in log-parameters (chain rule:
    d/d log theta = theta d/d theta).
    """

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        ll, gradient = value_and_gradient(params)
        if not np.isfinite(ll):
            return np.inf, np.zeros(n_params)
        return -ll / weight_total, -gradient * params / weight_total

    # scikit-learn's dependency; imported here to keep start-up light
    from threadpoolctl import threadpool_limits

    # The dot products are too short to gain from BLAS threads, and on busy
    # cores OpenBLAS's spinning threads made each evaluation ten times slower.
    with threadpool_limits(limits=1, user_api="blas"):
        result = optimize.minimize(
            objective,
            np.full(n_params, np.log(config.initial)),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * n_params,
            options={
                "maxiter": config.max_iter,
                "gtol": config.tolerance,
                "ftol": config.tolerance * 1e-6,
            },
        )
    if not result.success and np.max(np.abs(result.jac)) > GRADIENT_ACCEPT:
        raise RuntimeError(f"maximum likelihood fit did not converge: {result.message}")
    return np.exp(result.x), float(-result.fun * weight_total)


def _arrays(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        summary["frequency"].to_numpy(dtype=float),
        summary["recency"].to_numpy(dtype=float),
        summary["T"].to_numpy(dtype=float),
    )


def _check_summary(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if len(x) == 0:
        raise ValueError("the summary has no customers")
    if np.any(x < 0) or np.any(t_x < 0):
        raise ValueError("frequency and recency must not be negative")
    if np.any(t_x > T + 1e-9):
        raise ValueError("recency must not exceed T")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 when frequency is 0")


def _distinct(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows, sorted, and for each row the index of its distinct row.

    Sorted lexicographically like ``np.unique(axis=0)``, which is ten times
    slower (it sorts the rows as opaque byte strings).
    """
    columns = tuple(np.asarray(column) for column in columns)
    order = np.lexsort(columns[::-1])
    ordered = [column[order] for column in columns]
    changed = np.ones(len(order), dtype=bool)
    changed[1:] = False
    for column in ordered:
        changed[1:] |= column[1:] != column[:-1]
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = np.cumsum(changed) - 1
    return [column[changed] for column in ordered], inverse


def _compress(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows and their counts: a million customers share few (x, t_x, T)."""
    unique, inverse = _distinct(*columns)
    return unique, np.bincount(inverse).astype(float)


def _weights(x: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    return np.ones(len(x)) if weight is None else np.asarray(weight, dtype=float)


# --- BG/NBD -------------------------------------------------------------------


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters: Gamma(r, alpha) rates, Beta(a, b) dropout."""

    r: float
    alpha: float
    a: float
    b: float


def bgnbd_log_likelihood(
    params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a)
            - np.log(np.maximum(b + x - 1, 1e-300))
            - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


class _BGNBDRows:
    """Summary rows prepared for many likelihood evaluations.

    The Gamma and digamma terms depend only on x, which takes few distinct
    values: they are computed once per distinct x and weighted by how many
    customers have that x, never spread over the rows.
    """

    def __init__(self, x, t_x, T, weight: np.ndarray | None = None) -> None:
        self.weight = _weights(x, weight)
        self.x_values, self.x_index = np.unique(x, return_inverse=True)
        self.x_weight = np.bincount(self.x_index, weights=self.weight)
        self.x = np.asarray(x, dtype=float)
        self.t_x = np.asarray(t_x, dtype=float)
        self.T = np.asarray(T, dtype=float)
        self.repeat = self.x > 0

    def _x_terms(self, r: float, a: float, b: float) -> tuple[np.ndarray, ...]:
        """Per distinct x: A1 + A2 without r log(alpha), and their derivatives."""
        xs = self.x_values
        ab = special.gammaln(a + b) - special.gammaln(b)
        ll = (
            special.gammaln(r + xs)
            - special.gammaln(r)
            + special.gammaln(b + xs)
            - special.gammaln(a + b + xs)
            + ab
        )
        d_r = special.digamma(r + xs) - special.digamma(r)
        d_a = special.digamma(a + b) - special.digamma(a + b + xs)
        d_b = special.digamma(b + xs) - special.digamma(b) + d_a
        # b + x - 1 only enters for repeat buyers (x >= 1, so it is positive)
        b_x = np.where(xs > 0, b + xs - 1, 1.0)
        return ll, d_r, d_a, d_b, b_x

    def value_and_gradient(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted total log-likelihood (eq. 6) and its gradient in r, alpha, a, b.

        With L = A1 + A2 + log(e^A3 + e^A4), the derivative of the last term is
        s3 dA3 + s4 dA4 where s3, s4 = e^(A3-L), e^(A4-L) sum to one.
        """
        r, alpha, a, b = values
        w, xw, total = self.weight, self.x_weight, self.weight.sum()
        x_ll, d_r, d_a, d_b, b_x = self._x_terms(r, a, b)
        b_x = b_x[self.x_index]
        r_x = r + self.x
        log_T = np.log(alpha + self.T)
        log_t = np.log(alpha + self.t_x)
        a3 = -r_x * log_T
        a4 = np.where(self.repeat, np.log(a / b_x) - r_x * log_t, -np.inf)
        top = np.maximum(a3, a4)
        e3, e4 = np.exp(a3 - top), np.exp(a4 - top)
        both = e3 + e4
        s3, s4 = e3 / both, e4 / both
        ll = xw @ x_ll + w @ (top + np.log(both)) + r * np.log(alpha) * total
        gradient = np.array(
            [
                xw @ d_r + np.log(alpha) * total - w @ (s3 * log_T + s4 * log_t),
                r / alpha * total
                - w @ (r_x * (s3 / (alpha + self.T) + s4 / (alpha + self.t_x))),
                xw @ d_a + (w @ s4) / a,
                xw @ d_b - w @ (s4 / b_x),
            ]
        )
        return float(ll), gradient


def bgnbd_log_likelihood_gradient(
    params: BGNBDParams,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    weight: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Total BG/NBD log-likelihood and its gradient in (r, alpha, a, b).

    ``weight`` counts how many customers each row stands for (default 1).
    """
    rows = _BGNBDRows(x, t_x, T, weight)
    return rows.value_and_gradient(np.array(astuple(params)))


class BetaGeoModel:
    """BG/NBD repeat-purchase model fitted by maximum likelihood.

    Source: Fader, Hardie & Lee (2005), *Marketing Science* 24(2).
    """

    def __init__(self, config: FitConfig | None = None) -> None:
        self.config = config or FitConfig()
        self.params: BGNBDParams | None = None
        self.log_likelihood: float | None = None

    def fit(self, summary: pd.DataFrame) -> Self:
        """Fit r, alpha, a, b to a summary frame."""
        x, t_x, T = _arrays(summary)
        _check_summary(x, t_x, T)
        (ux, ut, uT), weight = _compress(x, t_x, T)
        rows = _BGNBDRows(ux, ut, uT, weight)
        values, self.log_likelihood = _maximise(
            rows.value_and_gradient, 4, weight.sum(), self.config
        )
        self.params = BGNBDParams(*(float(v) for v in values))
        return self

    def _fitted(self) -> BGNBDParams:
        if self.params is None:
            raise RuntimeError("fit the model first")
        return self.params

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x>0, else 0."""
        p = self._fitted()
        safe = np.maximum(p.b + x - 1, 1e-300)
        odds = p.a / safe * ((p.alpha + T) / (p.alpha + t_x)) ** (p.r + x)
        return np.where(x > 0, odds, 0.0)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        """P(still active | x, t_x, T) (Hardie's note 004, eq. 3)."""
        x, t_x, T = _arrays(summary)
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def conditional_expected_purchases(
        self, t: float, summary: pd.DataFrame
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10)."""
        return self.conditional_expected_purchases_over([t], summary)[0]

    def conditional_expected_purchases_over(
        self, ts: Sequence[float], summary: pd.DataFrame
    ) -> list[np.ndarray]:
        """Eq. 10 for several horizons at once, as CLV's months need it.

        The hypergeometric term, most of the cost, depends on (x, T) only:
        it is computed once per distinct pair (a few per cent of the
        customers at scale), and P(alive) once for all horizons.
        """
        p = self._fitted()
        x, t_x, T = _arrays(summary)
        (px, pT), pair = _distinct(x, T)
        head = (p.a + p.b + px - 1) / (p.a - 1)
        alive_odds = 1.0 + self._odds_dead(x, t_x, T)
        expected = []
        for t in ts:
            z = t / (p.alpha + pT + t)
            hyp = special.hyp2f1(p.r + px, p.b + px, p.a + p.b + px - 1, z)
            body = 1 - ((p.alpha + pT) / (p.alpha + pT + t)) ** (p.r + px) * hyp
            expected.append((head * body)[pair] / alive_odds)
        return expected

    def expected_purchases(self, t: float) -> float:
        """E[X(t)] for a customer just acquired (Fader, Hardie & Lee 2005, eq. 7)."""
        p = self._fitted()
        hyp = special.hyp2f1(p.r, p.b, p.a + p.b - 1, t / (p.alpha + t))
        return float(
            (p.a + p.b - 1) / (p.a - 1) * (1 - (p.alpha / (p.alpha + t)) ** p.r * hyp)
        )

    def expected_time_to_next_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected wait to the next purchase if the customer is still alive.

        The reciprocal of the posterior mean purchase rate of an active
        customer, (alpha + T) / (r + x): lambda | alive ~ Gamma(r + x, alpha + T)
        (Fader, Hardie & Lee 2005, sec. 3). Read it together with P(alive): a
        customer who has probably lapsed will not buy at this pace.
        """
        p = self._fitted()
        x, _, T = _arrays(summary)
        return (p.alpha + T) / (p.r + x)


# --- Gamma-Gamma --------------------------------------------------------------


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters p, q and gamma (the scale)."""

    p: float
    q: float
    gamma: float


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, x: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood of mean spend m over x purchases (note 025)."""
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


class _GammaGammaRows:
    """Repeat buyers' (x, m) rows; Gamma terms computed once per distinct x."""

    def __init__(self, x, m, weight: np.ndarray | None = None) -> None:
        self.weight = _weights(x, weight)
        self.x_values, self.x_index = np.unique(x, return_inverse=True)
        self.x = np.asarray(x, dtype=float)
        self.m = np.asarray(m, dtype=float)
        self.log_mx = np.log(self.m) + np.log(self.x)
        # the (p x - 1) log m + p x log x terms, split into what p multiplies
        self.fixed = float(self.weight @ -np.log(self.m))
        self.per_p = float(self.weight @ (self.x * self.log_mx))

    def _per_x(self, values: np.ndarray) -> np.ndarray:
        return values[self.x_index]

    def value_and_gradient(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted total log-likelihood (note 025) and its gradient in p, q, gamma."""
        p, q, g = values
        xs = self.x_values
        w, x = self.weight, self.x
        px_q = p * x + q
        log_gmx = np.log(g + self.m * x)
        gammas = self._per_x(special.gammaln(p * xs + q) - special.gammaln(p * xs))
        ll = (
            float(w @ (gammas - px_q * log_gmx))
            + (q * np.log(g) - special.gammaln(q)) * w.sum()
            + self.fixed
            + p * self.per_p
        )
        psi_pxq = self._per_x(special.digamma(p * xs + q))
        psi_px = self._per_x(special.digamma(p * xs))
        gradient = np.array(
            [
                w @ (x * (psi_pxq - psi_px - log_gmx)) + self.per_p,
                w @ (psi_pxq - log_gmx) + (np.log(g) - special.digamma(q)) * w.sum(),
                q / g * w.sum() - w @ (px_q / (g + self.m * x)),
            ]
        )
        return ll, gradient


def gamma_gamma_log_likelihood_gradient(
    params: GammaGammaParams,
    x: np.ndarray,
    m: np.ndarray,
    weight: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Total Gamma-Gamma log-likelihood and its gradient in (p, q, gamma)."""
    rows = _GammaGammaRows(x, m, weight)
    return rows.value_and_gradient(np.array(astuple(params)))


class GammaGammaModel:
    """Gamma-Gamma model of the mean transaction value, fitted on repeat buyers.

    Source: Hardie, "The Gamma-Gamma Model of Monetary Value" (2013,
    brucehardie.com/notes/025); Fader, Hardie & Lee (2005), *JMR* 42(4).
    """

    def __init__(self, config: FitConfig | None = None) -> None:
        self.config = config or FitConfig()
        self.params: GammaGammaParams | None = None
        self.log_likelihood: float | None = None

    def fit(self, summary: pd.DataFrame) -> Self:
        """Fit p, q, gamma on the customers with at least one repeat purchase."""
        repeat = summary[summary["frequency"] > 0]
        x = repeat["frequency"].to_numpy(dtype=float)
        m = repeat["monetary_value"].to_numpy(dtype=float)
        if len(x) == 0:
            raise ValueError("no customer has a repeat purchase")
        if np.any(m <= 0):
            raise ValueError("monetary_value must be positive for repeat buyers")
        (ux, um), weight = _compress(x, m)
        rows = _GammaGammaRows(ux, um, weight)
        values, self.log_likelihood = _maximise(
            rows.value_and_gradient, 3, weight.sum(), self.config
        )
        self.params = GammaGammaParams(*(float(v) for v in values))
        return self

    def conditional_expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """E[mean spend | x, m] = (gamma + m x) p / (p x + q - 1) (note 025, eq. 5).

        Customers without repeat purchases get the population mean
        p gamma / (q - 1).
        """
        if self.params is None:
            raise RuntimeError("fit the model first")
        p, q, g = self.params.p, self.params.q, self.params.gamma
        x = summary["frequency"].to_numpy(dtype=float)
        m = summary["monetary_value"].to_numpy(dtype=float)
        return (g + m * x) * p / (p * x + q - 1)


# --- lifetime value -----------------------------------------------------------


@dataclass(frozen=True)
class CLVConfig:
    """Horizon and discounting for :func:`customer_lifetime_value`.

    ``periods_per_month`` converts months to the summary's time unit: about
    4.348 for weeks, 30.44 for days. ``margin`` turns revenue into profit.
    """

    months: int = 12
    monthly_discount_rate: float = 0.01
    periods_per_month: float = WEEKS_PER_MONTH
    margin: float = 1.0

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ValueError("months must be at least 1")
        if not 0 <= self.monthly_discount_rate < 1:
            raise ValueError("monthly_discount_rate must be in [0, 1)")
        if self.periods_per_month <= 0:
            raise ValueError("periods_per_month must be positive")
        if not 0 < self.margin <= 1:
            raise ValueError("margin must be in (0, 1]")


def customer_lifetime_value(
    purchases: CLVModel,
    spend: SpendModel,
    summary: pd.DataFrame,
    config: CLVConfig | None = None,
) -> pd.Series:
    """Discounted expected value of each customer over the next months.

    CLV = sum over months i of (E[purchases by month i] - E[by month i-1])
    x E[spend] x margin / (1 + d)^i, the discounted-cash-flow form that
    `lifetimes` uses (``utils._customer_lifetime_value``).
    """
    config = config or CLVConfig()
    expected_spend = spend.conditional_expected_spend(summary) * config.margin
    months = range(1, config.months + 1)
    horizons = [month * config.periods_per_month for month in months]
    # BetaGeoModel shares the work across months; any CLVModel will do
    over = getattr(purchases, "conditional_expected_purchases_over", None)
    by_month = (
        over(horizons, summary)
        if over is not None
        else [purchases.conditional_expected_purchases(t, summary) for t in horizons]
    )
    total = np.zeros(len(summary))
    previous = np.zeros(len(summary))
    for month, cumulative in zip(months, by_month, strict=True):
        discount = (1 + config.monthly_discount_rate) ** month
        total += (cumulative - previous) * expected_spend / discount
        previous = cumulative
    return pd.Series(total, index=summary.index, name="clv")


def predict_customers(
    purchases: BetaGeoModel,
    spend: SpendModel,
    summary: pd.DataFrame,
    *,
    horizon: float,
    config: CLVConfig | None = None,
) -> pd.DataFrame:
    """Everything the customer page shows, one row per customer.

    Columns: probability_alive, expected_purchases (over ``horizon`` time
    units), expected_spend, expected_time_to_next_purchase and clv.
    """
    return pd.DataFrame(
        {
            "probability_alive": purchases.probability_alive(summary),
            "expected_purchases": purchases.conditional_expected_purchases(
                horizon, summary
            ),
            "expected_spend": spend.conditional_expected_spend(summary),
            "expected_time_to_next_purchase": (
                purchases.expected_time_to_next_purchase(summary)
            ),
            "clv": customer_lifetime_value(
                purchases, spend, summary, config
            ).to_numpy(),
        },
        index=summary.index,
    )


def calibration_table(
    purchases: CLVModel, holdout: pd.DataFrame, *, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean predicted vs actual holdout purchases by calibration frequency.

    The data behind the calibration plot of Fader, Hardie & Lee (2005,
    fig. 4): customers are grouped by repeat purchases in the calibration
    period (the last bucket holds ``max_frequency`` and more), and the mean
    purchases they made in the holdout are set against the model's
    conditional expectation over the same holdout length.

    Args:
        holdout: a frame from :func:`calibration_holdout_summary`.
    """
    durations = holdout["duration_holdout"].unique()
    predicted = np.empty(len(holdout))
    for duration in durations:
        rows = (holdout["duration_holdout"] == duration).to_numpy()
        predicted[rows] = purchases.conditional_expected_purchases(
            float(duration), holdout[rows]
        )
    frame = pd.DataFrame(
        {
            "frequency": holdout["frequency"].clip(upper=max_frequency).to_numpy(),
            "actual": holdout["frequency_holdout"].to_numpy(dtype=float),
            "predicted": predicted,
        }
    )
    table = frame.groupby("frequency").agg(
        customers=("actual", "size"),
        actual=("actual", "mean"),
        predicted=("predicted", "mean"),
    )
    return table
