"""/api/v1/analytics: the latest results, per-customer scores, and starting runs.

Thin: read with selectors, start with ``analysis_enqueue`` (202: the worker
runs it), serialise. Company-wide results come from the current run of each
kind; 404 ``not_computed`` when there is none yet.
"""

import datetime as dt
import uuid as uuid_lib
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from clientbook.analytics import selectors, wording
from clientbook.analytics.models import AnalysisKind, AnalysisRun
from clientbook.customers.api import customer_or_404
from clientbook.errors import NotFound


class _Services:
    """The analytics services, imported on first use: they load scikit-learn,
    mlxtend and SciPy, which every command and test would otherwise pay for."""

    def __getattr__(self, name):
        from clientbook.analytics import services as module

        return getattr(module, name)


services = _Services()

router = Router(tags=["analytics"])


class RunIn(Schema):
    kind: str
    as_of: dt.date | None = None
    parameters: dict[str, Any] = {}


class RunOut(Schema):
    uuid: uuid_lib.UUID
    kind: str
    status: str
    as_of: dt.date
    parameters: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    customers: int
    is_current: bool
    error: str


class ResultOut(Schema):
    run: RunOut
    result: dict[str, Any]


def _current(kind: str) -> AnalysisRun:
    run = selectors.run_current(kind)
    if run is None:
        raise NotFound(
            "not_computed", _("This analysis has not been run yet."), value=kind
        )
    return run


def _result(run: AnalysisRun, **result) -> dict[str, Any]:
    return {"run": run, "result": result}


def _labelled(rows: list[dict]) -> list[dict]:
    return [{**r, "label": str(r["label"])} for r in rows]


@router.get("/runs", response=list[RunOut])
def runs(request):
    return list(selectors.run_list(limit=50))


@router.post("/runs", response={202: RunOut})
def run_start(request, payload: RunIn):
    run = services.analysis_enqueue(
        kind=payload.kind,
        as_of=payload.as_of or timezone.localdate(),
        parameters=payload.parameters,
        actor=request.user,
    )
    return Status(202, run)


@router.get("/runs/{uuid}", response=RunOut)
def run_get(request, uuid: uuid_lib.UUID):
    run = AnalysisRun.objects.filter(uuid=uuid).first()
    if run is None:
        raise NotFound("not_found", _("No such run."), value=str(uuid))
    return run


@router.get("/rfm", response=ResultOut)
def rfm(request):
    run = _current(AnalysisKind.RFM)
    grid = selectors.rfm_grid(run)
    for row in grid["rows"]:
        for cell in row["cells"]:
            cell["label"] = str(cell["label"])
    return _result(run, grid=grid, cells=_labelled(selectors.rfm_cells_summary(run)))


@router.get("/value", response=ResultOut)
def value(request):
    run = _current(AnalysisKind.VALUE)
    return _result(
        run,
        top20_share=run.metrics["top20_share"],
        pareto=run.metrics["pareto"],
        tiers=_labelled(selectors.tier_summary(run)),
        thresholds=run.metrics["thresholds"],
    )


@router.get("/clv", response=ResultOut)
def clv(request):
    run = _current(AnalysisKind.CLV)
    return _result(run, **run.metrics)


@router.get("/clusters", response=ResultOut)
def clusters(request):
    run = _current(AnalysisKind.CLUSTER)
    profiles = [
        {
            "cluster": p["profile"].cluster,
            "customers": p["profile"].customers,
            "share": p["profile"].share,
            "value": str(p["profile"].value),
            "description": p["description"],
            "traits": p["profile"].traits,
        }
        for p in selectors.cluster_profiles(run)
    ]
    return _result(run, k=run.metrics["k"], profiles=profiles)


@router.get("/models")
def models(request):
    """Versions with their tree rules as data and worded in the request's language."""
    versions = list(selectors.model_list())
    custom = wording.custom_field_labels()
    return [
        {
            "uuid": str(v.uuid),
            "target": v.target,
            "category": v.category,
            "horizon_days": v.horizon_days,
            "algorithm": v.algorithm,
            "algorithm_label": wording.algorithm_label(v.algorithm),
            "metrics": v.metrics,
            "gains": v.gains,
            "rules": v.rules,
            "rules_text": [
                wording.tree_rule(
                    r, wording.outcome_label(v.target, v.category), custom
                )
                for r in v.rules
            ],
            "chosen": v.chosen,
            "created_at": v.created_at.isoformat(),
        }
        for v in versions
    ]


@router.get("/rules", response=ResultOut)
def rules(request):
    run = _current(AnalysisKind.RULES)
    found = [
        {
            "antecedents": r.antecedents,
            "consequents": r.consequents,
            "support": r.support,
            "confidence": r.confidence,
            "lift": r.lift,
        }
        for r in selectors.association_rules(run)
    ]
    return _result(run, rules=found)


@router.get("/roughsets", response=ResultOut)
def roughsets(request):
    run = _current(AnalysisKind.ROUGHSETS)
    found = [
        {
            "conditions": r.conditions,
            "conditions_text": wording.rough_conditions(r.conditions),
            "decision": r.decision,
            "kind": r.kind,
            "support": r.support,
            "confidence": r.confidence,
            "coverage": r.coverage,
        }
        for r in selectors.roughset_rules(run)
    ]
    return _result(run, **run.metrics, rules=found)


def _customer_ref(customer) -> dict[str, Any]:
    return {
        "customer": str(customer.uuid),
        "name": customer.name,
        "branch": customer.branch.code if customer.branch else None,
    }


@router.get("/offers", response=ResultOut)
def offers(request, limit: int = 50):
    """The current allocation: GA against greedy (and exact), offers per
    offer, and the customers the user may see with their offer."""
    run = _current(AnalysisKind.OFFERS)
    assignments = selectors.offer_assignments(
        run, user=request.user, limit=max(1, min(limit, 1000))
    )
    return _result(
        run,
        **run.metrics,
        summary=selectors.offer_summary(run),
        assignments=[
            {
                **_customer_ref(a.customer),
                "offer": a.offer,
                "expected_profit": str(a.expected_profit),
            }
            for a in assignments
        ],
    )


@router.get("/lookalikes", response=ResultOut)
def lookalikes(request, limit: int = 50):
    """The current look-alike run and its best-scored customers."""
    run = _current(AnalysisKind.LOOKALIKE)
    top = selectors.scored_customers(user=request.user, order="lookalike")
    return _result(
        run,
        **run.parameters,
        **run.metrics,
        customers=[
            {**_customer_ref(s.customer), "score": s.lookalike_score}
            for s in top[: max(1, min(limit, 1000))]
        ],
    )


@router.get("/customers/{uuid}/scores")
def customer_scores(request, uuid: uuid_lib.UUID):
    customer = customer_or_404(request, uuid)
    return selectors.customer_scores_payload(customer)


@router.get("/top-customers")
def top_customers(request, order: str = "clv", limit: int = 20):
    scores = selectors.scored_customers(user=request.user, order=order)[
        : max(1, min(limit, 200))
    ]
    return [
        {
            "customer": str(s.customer.uuid),
            "name": s.customer.name,
            "branch": s.customer.branch.code if s.customer.branch else None,
            "rfm_cell": s.rfm_cell,
            "value_tier": s.value_tier,
            "profit": s.profit,
            "clv": s.clv,
            "p_alive": s.p_alive,
            "churn_score": s.churn_score,
        }
        for s in scores
    ]
