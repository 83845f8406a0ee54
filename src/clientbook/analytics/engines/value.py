"""Customer value: revenue, cost, margin, profit, the Pareto curve and value tiers.

Methods and sources:

- Customer profitability is revenue net of returns minus the cost of goods,
  then minus the cost to serve (service tickets) and the cost to market
  (campaign contacts): customer profitability analysis as in Kaplan & Cooper
  (1998), *Cost and Effect*, ch. 10, whose cumulative-profit "whale curve"
  shows that some customers lose money.
- The Pareto curve sorts customers by profit, best first, and accumulates
  their share of total profit; the 20/80 rule reads off the share the top
  20% bring (Pareto's principle as applied to customers in the seeds). With
  loss-making customers the curve rises above 1 before falling back to 1.
- Value tiers (VIP / good / ordinary / loss-making) follow the tiering in the
  FedEx "good, bad and ugly" and Citibank cases of the seeds: the top of the
  profit distribution is VIP, the next band good, the rest ordinary, and any
  customer below the loss threshold is loss-making. Thresholds are profit
  quantiles or fixed amounts.

Amounts are floats here for vectorised arithmetic; the service layer rounds
them to ``Decimal`` when it stores them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from django.utils.translation import gettext_lazy as _

VIP = "vip"
GOOD = "good"
ORDINARY = "ordinary"
LOSS_MAKING = "loss_making"

TIER_LABELS = {
    VIP: _("VIP"),
    GOOD: _("Good"),
    ORDINARY: _("Ordinary"),
    LOSS_MAKING: _("Loss-making"),
}


def _per_customer(costs: pd.Series | None, index: pd.Index) -> pd.Series:
    if costs is None:
        return pd.Series(0.0, index=index)
    return costs.groupby(level=0).sum().reindex(index, fill_value=0.0).astype(float)


def customer_value(
    lines: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    revenue_col: str = "revenue",
    cost_col: str = "cost",
    service_costs: pd.Series | None = None,
    campaign_costs: pd.Series | None = None,
) -> pd.DataFrame:
    """Revenue, cost of goods, gross margin, cost to serve and profit per customer.

    Args:
        lines: order lines with a customer id, the line revenue and the line
            cost of goods; returns are lines with negative amounts.
        service_costs, campaign_costs: amounts indexed by customer id (several
            entries per customer are added up). Customers who only appear
            here (contacted but never bought) are included with no revenue.

    Returns:
        One row per customer: revenue, product_cost, gross_margin,
        service_cost, campaign_cost, profit and margin_rate (gross margin over
        revenue, NaN without revenue).
    """
    grouped = lines.groupby(customer_col, sort=True)
    sales = pd.DataFrame(
        {
            "revenue": grouped[revenue_col].sum().astype(float),
            "product_cost": grouped[cost_col].sum().astype(float),
        }
    )
    extra = [c.index for c in (service_costs, campaign_costs) if c is not None]
    index = sales.index.append(extra).unique().sort_values() if extra else sales.index
    frame = sales.reindex(index, fill_value=0.0)
    frame["gross_margin"] = frame["revenue"] - frame["product_cost"]
    frame["service_cost"] = _per_customer(service_costs, index)
    frame["campaign_cost"] = _per_customer(campaign_costs, index)
    frame["profit"] = (
        frame["gross_margin"] - frame["service_cost"] - frame["campaign_cost"]
    )
    frame["margin_rate"] = frame["gross_margin"] / frame["revenue"].where(
        frame["revenue"] != 0
    )
    frame.index.name = customer_col
    return frame


def pareto_curve(profit: pd.Series) -> pd.DataFrame:
    """Cumulative share of profit by customer rank, most profitable first.

    Returns one row per customer: rank (1 = best), customer_share (share of
    customers up to this rank), profit, cumulative_profit, cumulative_share.
    Ties are broken by customer id so the curve is reproducible.
    """
    if profit.empty:
        raise ValueError("no customers")
    frame = profit.rename("profit").rename_axis("customer_id").reset_index()
    frame = frame.sort_values(
        ["profit", "customer_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    total = frame["profit"].sum()
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    frame["customer_share"] = frame["rank"] / len(frame)
    frame["cumulative_profit"] = frame["profit"].cumsum()
    frame["cumulative_share"] = frame["cumulative_profit"] / total if total else np.nan
    return frame


def top_share(profit: pd.Series, top: float = 0.2) -> float:
    """Share of total profit brought by the top ``top`` of customers (by count).

    The top group has ceil(top x N) customers, so with 10 customers the top
    20% are exactly the best two.
    """
    if not 0 < top <= 1:
        raise ValueError("top must be in (0, 1]")
    curve = pareto_curve(profit)
    count = math.ceil(top * len(curve) - 1e-9)
    return float(curve["cumulative_share"].iloc[count - 1])


@dataclass(frozen=True)
class TierConfig:
    """Where the tiers start.

    ``basis="quantile"``: ``vip`` and ``good`` are profit quantiles (0.95 means
    the top 5% are VIP). ``basis="amount"``: they are profit amounts. Any
    customer whose profit is below ``loss_below`` is loss-making, whatever
    the basis.
    """

    basis: Literal["quantile", "amount"] = "quantile"
    vip: float = 0.95
    good: float = 0.75
    loss_below: float = 0.0

    def __post_init__(self) -> None:
        if self.basis not in ("quantile", "amount"):
            raise ValueError("basis must be 'quantile' or 'amount'")
        if self.basis == "quantile" and not 0 < self.good < self.vip < 1:
            raise ValueError("quantiles need 0 < good < vip < 1")
        if self.basis == "amount" and not self.loss_below <= self.good < self.vip:
            raise ValueError("amounts need loss_below <= good < vip")

    def thresholds(self, profit: pd.Series) -> tuple[float, float]:
        """The (vip, good) profit amounts this config means for these customers."""
        if self.basis == "amount":
            return self.vip, self.good
        vip, good = np.quantile(profit.to_numpy(dtype=float), [self.vip, self.good])
        return float(vip), float(good)


def value_tiers(profit: pd.Series, config: TierConfig | None = None) -> pd.Series:
    """Tier code of each customer: vip, good, ordinary or loss_making."""
    config = config or TierConfig()
    vip, good = config.thresholds(profit)
    values = profit.to_numpy(dtype=float)
    tiers = np.select(
        [values < config.loss_below, values >= vip, values >= good],
        [LOSS_MAKING, VIP, GOOD],
        default=ORDINARY,
    )
    return pd.Series(tiers, index=profit.index, name="tier", dtype=object)


def tier_summary(profit: pd.Series, tiers: pd.Series) -> pd.DataFrame:
    """Customers, profit and share of total profit per tier, every tier listed."""
    frame = pd.DataFrame({"profit": profit, "tier": tiers})
    summary = (
        frame.groupby("tier")
        .agg(customers=("profit", "size"), profit=("profit", "sum"))
        .reindex(list(TIER_LABELS), fill_value=0)
    )
    total = summary["profit"].sum()
    summary["profit_share"] = summary["profit"] / total if total else np.nan
    summary.index.name = "tier"
    return summary.reset_index()
