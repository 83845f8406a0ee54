"""The analytics pages: overview and runs, RFM, value, lifetime value, clusters,
models, association and rough-set rules, look-alikes, offer allocation, and
lists of scored customers.

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

from clientbook.analytics import selectors, wording
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

#: The orderings of the scored customers list, as the reader names them.
ORDER_LABELS = {
    "clv": gettext_lazy("Lifetime value"),
    "profit": gettext_lazy("Profit"),
    "churn": gettext_lazy("Churn score"),
    "response": gettext_lazy("Response score"),
    "monetary": gettext_lazy("Net sales"),
    "lookalike": gettext_lazy("Look-alike score"),
}

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


def gains_chart(gains: list[dict]) -> dict[str, Any]:
    """Cumulative gains by decile against the random line, and lift bars."""
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
    #: kinds started from their own page (they need a list of offers, an item)
    OWN_PAGE = (AnalysisKind.OFFERS, AnalysisKind.LOOKALIKE)
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
        "kinds": [
            (k, label)
            for k, label in AnalysisKind.choices
            if k not in StartForm.OWN_PAGE
        ],
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


def _worded_rules(versions: list[ModelVersion]) -> dict[int, list[str]]:
    """Each version's tree rules in the reader's language."""
    features = {
        c["feature"]
        for v in versions
        for r in v.rules
        if isinstance(r, dict)
        for c in r["conditions"]
    }
    custom = (
        wording.custom_field_labels()
        if any(f.startswith("custom_") for f in features)
        else {}
    )
    return {
        v.pk: [
            wording.tree_rule(r, wording.outcome_label(v.target, v.category), custom)
            for r in v.rules
        ]
        for v in versions
    }


@login_required
def models(request):
    versions = list(selectors.model_list())
    rules = _worded_rules(versions)
    context = {
        "versions": [
            {
                "version": v,
                "chart": gains_chart(v.gains),
                "chart_id": f"gains-{v.pk}",
                "rules": rules[v.pk],
            }
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
        context["rules"] = [
            {"rule": r, "conditions": wording.rough_conditions(r.conditions)}
            for r in selectors.roughset_rules(run)
        ]
        context["reduct"] = wording.join(
            wording.rough_attribute(a) for a in run.metrics.get("reduct", [])
        )
        context["core"] = wording.join(
            wording.rough_attribute(a) for a in run.metrics.get("core", [])
        )
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
        "orders": [(o, ORDER_LABELS.get(o, o)) for o in selectors.SCORE_ORDERS],
        "section": "customers",
    }
    return render(request, "analytics/customers.html", context)


# Offer allocation ---------------------------------------------------------------

OFFER_ROWS = 5
SOLUTION_LABELS = {
    "genetic": gettext_lazy("Genetic algorithm"),
    "greedy": gettext_lazy("Greedy (profit per unit of cost)"),
    "exact": gettext_lazy("Exact optimum (integer programming)"),
}


class OfferForm(forms.Form):
    """Up to five offers (name, cost, value per response), a budget and a score."""

    as_of = forms.DateField(label=gettext_lazy("As of"), required=False)
    budget = forms.FloatField(label=gettext_lazy("Budget (¥)"), min_value=0)
    score = forms.ChoiceField(
        label=gettext_lazy("Chance of a response from"),
        choices=list(wording.OFFER_SCORES.items()),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i in range(OFFER_ROWS):
            self.fields[f"offer_{i}"] = forms.CharField(
                label=gettext_lazy("Offer"), max_length=100, required=False
            )
            self.fields[f"cost_{i}"] = forms.FloatField(
                label=gettext_lazy("Cost per offer (¥)"), required=False
            )
            self.fields[f"value_{i}"] = forms.FloatField(
                label=gettext_lazy("Value per response (¥)"), required=False
            )

    def rows(self) -> list[dict[str, Any]]:
        """The bound fields of each offer row, for the template."""
        return [
            {
                "offer": self[f"offer_{i}"],
                "cost": self[f"cost_{i}"],
                "value": self[f"value_{i}"],
            }
            for i in range(OFFER_ROWS)
        ]

    def clean(self):
        data = super().clean()
        offers = {}
        for i in range(OFFER_ROWS):
            name = (data.get(f"offer_{i}") or "").strip()
            if not name:
                continue
            cost, value = data.get(f"cost_{i}"), data.get(f"value_{i}")
            if cost is None or cost <= 0:
                self.add_error(f"cost_{i}", _("The cost must be more than 0."))
            if value is None or value < 0:
                self.add_error(f"value_{i}", _("The value must be 0 or more."))
            offers[name] = {"cost": cost, "margin": value}
        if not offers:
            raise forms.ValidationError(_("Name at least one offer."))
        data["offers"] = offers
        return data

    def parameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "offers": data["offers"],
            "budget": data["budget"],
            "score": data["score"],
        }


def _offer_initial(run) -> dict[str, Any]:
    """The last allocation's settings, so a re-run starts from them."""
    initial: dict[str, Any] = {"as_of": timezone.localdate(), "score": "rules"}
    if run is None:
        return initial
    parameters = run.parameters
    initial |= {
        "budget": parameters.get("budget"),
        "score": parameters.get("score", "rules"),
    }
    for i, (name, terms) in enumerate(
        list(parameters.get("offers", {}).items())[:OFFER_ROWS]
    ):
        initial |= {
            f"offer_{i}": name,
            f"cost_{i}": terms["cost"],
            f"value_{i}": terms["margin"],
        }
    return initial


def _start(request, form, kind: str) -> bool:
    """Queue the run the form describes; a refusal of the input goes onto the
    form, a refusal of the user (403) to the caller."""
    try:
        services.analysis_enqueue(
            kind=kind,
            as_of=form.cleaned_data.get("as_of") or timezone.localdate(),
            parameters=form.parameters(),
            actor=request.user,
        )
    except ClientbookError as exc:
        if exc.status == 403:
            raise
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return False
    return True


def _queue_posted(request, form, kind: str, queued: str, url: str):
    """A posted start form: the redirect once the run is queued, the
    refusal page for a user who may not, None to show the form's errors."""
    try:
        started = form.is_valid() and _start(request, form, kind)
    except ClientbookError as exc:
        return _refused(request, exc)
    if not started:
        return None
    messages.success(request, queued)
    return redirect(url)


def _run_page(request, template: str, kind: str, form, **context) -> HttpResponse:
    """A page with its own start form: the current result and the latest run."""
    latest = selectors.run_latest(kind)
    context |= {
        "form": form,
        "latest": latest,
        "busy": latest is not None
        and latest.status in (RunStatus.QUEUED, RunStatus.RUNNING),
    }
    return _page(request, template, kind, **context)


@login_required
def offers(request):
    """Offers, budget and score in; GA against greedy (and the optimum) out."""
    run = selectors.run_current(AnalysisKind.OFFERS)
    if request.method == "POST":
        form = OfferForm(request.POST)
        done = _queue_posted(
            request,
            form,
            AnalysisKind.OFFERS,
            _("The allocation is queued; the worker will run it."),
            "analytics:offers",
        )
        if done:
            return done
    else:
        form = OfferForm(initial=_offer_initial(run))
    context: dict[str, Any] = {"run": run, "items": selectors.item_choices()}
    if run:
        context["summary"] = selectors.offer_summary(run)
        context["solutions"] = [
            {**row, "label": SOLUTION_LABELS[row["key"]]}
            for row in selectors.offer_solutions(run)
        ]
        context["sample"] = selectors.offer_assignments(run, user=request.user)
        context["score_label"] = wording.offer_score_label(
            run.parameters.get("score", "rules")
        )
    return _run_page(
        request, "analytics/offers.html", AnalysisKind.OFFERS, form, **context
    )


# Look-alikes ----------------------------------------------------------------------


class LookalikeForm(forms.Form):
    """The product or category whose buyers the look-alikes resemble."""

    as_of = forms.DateField(label=gettext_lazy("As of"), required=False)
    item = forms.CharField(label=gettext_lazy("Product or category"), max_length=200)
    level = forms.ChoiceField(
        label=gettext_lazy("It is a"),
        choices=[
            ("category", gettext_lazy("category")),
            ("product", gettext_lazy("product")),
        ],
    )
    method = forms.ChoiceField(
        label=gettext_lazy("Method"),
        choices=[
            ("model", gettext_lazy("Model (gradient boosting, out of fold)")),
            ("neighbours", gettext_lazy("Nearest buyers (cosine similarity)")),
        ],
    )

    def parameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "item": data["item"].strip(),
            "level": data["level"],
            "method": data["method"],
        }


@login_required
def lookalikes(request):
    """Customers who resemble an item's buyers but have not bought it."""
    run = selectors.run_current(AnalysisKind.LOOKALIKE)
    if request.method == "POST":
        form = LookalikeForm(request.POST)
        done = _queue_posted(
            request,
            form,
            AnalysisKind.LOOKALIKE,
            _("The look-alike scoring is queued; the worker will run it."),
            "analytics:lookalikes",
        )
        if done:
            return done
    else:
        initial = {
            "as_of": timezone.localdate(),
            "level": "category",
            "method": "model",
        }
        form = LookalikeForm(initial=initial | (run.parameters if run else {}))
    context: dict[str, Any] = {"run": run, "items": selectors.item_choices()}
    if run:
        context["gains"] = gains_chart(run.metrics.get("gains", []))
        context["top"] = selectors.scored_customers(
            user=request.user, order="lookalike"
        )[:TOP]
    return _run_page(
        request, "analytics/lookalikes.html", AnalysisKind.LOOKALIKE, form, **context
    )
