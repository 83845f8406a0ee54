"""Reads of the stored analytics: current runs, charts' data, scored customers.

Company-wide figures (the RFM grid, the Pareto curve, tiers, rules) are read
from the current run of each kind; lists of customers are narrowed to what
the user may see (branch staff: their own branch).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.db.models import QuerySet

from clientbook.analytics.engines.clusters import Trait, describe
from clientbook.analytics.engines.rfm import CELL_LABELS, rfm_cells
from clientbook.analytics.engines.value import TIER_LABELS
from clientbook.analytics.models import (
    AnalysisKind,
    AnalysisRun,
    AssociationRule,
    ClusterProfile,
    CustomerScore,
    ModelVersion,
    OfferAssignment,
    Recommendation,
    RoughSetRule,
)
from clientbook.org.access import scope_by_branch

#: Orderings a list of scored customers may use.
SCORE_ORDERS = {
    "clv": "-clv",
    "profit": "-profit",
    "churn": "-churn_score",
    "response": "-response_score",
    "monetary": "-monetary",
    "lookalike": "-lookalike_score",
}
#: Filters a list of scored customers accepts, by query parameter.
SCORE_FILTERS = ("rfm_cell", "value_tier", "cluster")


def run_current(kind: str) -> AnalysisRun | None:
    """The run whose results are shown for ``kind``, if any."""
    return AnalysisRun.objects.filter(kind=kind, is_current=True).first()


def run_latest(kind: str) -> AnalysisRun | None:
    """The newest run of ``kind`` whatever its status (queued, failed, ...)."""
    return AnalysisRun.objects.filter(kind=kind).order_by("-created_at", "-id").first()


def runs_current() -> dict[str, AnalysisRun]:
    """The current run of every kind, in one query."""
    return {r.kind: r for r in AnalysisRun.objects.filter(is_current=True)}


def run_list(*, limit: int = 20) -> QuerySet[AnalysisRun]:
    return AnalysisRun.objects.select_related("requested_by").order_by(
        "-created_at", "-id"
    )[:limit]


def rfm_grid(run: AnalysisRun) -> dict[str, Any]:
    """R rows (best first) x F columns with customers, value and cell name."""
    bins = run.metrics["bins"]
    cells = {(c["r_score"], c["f_score"]): c for c in run.metrics.get("grid", [])}
    rows = []
    for r in range(bins, 0, -1):
        codes = rfm_cells(
            pd.Series([r] * bins), pd.Series(range(1, bins + 1)), bins
        ).tolist()
        row = []
        for f, code in zip(range(1, bins + 1), codes, strict=True):
            cell = cells.get((r, f), {})
            row.append(
                {
                    "r": r,
                    "f": f,
                    "code": code,
                    "label": CELL_LABELS[code],
                    "customers": cell.get("customers", 0),
                    "monetary": cell.get("monetary", 0.0),
                }
            )
        rows.append({"r": r, "cells": row})
    most = max((c["customers"] for row in rows for c in row["cells"]), default=0)
    return {"rows": rows, "f_scores": list(range(1, bins + 1)), "max": most or 1}


def rfm_cells_summary(run: AnalysisRun) -> list[dict[str, Any]]:
    return [
        {**c, "label": CELL_LABELS.get(c["cell"], c["cell"])}
        for c in run.metrics.get("cells", [])
    ]


def tier_summary(run: AnalysisRun) -> list[dict[str, Any]]:
    return [
        {**t, "label": TIER_LABELS.get(t["tier"], t["tier"])}
        for t in run.metrics.get("tiers", [])
    ]


def scored_customers(
    *, user, order: str = "clv", filters: dict[str, Any] | None = None
) -> QuerySet[CustomerScore]:
    """Scored customers the user may see, best first by ``order``."""
    queryset = CustomerScore.objects.select_related("customer", "customer__branch")
    queryset = scope_by_branch(queryset, user, field="customer__branch")
    queryset = queryset.filter(customer__merged_into__isnull=True)
    for name, value in (filters or {}).items():
        if name == "cluster" and not str(value).isdigit():
            continue
        if name in SCORE_FILTERS and value not in (None, ""):
            queryset = queryset.filter(**{name: value})
    field = SCORE_ORDERS.get(order, "-clv")
    return queryset.filter(**{f"{field.lstrip('-')}__isnull": False}).order_by(
        field, "customer_id"
    )


def cluster_profiles(run: AnalysisRun) -> list[dict[str, Any]]:
    """Profiles with a description in the active language."""
    return [
        {
            "profile": p,
            "description": describe([Trait(**t) for t in p.traits]),
        }
        for p in ClusterProfile.objects.filter(run=run).order_by("cluster")
    ]


def model_list(*, limit: int = 30) -> QuerySet[ModelVersion]:
    """Model versions, newest first, without their pickled estimators."""
    return ModelVersion.objects.defer("estimator").order_by("-created_at", "-id")[
        :limit
    ]


def association_rules(run: AnalysisRun, *, limit: int = 100):
    return AssociationRule.objects.filter(run=run).order_by(
        "-lift", "-confidence", "id"
    )[:limit]


def roughset_rules(run: AnalysisRun, *, limit: int = 100):
    return RoughSetRule.objects.filter(run=run).order_by("kind", "-support", "id")[
        :limit
    ]


def offer_assignments(
    run: AnalysisRun, *, user, limit: int = 20
) -> QuerySet[OfferAssignment]:
    """The offers of an allocation run the user may see, most profitable first."""
    queryset = OfferAssignment.objects.filter(run=run).select_related(
        "customer", "customer__branch"
    )
    queryset = scope_by_branch(queryset, user, field="customer__branch")
    return queryset.order_by("-expected_profit", "customer_id")[:limit]


#: The solutions an allocation run stores, in the order they are shown.
OFFER_SOLUTIONS = ("genetic", "greedy", "exact")


def offer_summary(run: AnalysisRun) -> list[dict[str, Any]]:
    """Per offer: its terms and how many customers each solution gives it."""
    metrics, terms = run.metrics, run.parameters.get("offers", {})
    solutions = [s for s in OFFER_SOLUTIONS if s in metrics]
    return [
        {
            "offer": offer,
            "cost": terms.get(offer, {}).get("cost"),
            "margin": terms.get(offer, {}).get("margin"),
            "counts": [metrics[s]["offers"][i] for s in solutions],
        }
        for i, offer in enumerate(metrics.get("offers", []))
    ]


def offer_solutions(run: AnalysisRun) -> list[dict[str, Any]]:
    """Expected profit, spend and offers made by each solution of a run."""
    return [
        {
            "key": key,
            "profit": run.metrics[key]["profit"],
            "spent": run.metrics[key]["spent"],
            "made": sum(run.metrics[key].get("offers", [])),
        }
        for key in OFFER_SOLUTIONS
        if key in run.metrics
    ]


def item_choices(limit: int = 200) -> dict[str, list[str]]:
    """Known categories and product names, for the item fields' suggestions."""
    from clientbook.sales.models import Product

    products = Product.objects.order_by()
    return {
        "category": sorted(
            c for c in products.values_list("category", flat=True).distinct() if c
        )[:limit],
        "product": list(
            products.values_list("name", flat=True).distinct().order_by("name")[:limit]
        ),
    }


def customer_analytics(customer) -> dict[str, Any]:
    """What the 360 page shows: the score row, the current recommendations
    and, for a look-alike, the item it resembles the buyers of."""
    score = CustomerScore.objects.filter(customer=customer).first()
    recommendations = list(
        Recommendation.objects.filter(customer=customer, run__is_current=True).order_by(
            "rank"
        )
    )
    lookalike = None
    if score is not None and score.lookalike_score is not None:
        lookalike = run_current(AnalysisKind.LOOKALIKE)
    return {
        "score": score,
        "lookalike_item": lookalike.parameters.get("item", "") if lookalike else "",
        "cell_label": CELL_LABELS.get(score.rfm_cell, "") if score else "",
        "tier_label": TIER_LABELS.get(score.value_tier, "") if score else "",
        "recommendations": recommendations,
    }


def customer_scores_payload(customer) -> dict[str, Any]:
    """The per-customer scores as plain data (the API's shape)."""
    data = customer_analytics(customer)
    score = data["score"]
    fields = [
        "rfm_r",
        "rfm_f",
        "rfm_m",
        "rfm_cell",
        "recency_days",
        "frequency",
        "monetary",
        "revenue",
        "cost",
        "profit",
        "value_tier",
        "p_alive",
        "expected_purchases",
        "next_purchase_days",
        "clv",
        "cluster",
        "churn_score",
        "response_score",
        "lookalike_score",
    ]
    values = {f: getattr(score, f) if score else None for f in fields}
    values["recommendations"] = [
        {"item": r.item, "rank": r.rank, "score": r.score, "because": r.because}
        for r in data["recommendations"]
    ]
    return values


KINDS = [k for k, _ in AnalysisKind.choices]
