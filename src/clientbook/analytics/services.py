"""Every analytics write: runs the engines on data read through Ibis and stores
the results.

Each ``analysis_run_*`` service records an ``AnalysisRun`` (committed at once,
so a page can show it running), computes with the engines outside any
transaction, then writes the results in bulk in one transaction that also
makes the run the current one of its kind and records the audit entry. Until
that transaction commits, readers see the previous results; if anything
fails, the run is marked failed and the previous results stay current.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

import joblib
import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.analytics import loading
from clientbook.analytics.connection import analytics_connection
from clientbook.analytics.engines import clusters as cluster_engine
from clientbook.analytics.engines import clv as clv_engine
from clientbook.analytics.engines import offers as offer_engine
from clientbook.analytics.engines import propensity
from clientbook.analytics.engines import rfm as rfm_engine
from clientbook.analytics.engines import roughsets as rough_engine
from clientbook.analytics.engines import rules as rules_engine
from clientbook.analytics.engines import value as value_engine
from clientbook.analytics.errors import ErrorCode
from clientbook.analytics.models import (
    AnalysisKind,
    AnalysisRun,
    AssociationRule,
    ClusterProfile,
    CustomerScore,
    ModelTarget,
    ModelVersion,
    OfferAssignment,
    Recommendation,
    RoughSetRule,
    RunStatus,
)
from clientbook.errors import AccessDenied, ClientbookError, ValidationFailed
from clientbook.org.access import can_write
from clientbook.privacy.services import audit_record

BATCH = 5000
CENT = Decimal("0.01")

#: CustomerScore columns each kind owns; a re-run clears and rewrites them.
SCORE_FIELDS: dict[str, dict[str, Any]] = {
    AnalysisKind.RFM: {
        "rfm_r": None,
        "rfm_f": None,
        "rfm_m": None,
        "rfm_cell": "",
        "recency_days": None,
        "frequency": None,
        "monetary": None,
    },
    AnalysisKind.VALUE: {
        "revenue": None,
        "cost": None,
        "profit": None,
        "value_tier": "",
    },
    AnalysisKind.CLV: {
        "p_alive": None,
        "expected_purchases": None,
        "next_purchase_days": None,
        "clv": None,
    },
    AnalysisKind.CLUSTER: {"cluster": None},
    "churn_score": {"churn_score": None},
    "response_score": {"response_score": None},
    "lookalike_score": {"lookalike_score": None},
}


# --- the run life cycle ---------------------------------------------------------

#: Called with (stage number, stages, stage name); the CLI draws a bar with it.
_progress: ContextVar[Callable[[int, int, str], None] | None] = ContextVar(
    "analytics_progress", default=None
)


@contextmanager
def progress_reporting(report: Callable[[int, int, str], None] | None):
    """Report each run's stages to ``report`` inside this block."""
    token = _progress.set(report)
    try:
        yield
    finally:
        _progress.reset(token)


def _stage(done: int, name: str) -> None:
    report = _progress.get()
    if report is not None:
        report(done, 3, name)


def _check_actor(actor) -> None:
    """Auditors read everything and start nothing; None is the system."""
    if actor is not None and not can_write(actor):
        raise AccessDenied("read_only", _("Your role may not start analyses."))


def _money(value: float | None) -> Decimal | None:
    if value is None or not math.isfinite(value):
        return None
    return Decimal(f"{value:.2f}")


def _float(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows of a small frame (NaN and infinities become None)."""
    clean = frame.replace([np.inf, -np.inf], np.nan).astype(object)
    clean = clean.where(pd.notna(clean), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


def run_create(
    *,
    kind: str,
    as_of: dt.date,
    parameters: dict[str, Any],
    actor=None,
    status: str = RunStatus.RUNNING,
) -> AnalysisRun:
    """Records a run (committed at once, so its status is visible)."""
    _check_actor(actor)
    return AnalysisRun.objects.create(
        kind=kind,
        as_of=as_of,
        parameters=parameters,
        requested_by=actor if actor is not None and actor.pk else None,
        status=status,
        started_at=timezone.now() if status == RunStatus.RUNNING else None,
    )


def _begin(
    run: AnalysisRun | None, kind: str, as_of: dt.date, parameters: dict, actor
) -> AnalysisRun:
    if run is None:
        return run_create(kind=kind, as_of=as_of, parameters=parameters, actor=actor)
    run.status, run.started_at, run.error = RunStatus.RUNNING, timezone.now(), ""
    run.save(update_fields=["status", "started_at", "error"])
    return run


def _fail(run: AnalysisRun, exc: Exception) -> None:
    message = exc.message if isinstance(exc, ClientbookError) else str(exc)
    AnalysisRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), error=message[:2000]
    )
    run.refresh_from_db()


def _execute(
    run: AnalysisRun,
    compute: Callable[[], tuple[dict, Callable[[AnalysisRun], int]]],
    actor,
) -> AnalysisRun:
    """Compute, then write and make current in one transaction; mark failures."""
    try:
        _stage(0, "computing")
        try:
            metrics, write = compute()
        except (ValueError, RuntimeError) as exc:
            raise ValidationFailed(ErrorCode.ANALYSIS_FAILED, str(exc)) from exc
        _stage(1, "writing")
        with transaction.atomic():
            customers = write(run)
            AnalysisRun.objects.filter(kind=run.kind, is_current=True).exclude(
                pk=run.pk
            ).update(is_current=False)
            run.status, run.is_current = RunStatus.DONE, True
            run.finished_at, run.metrics = timezone.now(), metrics
            run.customers = customers
            run.save()
            audit_record(
                actor=actor,
                action=f"analytics.{run.kind}",
                obj=run,
                after={
                    "as_of": run.as_of.isoformat(),
                    "parameters": run.parameters,
                    "customers": customers,
                },
            )
    except Exception as exc:
        _fail(run, exc)
        raise
    _stage(3, "done")
    return run


def _batches(items: Iterable, size: int = BATCH) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def scores_replace(*, group: str, rows: Iterable[dict[str, Any]]) -> int:
    """Replace one column group of CustomerScore for every customer.

    Call inside the run's transaction: the group is cleared for all
    customers, then the new values are upserted in batches.
    """
    defaults = SCORE_FIELDS[group]
    stale = Q()
    for name, empty in defaults.items():
        stale |= ~Q(**{name: ""}) if empty == "" else Q(**{f"{name}__isnull": False})
    CustomerScore.objects.filter(stale).update(**defaults)
    fields = list(defaults)
    count = 0
    for batch in _batches(rows):
        CustomerScore.objects.bulk_create(
            [CustomerScore(**row) for row in batch],
            update_conflicts=True,
            unique_fields=["customer"],
            update_fields=[*fields, "updated_at"],
        )
        count += len(batch)
    return count


def _connection():
    return analytics_connection()


def _features(as_of: dt.date, *, categories=(), custom=False) -> pd.DataFrame:
    con = _connection()
    try:
        return loading.feature_frame(con, as_of, categories=categories, custom=custom)
    finally:
        con.disconnect()


def _buyers(features: pd.DataFrame) -> pd.DataFrame:
    buyers = features[features["frequency"] > 0]
    if buyers.empty:
        raise ValueError(_("No customer has bought anything before this date."))
    return buyers


# --- RFM ------------------------------------------------------------------------


def analysis_run_rfm(
    *, as_of: dt.date, bins: int = 5, actor=None, run: AnalysisRun | None = None
) -> AnalysisRun:
    """Score recency, frequency and monetary value of every buyer; name the cells."""
    run = _begin(run, AnalysisKind.RFM, as_of, {"bins": bins}, actor)

    def compute():
        buyers = _buyers(_features(as_of))
        rfm = pd.DataFrame(
            {
                "recency": buyers["recency_days"],
                "frequency": buyers["frequency"],
                "monetary": buyers["monetary"],
            }
        )
        scored = rfm_engine.rfm_scores(rfm, rfm_engine.RFMConfig(bins=bins))
        metrics = {
            "bins": bins,
            "buyers": len(scored),
            "grid": _records(rfm_engine.rfm_grid(scored, bins)),
            "cells": _records(rfm_engine.cell_summary(scored)),
        }

        def write(run):
            rows = (
                {
                    "customer_id": int(cid),
                    "rfm_r": int(r.r_score),
                    "rfm_f": int(r.f_score),
                    "rfm_m": int(r.m_score),
                    "rfm_cell": r.cell,
                    "recency_days": _float(r.recency),
                    "frequency": int(r.frequency),
                    "monetary": _money(r.monetary),
                }
                for cid, r in zip(scored.index, scored.itertuples(), strict=True)
            )
            return scores_replace(group=AnalysisKind.RFM, rows=rows)

        return metrics, write

    return _execute(run, compute, actor)


# --- value ----------------------------------------------------------------------


def _pareto_points(curve: pd.DataFrame, points: int = 100) -> list[list[float]]:
    """The curve at each percent of customers, for the chart."""
    shares = np.linspace(0, 1, points + 1)
    counts = np.ceil(shares * len(curve) - 1e-9).astype(int)
    cumulative = np.concatenate([[0.0], curve["cumulative_share"].to_numpy()])
    return [
        [round(float(s), 4), round(float(cumulative[c]), 4)]
        for s, c in zip(shares, counts, strict=True)
    ]


def analysis_run_value(
    *,
    as_of: dt.date,
    vip: float = 0.95,
    good: float = 0.75,
    basis: str = "quantile",
    loss_below: float = 0.0,
    complaint_cost: float = 0.0,
    contact_cost: float = 0.0,
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Revenue, cost, profit per customer, the Pareto curve and value tiers.

    ``complaint_cost`` (cost to serve) and ``contact_cost`` (cost to market)
    are charged per complaint and per recorded interaction before the date.
    """
    parameters = {
        "vip": vip,
        "good": good,
        "basis": basis,
        "loss_below": loss_below,
        "complaint_cost": complaint_cost,
        "contact_cost": contact_cost,
    }
    run = _begin(run, AnalysisKind.VALUE, as_of, parameters, actor)

    def compute():
        tier_config = value_engine.TierConfig(
            basis=basis, vip=vip, good=good, loss_below=loss_below
        )
        features = _features(as_of)
        costs = features["complaints"] * complaint_cost + (
            features["interactions"] * contact_cost
        )
        features = features[(features["frequency"] > 0) | (costs > 0)]
        if features.empty:
            raise ValueError(_("No customer has bought anything before this date."))
        lines = pd.DataFrame(
            {
                "customer_id": features.index,
                "revenue": features["monetary"].to_numpy(),
                "cost": (features["monetary"] - features["margin"]).to_numpy(),
            }
        )
        value = value_engine.customer_value(
            lines,
            service_costs=features["complaints"] * complaint_cost,
            campaign_costs=features["interactions"] * contact_cost,
        )
        tiers = value_engine.value_tiers(value["profit"], tier_config)
        curve = value_engine.pareto_curve(value["profit"])
        vip_at, good_at = tier_config.thresholds(value["profit"])
        metrics = {
            "customers": len(value),
            "revenue": float(value["revenue"].sum()),
            "profit": float(value["profit"].sum()),
            "top20_share": value_engine.top_share(value["profit"], 0.2),
            "pareto": _pareto_points(curve),
            "tiers": _records(value_engine.tier_summary(value["profit"], tiers)),
            "thresholds": {"vip": vip_at, "good": good_at, "loss_below": loss_below},
        }

        def write(run):
            rows = (
                {
                    "customer_id": int(cid),
                    "revenue": _money(r.revenue),
                    "cost": _money(r.product_cost + r.service_cost + r.campaign_cost),
                    "profit": _money(r.profit),
                    "value_tier": tier,
                }
                for cid, r, tier in zip(
                    value.index, value.itertuples(), tiers, strict=True
                )
            )
            return scores_replace(group=AnalysisKind.VALUE, rows=rows)

        return metrics, write

    return _execute(run, compute, actor)


# --- lifetime value -------------------------------------------------------------


def _spend_fit_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """Gamma-Gamma needs positive mean spend; net returns can make it zero."""
    return summary[(summary["frequency"] == 0) | (summary["monetary_value"] > 0)]


#: Starting values tried in turn: from 1.0 alone, Nelder-Mead can drift into
#: a flat, degenerate region (p -> infinity for Gamma-Gamma on heavy-tailed
#: spend, seen on the demo data) and stop at its evaluation limit.
FIT_STARTS = (1.0, 10.0, 0.1)


def _fit_best(make: Callable[[clv_engine.FitConfig], Any], summary: pd.DataFrame):
    """The converged fit with the highest log-likelihood over the starts."""
    fits, errors = [], []
    for start in FIT_STARTS:
        try:
            fits.append(make(clv_engine.FitConfig(initial=start)).fit(summary))
        except RuntimeError as exc:
            errors.append(exc)
    if not fits:
        raise errors[0]
    return max(fits, key=lambda model: model.log_likelihood)


def _calibration(holdout: pd.DataFrame) -> list:
    """Predicted vs actual holdout purchases, by calibration-period frequency."""
    model = _fit_best(clv_engine.BetaGeoModel, holdout)
    table = clv_engine.calibration_table(model, holdout).reset_index()
    return _records(table)


def _histogram(values: pd.Series, bins: int = 20) -> list[dict[str, float]]:
    """Counts of values in equal-width bins up to the 99th percentile."""
    top = float(values.quantile(0.99)) if len(values) else 0.0
    low = min(0.0, float(values.min())) if len(values) else 0.0
    if top <= low:
        top = low + 1.0
    counts, edges = np.histogram(values.clip(low, top), bins=bins, range=(low, top))
    return [
        {"from": float(edges[i]), "to": float(edges[i + 1]), "customers": int(c)}
        for i, c in enumerate(counts)
    ]


def analysis_run_clv(
    *,
    as_of: dt.date,
    horizon: int = 12,
    discount: float = 0.01,
    margin: float = 1.0,
    holdout_days: int = 180,
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Fit BG/NBD and Gamma-Gamma; store P(alive), expected purchases and CLV.

    Args:
        horizon: months ahead for expected purchases and CLV.
        discount: monthly discount rate.
        margin: share of revenue that is profit (1 = CLV in revenue).
        holdout_days: length of the holdout for the calibration plot.
    """
    parameters = {
        "horizon": horizon,
        "discount": discount,
        "margin": margin,
        "holdout_days": holdout_days,
    }
    run = _begin(run, AnalysisKind.CLV, as_of, parameters, actor)

    def compute():
        config = clv_engine.CLVConfig(
            months=horizon, monthly_discount_rate=discount, margin=margin
        )
        con = _connection()
        try:
            # one row per customer from the database, not one per purchase day
            summary = loading.clv_summary(con, before=as_of)
            holdout = loading.clv_summary(con, before=as_of, holdout_days=holdout_days)
        finally:
            con.disconnect()
        if summary.empty:
            raise ValueError(_("No customer has bought anything before this date."))
        purchases = _fit_best(clv_engine.BetaGeoModel, summary)
        spend = _fit_best(clv_engine.GammaGammaModel, _spend_fit_rows(summary))
        if spend.params.q <= 1:
            raise ValueError(_("The spend model has no finite mean (q <= 1)."))
        weeks = horizon * clv_engine.WEEKS_PER_MONTH
        predicted = clv_engine.predict_customers(
            purchases, spend, summary, horizon=weeks, config=config
        )
        metrics = {
            "bgnbd": vars(purchases.params),
            "bgnbd_log_likelihood": purchases.log_likelihood,
            "gamma_gamma": vars(spend.params),
            "customers": len(summary),
            "total_clv": float(predicted["clv"].sum()),
            "mean_clv": float(predicted["clv"].mean()),
            "mean_p_alive": float(predicted["probability_alive"].mean()),
            "expected_purchases": float(predicted["expected_purchases"].sum()),
            "histogram": _histogram(predicted["clv"]),
            "calibration": _calibration(holdout),
        }

        def write(run):
            rows = (
                {
                    "customer_id": int(cid),
                    "p_alive": _float(r.probability_alive),
                    "expected_purchases": _float(r.expected_purchases),
                    "next_purchase_days": _float(
                        r.expected_time_to_next_purchase * clv_engine.DAYS_PER_WEEK
                    ),
                    "clv": _money(r.clv),
                }
                for cid, r in zip(predicted.index, predicted.itertuples(), strict=True)
            )
            return scores_replace(group=AnalysisKind.CLV, rows=rows)

        return metrics, write

    return _execute(run, compute, actor)


# --- clusters -------------------------------------------------------------------

#: Feature-table columns clustered, under the names the trait words know.
CLUSTER_COLUMNS = {
    "recency": "recency_days",
    "frequency": "frequency",
    "monetary": "monetary",
    "average_basket": "average_basket",
    "tenure": "tenure_days",
    "age": "age",
    "online_share": "channel_online",
    "complaints": "complaints",
    "interactions": "interactions",
}


def cluster_matrix(features: pd.DataFrame) -> pd.DataFrame:
    """Numeric cluster features with gaps filled by the median (or 0)."""
    frame = pd.DataFrame(
        {
            name: features[column].astype(float)
            for name, column in CLUSTER_COLUMNS.items()
        }
    )
    frame = frame.fillna(frame.median()).fillna(0.0)
    # a constant column has no spread to scale and says nothing about segments
    return frame.loc[:, frame.std() > 0]


def analysis_run_cluster(
    *,
    as_of: dt.date,
    k: int | None = None,
    seed: int = 0,
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """K-means segments of the buyers (k by silhouette unless given), profiled."""
    run = _begin(run, AnalysisKind.CLUSTER, as_of, {"k": k, "seed": seed}, actor)

    def compute():
        buyers = _buyers(_features(as_of))
        matrix = cluster_matrix(buyers)
        result = cluster_engine.cluster_customers(
            matrix,
            cluster_engine.ClusterConfig(k=k, seed=seed),
            value=buyers["margin"].astype(float),
        )
        metrics = {
            "k": result.k,
            "silhouettes": {str(key): v for key, v in result.silhouettes.items()},
            "features": list(matrix.columns),
        }

        def write(run):
            ClusterProfile.objects.bulk_create(
                ClusterProfile(
                    run=run,
                    cluster=int(p.cluster),
                    customers=int(p.customers),
                    share=float(p.share),
                    value=_money(p.value) or Decimal(0),
                    value_mean=_money(p.value_mean) or Decimal(0),
                    traits=[vars(t) for t in result.traits[int(p.cluster)]],
                    center={
                        c: float(v) for c, v in result.centers.loc[p.cluster].items()
                    },
                )
                for p in result.profiles.itertuples()
            )
            rows = (
                {"customer_id": int(cid), "cluster": int(label)}
                for cid, label in result.labels.items()
            )
            return scores_replace(group=AnalysisKind.CLUSTER, rows=rows)

        return metrics, write

    return _execute(run, compute, actor)


# --- response and churn models ----------------------------------------------------

#: Feature-table columns that are not model inputs.
NOT_FEATURES = {"branch_id", "region", "province", "gender", "income_band"}


def model_matrix(features: pd.DataFrame) -> pd.DataFrame:
    """Numeric model inputs with gaps filled so every model family can use them.

    No purchase yet or no contact yet reads as "a long time ago" (10 years).
    A choice custom field becomes one 0/1 column per value seen
    (``custom_<key>=<value>``).
    """
    frame = features.drop(columns=[c for c in NOT_FEATURES if c in features])
    choices = [
        c
        for c in frame.columns
        if c.startswith("custom_") and not pd.api.types.is_numeric_dtype(frame[c])
    ]
    if choices:
        dummies = pd.get_dummies(frame[choices], prefix_sep="=", dtype=float)
        frame = pd.concat([frame.drop(columns=choices), dummies], axis=1)
    frame = frame.astype(float)
    never = 3650.0
    for column in ("recency_days", "days_since_contact"):
        if column in frame:
            frame[column] = frame[column].fillna(never)
    frame["is_female"] = (features["gender"] == "F").astype(float)
    return frame.fillna(frame.median()).fillna(0.0)


def _target_rows(
    con, snapshot: dt.date, horizon_days: int, target: str, category: str, cats, custom
) -> pd.DataFrame:
    """Features as of ``snapshot`` with the outcome over the next days."""
    features = loading.feature_frame(con, snapshot, categories=cats, custom=custom)
    end = snapshot + dt.timedelta(days=horizon_days)
    buyers = loading.buyers_between(con, since=snapshot, before=end, category=category)
    if target == ModelTarget.LAPSED:
        features = features[features["frequency"] > 0]
        outcome = ~features.index.isin(list(buyers))
    else:
        outcome = features.index.isin(list(buyers))
    frame = model_matrix(features)
    frame["_y"] = outcome.astype(int)
    frame["_snapshot"] = pd.Timestamp(snapshot)
    return frame


def _check_target(target: str, category: str) -> None:
    if target == ModelTarget.RESPONDED:
        raise ValidationFailed(
            ErrorCode.NO_CAMPAIGN_DATA,
            _(
                "No campaign responses are recorded yet: train on lapsing or "
                "on buying a category instead."
            ),
            field="target",
            value=target,
        )
    if target not in ModelTarget.values:
        raise ValidationFailed(
            ErrorCode.UNKNOWN_TARGET,
            _("Unknown target “%(target)s”.") % {"target": target},
            field="target",
            value=target,
        )
    if target == ModelTarget.BOUGHT_CATEGORY and not category:
        raise ValidationFailed(
            ErrorCode.INVALID,
            _("Name the category the model predicts."),
            field="category",
        )


def _pickled(estimator) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def model_train(
    *,
    target: str,
    as_of: dt.date,
    horizon_days: int = 90,
    category: str = "",
    algorithms: list[str] | None = None,
    custom_fields: bool = False,
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Train response or churn models with a time-based split; store versions.

    Rows are customers at two snapshots: ``as_of`` - 2 x horizon (training)
    and ``as_of`` - horizon (test), each with the outcome over the following
    ``horizon_days``. Nothing is chosen here: see :func:`model_choose`.
    Targets: ``lapsed`` (a buyer buys nothing), ``bought_category`` (buys
    ``category``); ``responded`` needs campaign data, which does not exist yet.
    ``custom_fields`` adds the custom fields as inputs: off by default, since
    they hold today's values, not those of the snapshot dates (a leak).
    """
    _check_target(target, category)
    names = algorithms or [s.name for s in propensity.default_specs()]
    parameters = {
        "target": target,
        "category": category,
        "horizon_days": horizon_days,
        "algorithms": names,
        "custom_fields": custom_fields,
    }
    run = _begin(run, AnalysisKind.TRAIN, as_of, parameters, actor)

    def compute():
        test_at = as_of - dt.timedelta(days=horizon_days)
        train_at = test_at - dt.timedelta(days=horizon_days)
        con = _connection()
        try:
            cats = loading.categories(con)
            rows = pd.concat(
                [
                    _target_rows(
                        con, day, horizon_days, target, category, cats, custom_fields
                    )
                    for day in (train_at, test_at)
                ]
            )
        finally:
            con.disconnect()
        train, test = propensity.time_split(
            rows, date_col="_snapshot", cutoff=pd.Timestamp(test_at)
        )
        inputs = [c for c in rows.columns if not c.startswith("_")]
        # a choice value seen at one snapshot only is absent (0) at the other
        rows[inputs] = rows[inputs].fillna(0.0)
        specs = [s for s in propensity.default_specs() if s.name in names]
        if not specs:
            raise ValueError(_("No known algorithm was named."))
        results = propensity.train_models(
            train[inputs], train["_y"], test[inputs], test["_y"], specs
        )
        metrics = {
            "categories": cats,
            "train_rows": len(train),
            "test_rows": len(test),
            "models": {r.name: r.metrics for r in results},
        }

        def write(run):
            ModelVersion.objects.bulk_create(
                [
                    ModelVersion(
                        run=run,
                        target=target,
                        category=category,
                        horizon_days=horizon_days,
                        algorithm=r.name,
                        params={k: v for k, v in r.params.items() if k != "memory"},
                        metrics=r.metrics,
                        gains=_records(r.gains),
                        calibration=_records(r.calibration),
                        rules=(
                            propensity.tree_rule_data(r.estimator, r.feature_names)[:30]
                            if r.name == "entropy_tree"
                            else []
                        ),
                        feature_names=r.feature_names,
                        estimator=_pickled(r.estimator),
                    )
                    for r in results
                ]
            )
            return len(rows)

        return metrics, write

    return _execute(run, compute, actor)


def model_choose(
    *,
    version: ModelVersion | None = None,
    target: str = "",
    category: str = "",
    metric: str = "auc",
    actor=None,
) -> ModelVersion:
    """Choose the model that scores customers: the one given, or the best by
    ``metric`` among the versions for ``target`` (and ``category``)."""
    _check_actor(actor)
    if version is None:
        candidates = list(ModelVersion.objects.filter(target=target, category=category))
        if not candidates:
            raise ValidationFailed(
                ErrorCode.NO_MODEL,
                _("No model has been trained for this target."),
                field="target",
                value=target,
            )
        sign = -1.0 if metric in propensity.LOWER_IS_BETTER else 1.0
        version = max(candidates, key=lambda v: sign * v.metrics.get(metric, -math.inf))
    with transaction.atomic():
        ModelVersion.objects.filter(
            target=version.target, category=version.category, chosen=True
        ).update(chosen=False)
        version.chosen = True
        version.save(update_fields=["chosen"])
        audit_record(
            actor=actor,
            action="analytics.model_choose",
            obj=version,
            after={
                "target": version.target,
                "category": version.category,
                "algorithm": version.algorithm,
                "metrics": version.metrics,
            },
        )
    return version


def scores_write(
    *,
    target: str,
    as_of: dt.date,
    category: str = "",
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Score every customer with the chosen model for ``target``; store the scores."""
    version = ModelVersion.objects.filter(
        target=target, category=category, chosen=True
    ).first()
    if version is None:
        raise ValidationFailed(
            ErrorCode.NO_MODEL,
            _("No model is chosen for this target: train and choose one first."),
            field="target",
            value=target,
        )
    parameters = {"target": target, "category": category, "model": str(version.uuid)}
    run = _begin(run, AnalysisKind.SCORE, as_of, parameters, actor)

    def compute():
        categories = version.run.metrics.get("categories", [])
        custom = version.run.parameters.get("custom_fields", False)
        frame = model_matrix(_features(as_of, categories=categories, custom=custom))
        if target == ModelTarget.LAPSED:
            frame = frame[frame["frequency"] > 0]
        if frame.empty:
            raise ValueError(_("No customer to score."))
        estimator = joblib.load(io.BytesIO(bytes(version.estimator)))
        # a choice value not seen today has no column: 0 for everyone
        inputs = frame.reindex(columns=version.feature_names, fill_value=0.0)
        score = estimator.predict_proba(inputs)[:, 1]
        metrics = {
            "model": str(version.uuid),
            "algorithm": version.algorithm,
            "mean_score": float(score.mean()),
            "histogram": _histogram(pd.Series(score), bins=10),
        }
        field = version.score_field

        def write(run):
            rows = (
                {"customer_id": int(cid), field: float(s)}
                for cid, s in zip(frame.index, score, strict=True)
            )
            return scores_replace(group=field, rows=rows)

        return metrics, write

    return _execute(run, compute, actor)


# --- association rules ------------------------------------------------------------


def rules_mine(
    *,
    as_of: dt.date,
    level: str = "category",
    basket: str = "customer",
    min_support: float = 0.02,
    min_confidence: float = 0.3,
    algorithm: str = "fpgrowth",
    top_n: int = 3,
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Mine association rules and each customer's next best products.

    ``level`` is category or product; ``basket`` is an order (market basket)
    or a customer (everything they bought before the date).
    """
    if level not in ("category", "product") or basket not in ("customer", "order"):
        raise ValidationFailed(
            ErrorCode.INVALID,
            _("Level must be category or product, basket customer or order."),
            field="level",
            value=level,
        )
    parameters = {
        "level": level,
        "basket": basket,
        "min_support": min_support,
        "min_confidence": min_confidence,
        "algorithm": algorithm,
        "top_n": top_n,
    }
    run = _begin(run, AnalysisKind.RULES, as_of, parameters, actor)

    def compute():
        config = rules_engine.RulesConfig(
            algorithm=algorithm, min_support=min_support, min_confidence=min_confidence
        )
        con = _connection()
        try:
            items = loading.purchased_items(con, before=as_of, level=level)
        finally:
            con.disconnect()
        if items.empty:
            raise ValueError(_("No customer has bought anything before this date."))
        basket_col = "customer_id" if basket == "customer" else "order_id"
        onehot = rules_engine.basket_matrix(
            items, basket_col=basket_col, item_col="item"
        )
        found = rules_engine.mine_rules(onehot, config)
        holdings = items[["customer_id", "item"]].drop_duplicates()
        offers = rules_engine.next_best_products(found, holdings, top_n=top_n)
        metrics = {
            "baskets": len(onehot),
            "items": onehot.shape[1],
            "rules": len(found),
        }

        def write(run):
            AssociationRule.objects.bulk_create(
                (
                    AssociationRule(
                        run=run,
                        antecedents=sorted(map(str, r.antecedents)),
                        consequents=sorted(map(str, r.consequents)),
                        support=float(r.support),
                        confidence=float(r.confidence),
                        lift=float(r.lift),
                        leverage=_float(r.leverage),
                        conviction=_float(r.conviction),
                    )
                    for r in found.itertuples()
                ),
                batch_size=BATCH,
            )
            Recommendation.objects.exclude(run=run).delete()
            Recommendation.objects.bulk_create(
                (
                    Recommendation(
                        run=run,
                        customer_id=int(r.customer_id),
                        rank=int(r.rank),
                        item=str(r.item)[:200],
                        score=float(r.score),
                        confidence=float(r.confidence),
                        lift=float(r.lift),
                        because=sorted(map(str, r.antecedents)),
                    )
                    for r in offers.itertuples()
                ),
                batch_size=BATCH,
            )
            return int(offers["customer_id"].nunique()) if len(offers) else 0

        return metrics, write

    return _execute(run, compute, actor)


# --- rough sets -------------------------------------------------------------------

#: Condition attributes of the retention table, from the feature table.
ROUGH_ATTRIBUTES = {
    "recency": "recency_days",
    "frequency": "frequency",
    "monetary": "monetary",
    "tenure": "tenure_days",
    "online_share": "channel_online",
}
LEVELS = ("low", "mid", "high")


def retention_table(
    features: pd.DataFrame, lapsed: pd.Series, bins: int = 3
) -> pd.DataFrame:
    """Discretised decision table: attributes low/mid/high, complained yes/no."""
    labels = LEVELS if bins == 3 else [str(i + 1) for i in range(bins)]
    table = pd.DataFrame(
        {
            name: rough_engine.discretise(
                features[column].astype(float).fillna(0.0), bins, labels
            )
            for name, column in ROUGH_ATTRIBUTES.items()
        }
    )
    table["complained"] = np.where(features["complaints"] > 0, "yes", "no")
    table["lapsed"] = np.where(lapsed.reindex(features.index), "yes", "no")
    return table


def roughsets_run(
    *,
    as_of: dt.date,
    horizon_days: int = 180,
    bins: int = 3,
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Rough-set rules for lapsing: who certainly or possibly stops buying.

    The table holds the buyers as of ``as_of`` - horizon, their attributes
    discretised, and whether they bought nothing in the following days.
    """
    parameters = {"horizon_days": horizon_days, "bins": bins}
    run = _begin(run, AnalysisKind.ROUGHSETS, as_of, parameters, actor)

    def compute():
        start = as_of - dt.timedelta(days=horizon_days)
        con = _connection()
        try:
            features = loading.feature_frame(con, start, custom=False)
            bought = loading.buyers_between(con, since=start, before=as_of)
        finally:
            con.disconnect()
        features = _buyers(features)
        lapsed = pd.Series(~features.index.isin(list(bought)), index=features.index)
        table = retention_table(features, lapsed, bins)
        conditions = [c for c in table.columns if c != "lapsed"]
        reduct = rough_engine.find_reduct(table, conditions, "lapsed")
        approximation = rough_engine.approximate(table, conditions, "lapsed", "yes")
        found = rough_engine.decision_rules(table, list(reduct), "lapsed")
        metrics = {
            "customers": len(table),
            "lapsed": int(lapsed.sum()),
            "conditions": conditions,
            "reduct": list(reduct),
            "core": list(rough_engine.core(table, conditions, "lapsed")),
            "dependency": rough_engine.dependency_degree(table, conditions, "lapsed"),
            "lower": len(approximation.lower),
            "upper": len(approximation.upper),
            "accuracy": approximation.accuracy,
        }

        def write(run):
            RoughSetRule.objects.bulk_create(
                RoughSetRule(
                    run=run,
                    conditions={a: str(row[a]) for a in reduct},
                    decision=str(row["lapsed"]),
                    support=int(row["support"]),
                    confidence=float(row["confidence"]),
                    coverage=float(row["coverage"]),
                    kind=str(row["kind"]),
                )
                for _i, row in found.iterrows()
            )
            return len(table)

        return metrics, write

    return _execute(run, compute, actor)


# --- offers -----------------------------------------------------------------------

#: Where each customer's chance of taking an offer comes from.
OFFER_SCORES = ("rules", "response", "lookalike")
#: Offer problems up to this many (customer, offer) pairs are also solved exactly.
EXACT_LIMIT = 20_000


def _invalid(message: str, field: str, value=None) -> ValidationFailed:
    return ValidationFailed(ErrorCode.INVALID, message, field=field, value=value)


def _check_offers(offers: Any, budget: Any, score: str) -> None:
    """Every offer named, with a positive cost and a value; a budget; a score."""
    if not isinstance(offers, dict) or not offers:
        raise _invalid(_("Name at least one offer."), "offers")
    for name, terms in offers.items():
        if not str(name).strip() or not isinstance(terms, dict):
            raise _invalid(_("Every offer needs a name."), "offers", name)
        cost, margin = terms.get("cost"), terms.get("margin")
        if not isinstance(cost, int | float) or not cost > 0:
            raise _invalid(
                _("The cost of offer “%(offer)s” must be more than 0.")
                % {"offer": name},
                "cost",
                cost,
            )
        if not isinstance(margin, int | float) or not margin >= 0:
            raise _invalid(
                _("The value per response of offer “%(offer)s” must be 0 or more.")
                % {"offer": name},
                "margin",
                margin,
            )
    if not isinstance(budget, int | float) or not budget >= 0:
        raise _invalid(_("The budget must be 0 or more."), "budget", budget)
    if score not in OFFER_SCORES:
        raise _invalid(
            _("Unknown score “%(score)s”.") % {"score": score}, "score", score
        )


def _offer_probability(offers: dict, score: str) -> pd.DataFrame:
    """Customers x offers: each customer's chance of taking each offer.

    ``rules``: the confidence of the customer's next-best-product
    recommendation for the offer's item (0 without one); ``response`` and
    ``lookalike``: the customer's stored score, the same for every offer
    (offers are then variants of one proposition, such as a coupon or a
    sample).
    """
    names = list(offers)
    if score == "rules":
        rows = Recommendation.objects.filter(run__is_current=True, item__in=names)
        frame = pd.DataFrame(list(rows.values("customer_id", "item", "confidence")))
        if frame.empty:
            raise ValueError(_("No recommendation matches these offers: mine rules."))
        return (
            frame.pivot_table(
                index="customer_id", columns="item", values="confidence", aggfunc="max"
            )
            .reindex(columns=names)
            .fillna(0.0)
        )
    column = f"{score}_score"
    rows = CustomerScore.objects.filter(
        **{f"{column}__isnull": False}, customer__merged_into__isnull=True
    ).values_list("customer_id", column)
    chance = pd.Series(dict(rows.iterator()), dtype=float)
    if chance.empty:
        raise ValueError(_("No customer has this score yet: compute it first."))
    return pd.DataFrame({name: chance for name in names})


def _offer_counts(genes: np.ndarray, problem: offer_engine.OfferProblem) -> list[int]:
    return np.bincount(genes, minlength=len(problem.offers) + 1)[1:].tolist()


def _offer_metrics(problem, budget: float, solutions: dict) -> dict[str, Any]:
    """Expected profit and spend of each solution, and offers made per offer."""
    metrics: dict[str, Any] = {"customers": len(problem.customers), "budget": budget}
    for name, found in solutions.items():
        metrics[name] = {
            "profit": found.expected_profit,
            "spent": found.spent,
            "offers": _offer_counts(found.genes, problem),
        }
    metrics["offers"] = [str(o) for o in problem.offers]
    return metrics


def offers_allocate(
    *,
    as_of: dt.date,
    offers: dict[str, dict[str, float]],
    budget: float,
    score: str = "rules",
    generations: int = 400,
    seed: int = 0,
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Give each customer at most one offer within the budget (genetic algorithm).

    ``offers`` maps an offer to its ``cost`` (per offer made) and ``margin``
    (value per response); ``score`` says where the chance of a response
    comes from (:func:`_offer_probability`). Only customers for whom some
    offer is worth more than it costs take part: the others never get one.
    The greedy and (for small problems) exact solutions of the same input
    are stored beside the GA's in the metrics; the GA's assignment is stored
    per customer and replaces that of earlier runs.
    """
    _check_offers(offers, budget, score)
    parameters = {
        "offers": offers,
        "budget": budget,
        "score": score,
        "generations": generations,
        "seed": seed,
    }
    run = _begin(run, AnalysisKind.OFFERS, as_of, parameters, actor)

    def compute():
        probability = _offer_probability(offers, score)
        margin = pd.Series({k: float(v["margin"]) for k, v in offers.items()})
        cost = pd.Series({k: float(v["cost"]) for k, v in offers.items()})
        worth = (probability * margin - cost).max(axis=1) > 0
        if not worth.any():
            raise ValueError(_("No offer is worth its cost for any customer."))
        problem = offer_engine.offer_problem(probability[worth], margin, cost, budget)
        solutions = {
            "genetic": offer_engine.genetic_assignment(
                problem, offer_engine.GAConfig(generations=generations, seed=seed)
            ),
            "greedy": offer_engine.greedy_assignment(problem),
        }
        if problem.profit.size <= EXACT_LIMIT:
            solutions["exact"] = offer_engine.exact_assignment(problem)
        metrics = _offer_metrics(problem, budget, solutions)
        genes = solutions["genetic"].genes

        def write(run):
            OfferAssignment.objects.exclude(run=run).delete()
            chosen = np.flatnonzero(genes)
            OfferAssignment.objects.bulk_create(
                (
                    OfferAssignment(
                        run=run,
                        customer_id=int(problem.customers[i]),
                        offer=str(problem.offers[genes[i] - 1])[:100],
                        expected_profit=_money(problem.profit[i, genes[i] - 1])
                        or Decimal(0),
                    )
                    for i in chosen
                ),
                batch_size=BATCH,
            )
            return len(chosen)

        return metrics, write

    return _execute(run, compute, actor)


# --- look-alikes ------------------------------------------------------------------

LOOKALIKE_METHODS = ("model", "neighbours")
#: Fewer buyers than this cannot be cross-validated into a useful model.
MIN_BUYERS = 10


def _check_lookalike(item: str, level: str, method: str) -> None:
    if not str(item).strip():
        raise _invalid(_("Name the product or category."), "item", item)
    if level not in ("category", "product"):
        raise _invalid(_("Level must be category or product."), "level", level)
    if method not in LOOKALIKE_METHODS:
        raise _invalid(
            _("Unknown method “%(method)s”.") % {"method": method}, "method", method
        )


def lookalike_matrix(features: pd.DataFrame, item: str, level: str) -> pd.DataFrame:
    """Model inputs without the item's own category share, which would give
    the buyers away (only they have it above 0)."""
    matrix = model_matrix(features)
    if level == "category":
        matrix = matrix.drop(columns=[f"category_{item}"], errors="ignore")
    return matrix


def lookalike_score(
    *,
    as_of: dt.date,
    item: str,
    level: str = "category",
    method: str = "model",
    actor=None,
    run: AnalysisRun | None = None,
) -> AnalysisRun:
    """Score the customers who have not bought ``item`` by their likeness to
    those who have (``engines.propensity.lookalike_all``), with the custom
    fields among the inputs; store the scores (``lookalike_score``, usable
    in segments) and the gains of the out-of-fold scores of everyone."""
    _check_lookalike(item, level, method)
    parameters = {"item": item, "level": level, "method": method}
    run = _begin(run, AnalysisKind.LOOKALIKE, as_of, parameters, actor)

    def compute():
        con = _connection()
        try:
            cats = loading.categories(con)
            features = loading.feature_frame(con, as_of, categories=cats, custom=True)
            buyers = loading.item_buyers(con, before=as_of, item=item, level=level)
        finally:
            con.disconnect()
        matrix = lookalike_matrix(features, item, level)
        bought = pd.Series(matrix.index.isin(list(buyers)), index=matrix.index)
        if bought.sum() < MIN_BUYERS:
            raise ValueError(
                _("Fewer than %(n)d customers bought “%(item)s” before this date.")
                % {"n": MIN_BUYERS, "item": item}
            )
        if bought.all():
            raise ValueError(
                _("Every customer has bought it: nobody is left to score.")
            )
        config = propensity.LookalikeConfig(method=method)
        everyone = propensity.lookalike_all(matrix, bought, config)
        scores = everyone[~bought.to_numpy()]
        metrics = {
            **propensity.evaluate(bought, everyone),
            "buyers": int(bought.sum()),
            "scored": len(scores),
            "gains": _records(propensity.gains_table(bought, everyone)),
            "histogram": _histogram(scores, bins=10),
        }

        def write(run):
            rows = (
                {"customer_id": int(cid), "lookalike_score": float(value)}
                for cid, value in scores.items()
            )
            return scores_replace(group="lookalike_score", rows=rows)

        return metrics, write

    return _execute(run, compute, actor)


# --- background runs --------------------------------------------------------------

#: The service each kind of run calls with the run's parameters.
RUNNERS: dict[str, Callable[..., AnalysisRun]] = {
    AnalysisKind.RFM: analysis_run_rfm,
    AnalysisKind.VALUE: analysis_run_value,
    AnalysisKind.CLV: analysis_run_clv,
    AnalysisKind.CLUSTER: analysis_run_cluster,
    AnalysisKind.TRAIN: model_train,
    AnalysisKind.SCORE: scores_write,
    AnalysisKind.RULES: rules_mine,
    AnalysisKind.ROUGHSETS: roughsets_run,
    AnalysisKind.OFFERS: offers_allocate,
    AnalysisKind.LOOKALIKE: lookalike_score,
}


def _check_parameters(kind: str, parameters: dict[str, Any]) -> None:
    """Refuse a run's parameters before it is queued, not in the worker."""
    if kind == AnalysisKind.TRAIN:
        _check_target(parameters.get("target", ""), parameters.get("category", ""))
    elif kind == AnalysisKind.OFFERS:
        _check_offers(
            parameters.get("offers"),
            parameters.get("budget"),
            parameters.get("score", "rules"),
        )
    elif kind == AnalysisKind.LOOKALIKE:
        _check_lookalike(
            parameters.get("item", ""),
            parameters.get("level", "category"),
            parameters.get("method", "model"),
        )


def analysis_enqueue(
    *, kind: str, as_of: dt.date, parameters: dict[str, Any] | None = None, actor
) -> AnalysisRun:
    """Queue a run for the background worker; it starts once this commits."""
    from clientbook.analytics.tasks import analysis_task

    if kind not in RUNNERS:
        raise ValidationFailed(
            ErrorCode.UNKNOWN_KIND,
            _("Unknown analysis “%(kind)s”.") % {"kind": kind},
            field="kind",
            value=kind,
        )
    parameters = parameters or {}
    _check_parameters(kind, parameters)
    with transaction.atomic():
        run = run_create(
            kind=kind,
            as_of=as_of,
            parameters=parameters,
            actor=actor,
            status=RunStatus.QUEUED,
        )
        audit_record(
            actor=actor,
            action="analytics.enqueue",
            obj=run,
            after={"kind": kind, "as_of": as_of.isoformat(), "parameters": parameters},
        )
        transaction.on_commit(lambda: analysis_task.enqueue(run.pk))
    return run


def analysis_execute(*, run: AnalysisRun) -> AnalysisRun:
    """Run a queued run (the worker calls this); a finished run is left alone."""
    if run.status in (RunStatus.DONE, RunStatus.FAILED):
        return run
    runner = RUNNERS[run.kind]
    try:
        return runner(
            as_of=run.as_of, actor=run.requested_by, run=run, **run.parameters
        )
    except ClientbookError as exc:
        _fail(run, exc)
        return run
