"""RFM: recency, frequency and monetary scores and the named customer cells.

Method: Hughes (1994), *Strategic Database Marketing*, scores each customer
from 1 (worst) to n (best, n = 5 for quintiles) on how recently they bought,
how often and how much. Scores here are quantile ranks over the customers
scored together: with N customers sorted from worst to best, the customer at
1-based position k gets ``1 + floor(n * (k - 1) / N)``. Ties take the position
of the first of them (``rank(method="min")``), so equal values always get equal
scores and the result does not depend on row order; with many ties (most
customers bought once) the higher buckets may stay smaller or empty, which is
honest about the data.

The named cells follow the widely used recency x frequency segment map
(e.g. Putler's "RFM analysis" guide and the RFM segment map popularised in
retail-analytics tutorials), on a 5 x 5 grid of R and F scores:

======  ==============  ==============  ==============  =========  =========
R \\ F  1               2               3               4          5
======  ==============  ==============  ==============  =========  =========
5       new             potential       potential       champions  champions
4       promising       potential       potential       loyal      loyal
3       about to sleep  about to sleep  need attention  loyal      loyal
2       hibernating     hibernating     at risk         at risk    can't lose
1       lost            hibernating     at risk         at risk    can't lose
======  ==============  ==============  ==============  =========  =========

Cell (1, 1) — bought once, long ago — is split out of hibernating as *lost*.
With ``n`` other than 5, each score is first mapped onto the 1-5 scale by the
midpoint of its level (3 levels become 1, 3 and 5).
Cells are returned as codes; :data:`CELL_LABELS` gives translatable labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.utils.translation import gettext_lazy as _

CHAMPIONS = "champions"
LOYAL = "loyal"
POTENTIAL_LOYALIST = "potential_loyalist"
NEW = "new"
PROMISING = "promising"
NEED_ATTENTION = "need_attention"
ABOUT_TO_SLEEP = "about_to_sleep"
AT_RISK = "at_risk"
CANT_LOSE = "cant_lose"
HIBERNATING = "hibernating"
LOST = "lost"

CELL_LABELS = {
    CHAMPIONS: _("Champions"),
    LOYAL: _("Loyal"),
    POTENTIAL_LOYALIST: _("Potential loyalist"),
    NEW: _("New"),
    PROMISING: _("Promising"),
    NEED_ATTENTION: _("Need attention"),
    ABOUT_TO_SLEEP: _("About to sleep"),
    AT_RISK: _("At risk"),
    CANT_LOSE: _("Can't lose them"),
    HIBERNATING: _("Hibernating"),
    LOST: _("Lost"),
}

# Rows are R scores 1..5, columns F scores 1..5 (see the module docstring).
_CELL_GRID = np.array(
    [
        [LOST, HIBERNATING, AT_RISK, AT_RISK, CANT_LOSE],
        [HIBERNATING, HIBERNATING, AT_RISK, AT_RISK, CANT_LOSE],
        [ABOUT_TO_SLEEP, ABOUT_TO_SLEEP, NEED_ATTENTION, LOYAL, LOYAL],
        [PROMISING, POTENTIAL_LOYALIST, POTENTIAL_LOYALIST, LOYAL, LOYAL],
        [NEW, POTENTIAL_LOYALIST, POTENTIAL_LOYALIST, CHAMPIONS, CHAMPIONS],
    ],
    dtype=object,
)


@dataclass(frozen=True)
class RFMConfig:
    """Number of score levels (5 = quintiles)."""

    bins: int = 5

    def __post_init__(self) -> None:
        if not 2 <= self.bins <= 10:
            raise ValueError("bins must be between 2 and 10")


def rfm_from_transactions(
    transactions: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
    order_col: str | None = None,
) -> pd.DataFrame:
    """Recency (days since the last purchase), frequency and monetary per customer.

    Only transactions before ``as_of`` count. Frequency counts distinct
    ``order_col`` values when given, else rows. Monetary is the net sum, so
    returns (negative amounts) reduce it.
    """
    as_of = pd.Timestamp(as_of)
    dates = pd.to_datetime(transactions[date_col])
    seen = transactions.loc[dates < as_of].assign(_date=dates[dates < as_of])
    grouped = seen.groupby(customer_col, sort=True)
    frequency = grouped[order_col].nunique() if order_col else grouped.size()
    frame = pd.DataFrame(
        {
            "recency": (as_of - grouped["_date"].max()).dt.days,
            "frequency": frequency.astype("int64"),
            "monetary": grouped[amount_col].sum().astype(float),
        }
    )
    frame.index.name = customer_col
    return frame


def quantile_scores(values: pd.Series, bins: int, *, higher_is_better: bool = True):
    """Score values 1..bins by quantile position; ties take the first position."""
    ordered = values if higher_is_better else -values
    position = ordered.rank(method="min").to_numpy() - 1
    scores = 1 + np.floor(bins * position / len(values)).astype("int64")
    return pd.Series(scores, index=values.index, dtype="int64")


def _to_five(scores: pd.Series, bins: int) -> np.ndarray:
    """Map 1..bins onto 1..5 by each level's midpoint (3 levels become 1, 3, 5)."""
    return 1 + np.floor((scores.to_numpy() - 0.5) * 5 / bins).astype("int64")


def rfm_cells(r_score: pd.Series, f_score: pd.Series, bins: int = 5) -> pd.Series:
    """Named cell code of each customer from R and F scores (see module docstring)."""
    cells = _CELL_GRID[_to_five(r_score, bins) - 1, _to_five(f_score, bins) - 1]
    return pd.Series(cells, index=r_score.index, name="cell", dtype=object)


def rfm_scores(rfm: pd.DataFrame, config: RFMConfig | None = None) -> pd.DataFrame:
    """Add r_score, f_score, m_score, the "RFM" code and the named cell.

    Args:
        rfm: a frame with ``recency`` (days, lower is better), ``frequency``
            and ``monetary`` columns, one row per customer.
    """
    config = config or RFMConfig()
    if rfm.empty:
        raise ValueError("no customers to score")
    scored = rfm.copy()
    scored["r_score"] = quantile_scores(
        rfm["recency"], config.bins, higher_is_better=False
    )
    scored["f_score"] = quantile_scores(rfm["frequency"], config.bins)
    scored["m_score"] = quantile_scores(rfm["monetary"], config.bins)
    scored["rfm_code"] = (
        scored["r_score"].astype(str)
        + scored["f_score"].astype(str)
        + scored["m_score"].astype(str)
    )
    scored["cell"] = rfm_cells(scored["r_score"], scored["f_score"], config.bins)
    return scored


def rfm_grid(scored: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """Recency x frequency grid: customers and value in every (R, F) cell.

    Returns one row per (r_score, f_score) pair, all bins x bins pairs
    included (empty ones with zeros), with ``customers``, ``monetary`` (sum)
    and ``monetary_mean``.
    """
    full = pd.MultiIndex.from_product(
        [range(1, bins + 1), range(1, bins + 1)], names=["r_score", "f_score"]
    )
    grid = (
        scored.groupby(["r_score", "f_score"])
        .agg(customers=("monetary", "size"), monetary=("monetary", "sum"))
        .reindex(full, fill_value=0)
    )
    grid["monetary_mean"] = (
        grid["monetary"] / grid["customers"].where(grid["customers"] > 0)
    ).fillna(0.0)
    return grid.reset_index()


def cell_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Customers, share of customers and value per named cell, every cell listed."""
    summary = (
        scored.groupby("cell")
        .agg(customers=("monetary", "size"), monetary=("monetary", "sum"))
        .reindex(list(CELL_LABELS), fill_value=0)
    )
    summary["share"] = summary["customers"] / summary["customers"].sum()
    summary.index.name = "cell"
    return summary.reset_index()
