"""Stored analysis results: runs, per-customer scores, models, rules, profiles.

One ``AnalysisRun`` per computation; the latest successful run of each kind
is the *current* one (a partial unique constraint keeps it single). The
per-customer figures live in one wide row per customer (``CustomerScore``),
so a segment filters customers by RFM cell, tier, cluster, scores and CLV
through a single indexed join (``customer__score__rfm_cell``). A re-run
replaces its own columns for every customer inside one transaction, so
readers see the old figures until the new ones commit.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


class AnalysisKind(models.TextChoices):
    RFM = "rfm", _("RFM")
    VALUE = "value", _("Value and profitability")
    CLV = "clv", _("Lifetime value")
    CLUSTER = "cluster", _("Clusters")
    TRAIN = "train", _("Model training")
    SCORE = "score", _("Scoring")
    RULES = "rules", _("Association rules")
    ROUGHSETS = "roughsets", _("Rough-set rules")
    OFFERS = "offers", _("Offer allocation")
    LOOKALIKE = "lookalike", _("Look-alikes")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class AnalysisRun(models.Model):
    """One computation: its parameters, dates, status and summary figures."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=12, choices=AnalysisKind)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus, default=RunStatus.QUEUED
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    as_of = models.DateField(_("as of"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    #: summary figures and chart data (grid, Pareto points, calibration, ...)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    customers = models.PositiveIntegerField(_("customers"), default=0)
    error = models.TextField(_("error"), blank=True)
    is_current = models.BooleanField(_("current"), default=False)

    class Meta:
        verbose_name = _("analysis run")
        verbose_name_plural = _("analysis runs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(is_current=True),
                name="analytics_one_current_run_per_kind",
            )
        ]
        indexes = [models.Index(fields=["kind", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.as_of} ({self.get_status_display()})"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class CustomerScore(models.Model):
    """The current analytic figures of one customer, one column group per kind."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="score",
    )
    # RFM
    rfm_r = models.PositiveSmallIntegerField(_("R score"), null=True, blank=True)
    rfm_f = models.PositiveSmallIntegerField(_("F score"), null=True, blank=True)
    rfm_m = models.PositiveSmallIntegerField(_("M score"), null=True, blank=True)
    rfm_cell = models.CharField(_("RFM cell"), max_length=20, blank=True)
    recency_days = models.FloatField(_("days since last order"), null=True, blank=True)
    frequency = models.PositiveIntegerField(_("orders"), null=True, blank=True)
    monetary = models.DecimalField(_("net sales"), null=True, blank=True, **MONEY)
    # value
    revenue = models.DecimalField(_("revenue"), null=True, blank=True, **MONEY)
    cost = models.DecimalField(_("cost"), null=True, blank=True, **MONEY)
    profit = models.DecimalField(_("profit"), null=True, blank=True, **MONEY)
    value_tier = models.CharField(_("value tier"), max_length=12, blank=True)
    # lifetime value
    p_alive = models.FloatField(_("probability alive"), null=True, blank=True)
    expected_purchases = models.FloatField(
        _("expected purchases"), null=True, blank=True
    )
    next_purchase_days = models.FloatField(
        _("expected days to next purchase"), null=True, blank=True
    )
    clv = models.DecimalField(_("lifetime value"), null=True, blank=True, **MONEY)
    # segments and models
    cluster = models.PositiveSmallIntegerField(_("cluster"), null=True, blank=True)
    churn_score = models.FloatField(_("churn score"), null=True, blank=True)
    response_score = models.FloatField(_("response score"), null=True, blank=True)
    #: resemblance to the buyers of the current look-alike run's item; only
    #: customers who have not bought it have one
    lookalike_score = models.FloatField(_("look-alike score"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        indexes = [
            models.Index(fields=["rfm_cell"]),
            models.Index(fields=["rfm_r", "rfm_f"]),
            models.Index(fields=["value_tier"]),
            models.Index(fields=["profit"]),
            models.Index(fields=["clv"]),
            models.Index(fields=["cluster"]),
            models.Index(fields=["churn_score"]),
            models.Index(fields=["response_score"]),
            models.Index(fields=["lookalike_score"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}"


class ModelTarget(models.TextChoices):
    LAPSED = "lapsed", _("Lapsed (no purchase in the next days)")
    BOUGHT_CATEGORY = "bought_category", _("Bought a category in the next days")
    RESPONDED = "responded", _("Responded to a campaign")


class ModelVersion(models.Model):
    """A trained response or churn model with its test metrics."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    run = models.ForeignKey(
        AnalysisRun, on_delete=models.CASCADE, related_name="model_versions"
    )
    target = models.CharField(_("target"), max_length=20, choices=ModelTarget)
    category = models.CharField(_("category"), max_length=100, blank=True)
    horizon_days = models.PositiveIntegerField(_("horizon (days)"))
    algorithm = models.CharField(_("algorithm"), max_length=40)
    params = models.JSONField(_("parameters"), default=dict)
    metrics = models.JSONField(_("metrics"), default=dict)
    gains = models.JSONField(_("gains by decile"), default=list)
    calibration = models.JSONField(_("calibration"), default=list)
    rules = models.JSONField(_("if-then rules"), default=list, blank=True)
    feature_names = models.JSONField(default=list)
    #: the fitted estimator, pickled by joblib; only Clientbook writes it
    estimator = models.BinaryField()
    chosen = models.BooleanField(_("chosen"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "category"],
                condition=Q(chosen=True),
                name="analytics_one_chosen_model_per_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.category} {self.algorithm}".strip()

    @property
    def score_field(self) -> str:
        """The CustomerScore column this model's scores go to."""
        return "churn_score" if self.target == ModelTarget.LAPSED else "response_score"


class ClusterProfile(models.Model):
    """One cluster of a clustering run, with the traits that describe it."""

    run = models.ForeignKey(
        AnalysisRun, on_delete=models.CASCADE, related_name="cluster_profiles"
    )
    cluster = models.PositiveSmallIntegerField(_("cluster"))
    customers = models.PositiveIntegerField(_("customers"))
    share = models.FloatField(_("share"))
    value = models.DecimalField(_("value"), **MONEY)
    value_mean = models.DecimalField(_("mean value"), **MONEY)
    #: [{"feature", "direction", "z"}], worded in the reader's language
    traits = models.JSONField(_("traits"), default=list)
    center = models.JSONField(_("centre (z)"), default=dict)

    class Meta:
        verbose_name = _("cluster profile")
        verbose_name_plural = _("cluster profiles")
        ordering = ["run", "cluster"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "cluster"], name="analytics_cluster_once_per_run"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.cluster}"


class AssociationRule(models.Model):
    """A rule A ⇒ C with mlxtend's metrics."""

    run = models.ForeignKey(
        AnalysisRun, on_delete=models.CASCADE, related_name="association_rules"
    )
    antecedents = models.JSONField(_("if bought"))
    consequents = models.JSONField(_("then buys"))
    support = models.FloatField(_("support"))
    confidence = models.FloatField(_("confidence"))
    lift = models.FloatField(_("lift"))
    leverage = models.FloatField(_("leverage"), null=True)
    conviction = models.FloatField(_("conviction"), null=True)

    class Meta:
        verbose_name = _("association rule")
        verbose_name_plural = _("association rules")
        ordering = ["run", "-lift", "-confidence", "id"]

    def __str__(self) -> str:
        return f"{self.antecedents} => {self.consequents}"


class Recommendation(models.Model):
    """A next best product for a customer, from the current rules run."""

    run = models.ForeignKey(
        AnalysisRun, on_delete=models.CASCADE, related_name="recommendations"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="recommendations"
    )
    rank = models.PositiveSmallIntegerField(_("rank"))
    item = models.CharField(_("product or category"), max_length=200)
    score = models.FloatField(_("score"))
    confidence = models.FloatField(_("confidence"))
    lift = models.FloatField(_("lift"))
    because = models.JSONField(_("because of"), default=list)

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")
        ordering = ["customer", "rank"]
        indexes = [models.Index(fields=["customer", "run", "rank"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.item}"


class RoughSetRule(models.Model):
    """A certain or possible rule 'if conditions then decision'."""

    run = models.ForeignKey(
        AnalysisRun, on_delete=models.CASCADE, related_name="roughset_rules"
    )
    conditions = models.JSONField(_("conditions"))
    decision = models.CharField(_("decision"), max_length=50)
    support = models.PositiveIntegerField(_("support"))
    confidence = models.FloatField(_("confidence"))
    coverage = models.FloatField(_("coverage"))
    kind = models.CharField(_("kind"), max_length=10)

    class Meta:
        verbose_name = _("rough-set rule")
        verbose_name_plural = _("rough-set rules")
        ordering = ["run", "kind", "-support", "id"]

    def __str__(self) -> str:
        return f"{self.conditions} => {self.decision}"


class OfferAssignment(models.Model):
    """The offer an allocation run gives a customer."""

    run = models.ForeignKey(
        AnalysisRun, on_delete=models.CASCADE, related_name="offer_assignments"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    offer = models.CharField(_("offer"), max_length=100)
    expected_profit = models.DecimalField(_("expected profit"), **MONEY)

    class Meta:
        verbose_name = _("offer assignment")
        verbose_name_plural = _("offer assignments")
        ordering = ["run", "-expected_profit"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.offer}"
