"""The analytics pages: overview and runs, RFM, value, lifetime value, clusters,
models, association and rough-set rules, and lists of scored customers.

Views read with selectors and start runs through ``analysis_enqueue``; the
charts are Chart.js configurations built here and handed to the page with
``json_script`` (the library is served from this app's static files).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from clientbook.analytics import selectors
from clientbook.analytics.models import (
    AnalysisKind,
    ModelTarget,
    ModelVersion,
    RunStatus,
)
from clientbook.errors import ClientbookError
from clientbook.org.access import can_write

PAGE_SIZE = 50
TOP = 20

# Charts -------------------------------------------------------------------------


def _chart(kind: str, labels, datasets, **options) -> dict[str, Any]:
    return {
        "type": kind,
        "data": {"labels": list(labels), "datasets": datasets},
        "options": {"responsive": True, "animation": False, **options},
    }


def _axes(x: str, y: str) -> dict[str, Any]:
    return {
        "scales": {
            "x": {"title": {"display": True, "text": x}},
            "y": {"title": {"display": True, "text": y}, "beginAtZero": True},
        }
    }


def pareto_chart(run) -> dict[str, Any]:
    """Cumulative share of profit by share of customers, the 20% point marked."""
    points = run.metrics.get("pareto", [])
    top20 = run.metrics.get("top20_share", 0.0)
    return _chart(
        "line",
        [f"{round(x * 100)}%" for x, _ in points],
        [
            {
                "label": _("Share of profit"),
                "data": [round(y * 100, 2) for _, y in points],
                "pointRadius": [6 if abs(x - 0.2) < 1e-9 else 0 for x, _ in points],
                "borderColor": "#2563eb",
            },
            {
                "label": _("Top 20%% of customers bring %(share).0f%% of profit")
                % {"share": top20 * 100},
                "data": [
                    round(top20 * 100, 2) if x <= 0.2 + 1e-9 else None
                    for x, _ in points
                ],
                "borderColor": "#dc2626",
                "borderDash": [4, 4],
                "pointRadius": 0,
            },
        ],
        **_axes(_("Customers, most profitable first"), _("Share of profit (%)")),
    )


def histogram_chart(bins: list[dict], label: str, x: str) -> dict[str, Any]:
    return _chart(
        "bar",
        [f"{b['from']:,.0f}–{b['to']:,.0f}" for b in bins],
        [{"label": label, "data": [b["customers"] for b in bins]}],
        **_axes(x, _("Customers")),
    )


def calibration_chart(rows: list[dict]) -> dict[str, Any]:
    """Mean predicted vs actual holdout purchases by calibration frequency."""
    return _chart(
        "line",
        [str(r["frequency"]) for r in rows],
        [
            {"label": _("Actual"), "data": [r["actual"] for r in rows]},
            {
                "label": _("Predicted (BG/NBD)"),
                "data": [r["predicted"] for r in rows],
                "borderDash": [4, 4],
            },
        ],
        **_axes(
            _("Repeat purchases in the calibration period"),
            _("Mean purchases in the holdout"),
        ),
    )


def gains_chart(version: ModelVersion) -> dict[str, Any]:
    """Cumulative gains by decile against the random line, and lift bars."""
    gains = version.gains
    labels = [str(g["group"]) for g in gains]
    return _chart(
        "bar",
        labels,
        [
            {
                "type": "line",
                "label": _("Cumulative gain (%)"),
                "data": [round(g["cumulative_gain"] * 100, 1) for g in gains],
                "yAxisID": "y",
            },
            {
                "type": "line",
                "label": _("Random"),
                "data": [(i + 1) * 100 / len(gains) for i in range(len(gains))],
                "borderDash": [4, 4],
                "yAxisID": "y",
            },
            {
                "label": _("Lift"),
                "data": [g["lift"] for g in gains],
                "yAxisID": "lift",
            },
        ],
        scales={
            "x": {"title": {"display": True, "text": _("Decile (best scores first)")}},
            "y": {"beginAtZero": True, "max": 100, "position": "left"},
            "lift": {"beginAtZero": True, "position": "right"},
        },
    )


# Starting runs ------------------------------------------------------------------


class StartForm(forms.Form):
    """What to run and with which settings; fields a kind does not use are ignored."""

    kind = forms.ChoiceField(label=gettext_lazy("Analysis"), choices=AnalysisKind)
    as_of = forms.DateField(label=gettext_lazy("As of"), required=False)
    bins = forms.IntegerField(min_value=2, max_value=10, required=False)
    horizon = forms.IntegerField(min_value=1, max_value=120, required=False)
    discount = forms.FloatField(min_value=0, max_value=0.99, required=False)
    k = forms.IntegerField(min_value=2, max_value=20, required=False)
    target = forms.ChoiceField(choices=ModelTarget, required=False)
    category = forms.CharField(max_length=100, required=False)
    horizon_days = forms.IntegerField(min_value=7, max_value=730, required=False)
    level = forms.ChoiceField(
        choices=[("category", "category"), ("product", "product")], required=False
    )
    min_support = forms.FloatField(min_value=0.0001, max_value=1, required=False)
    min_confidence = forms.FloatField(min_value=0, max_value=1, required=False)

    #: the form fields each kind passes on to its service
    USES = {
        AnalysisKind.RFM: ["bins"],
        AnalysisKind.CLV: ["horizon", "discount"],
        AnalysisKind.CLUSTER: ["k"],
        AnalysisKind.TRAIN: ["target", "category", "horizon_days"],
        AnalysisKind.SCORE: ["target", "category"],
        AnalysisKind.RULES: ["level", "min_support", "min_confidence"],
        AnalysisKind.ROUGHSETS: ["horizon_days"],
    }

    def parameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: data[name]
            for name in self.USES.get(data["kind"], [])
            if data.get(name) not in (None, "")
        }


class _Services:
    """The analytics services, imported on first use: they load scikit-learn,
    mlxtend and SciPy, which every command and test would otherwise pay for."""

    def __getattr__(self, name):
        from clientbook.analytics import services as module

        return getattr(module, name)


services = _Services()


@login_required
@require_POST
def start(request):
    form = StartForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The analysis settings are invalid."))
        return redirect("analytics:home")
    as_of = form.cleaned_data["as_of"] or timezone.localdate()
    try:
        run = services.analysis_enqueue(
            kind=form.cleaned_data["kind"],
            as_of=as_of,
            parameters=form.parameters(),
            actor=request.user,
        )
    except ClientbookError as exc:
        return _refused(request, exc)
    messages.success(
        request,
        _("%(kind)s is queued; the worker will run it.")
        % {"kind": run.get_kind_display()},
    )
    return redirect("analytics:home")


def _refused(request, exc: ClientbookError) -> HttpResponse:
    context = {"message": exc.message, "back_url": "/analytics/"}
    return render(request, "web/error.html", context, status=exc.status)


# Pages --------------------------------------------------------------------------


def _page(request, template: str, kind: str, **context) -> HttpResponse:
    context.setdefault("run", selectors.run_current(kind))
    context["section"] = kind
    context["writable"] = can_write(request.user)
    return render(request, template, context)


@login_required
def home(request):
    runs = list(selectors.run_list())
    context = {
        "current": selectors.runs_current(),
        "runs": runs,
        "busy": any(r.status in (RunStatus.QUEUED, RunStatus.RUNNING) for r in runs),
        "form": StartForm(initial={"as_of": timezone.localdate()}),
        "kinds": AnalysisKind.choices,
        "targets": ModelTarget.choices,
        "section": "home",
        "writable": can_write(request.user),
    }
    if request.htmx:
        return render(request, "analytics/_runs.html", context)
    return render(request, "analytics/home.html", context)


@login_required
def rfm(request):
    run = selectors.run_current(AnalysisKind.RFM)
    context: dict[str, Any] = {"run": run}
    if run:
        context["grid"] = selectors.rfm_grid(run)
        context["cells"] = selectors.rfm_cells_summary(run)
    return _page(request, "analytics/rfm.html", AnalysisKind.RFM, **context)


@login_required
def value(request):
    run = selectors.run_current(AnalysisKind.VALUE)
    context: dict[str, Any] = {"run": run}
    if run:
        context["pareto"] = pareto_chart(run)
        context["tiers"] = selectors.tier_summary(run)
        context["top"] = selectors.scored_customers(user=request.user, order="profit")[
            :TOP
        ]
    return _page(request, "analytics/value.html", AnalysisKind.VALUE, **context)


@login_required
def clv(request):
    run = selectors.run_current(AnalysisKind.CLV)
    context: dict[str, Any] = {"run": run}
    if run:
        context["histogram"] = histogram_chart(
            run.metrics.get("histogram", []), _("Customers"), _("Lifetime value (¥)")
        )
        context["calibration"] = calibration_chart(run.metrics.get("calibration", []))
        context["top"] = selectors.scored_customers(user=request.user, order="clv")[
            :TOP
        ]
    return _page(request, "analytics/clv.html", AnalysisKind.CLV, **context)


@login_required
def clusters(request):
    run = selectors.run_current(AnalysisKind.CLUSTER)
    context: dict[str, Any] = {"run": run}
    if run:
        context["profiles"] = selectors.cluster_profiles(run)
    return _page(request, "analytics/clusters.html", AnalysisKind.CLUSTER, **context)


@login_required
def models(request):
    versions = list(selectors.model_list())
    context = {
        "versions": [
            {"version": v, "chart": gains_chart(v), "chart_id": f"gains-{v.pk}"}
            for v in versions
        ],
        "scores": selectors.run_current(AnalysisKind.SCORE),
    }
    return _page(request, "analytics/models.html", AnalysisKind.TRAIN, **context)


@login_required
@require_POST
def choose(request, uuid):
    version = ModelVersion.objects.defer("estimator").filter(uuid=uuid).first()
    if version is None:
        raise Http404(_("No such model."))
    try:
        services.model_choose(version=version, actor=request.user)
    except ClientbookError as exc:
        return _refused(request, exc)
    messages.success(request, _("The model is chosen; score the customers with it."))
    return redirect("analytics:models")


@login_required
def rules(request):
    run = selectors.run_current(AnalysisKind.RULES)
    context: dict[str, Any] = {"run": run}
    if run:
        context["rules"] = selectors.association_rules(run)
    return _page(request, "analytics/rules.html", AnalysisKind.RULES, **context)


@login_required
def roughsets(request):
    run = selectors.run_current(AnalysisKind.ROUGHSETS)
    context: dict[str, Any] = {"run": run}
    if run:
        context["rules"] = selectors.roughset_rules(run)
    return _page(request, "analytics/roughsets.html", AnalysisKind.ROUGHSETS, **context)


@login_required
def customers(request):
    """Scored customers the user may see, filtered by cell, tier or cluster."""
    filters = {name: request.GET.get(name, "") for name in selectors.SCORE_FILTERS}
    order = request.GET.get("order", "clv")
    queryset = selectors.scored_customers(
        user=request.user, order=order, filters=filters
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "order": order,
        "orders": list(selectors.SCORE_ORDERS),
        "section": "customers",
    }
    return render(request, "analytics/customers.html", context)
