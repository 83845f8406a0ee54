import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DedupeRun(models.Model):
    """One pass of probabilistic matching over the live customers."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus, default=RunStatus.PENDING
    )
    dry_run = models.BooleanField(_("dry run"), default=False)
    auto_merge_above = models.FloatField(_("merge automatically above"))
    review_above = models.FloatField(_("review above"))
    backend = models.CharField(_("backend"), max_length=20, default="duckdb")
    stage = models.CharField(_("stage"), max_length=50, blank=True)
    progress = models.FloatField(_("progress"), default=0.0)
    customers = models.PositiveIntegerField(_("customers compared"), default=0)
    candidates = models.PositiveIntegerField(_("candidate pairs"), default=0)
    auto_merged = models.PositiveIntegerField(_("merged automatically"), default=0)
    queued = models.PositiveIntegerField(_("queued for review"), default=0)
    skipped_rejected = models.PositiveIntegerField(
        _("skipped (rejected before)"), default=0
    )
    # The trained Splink model (settings with m and u), so a pair can be
    # explained later with the parameters that scored it.
    # Per block key, how many customers shared theirs with too many others
    # to be compared on it (they were compared on their other keys).
    crowded = models.JSONField(_("left out of crowded blocks"), default=dict)
    model = models.JSONField(_("model"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("duplicate detection run")
        verbose_name_plural = _("duplicate detection runs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"


class Merge(models.Model):
    """What one merge did, in enough detail to undo it exactly: the
    survivor's fields before, which child rows moved and which flags flipped."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    survivor = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("survivor"),
        on_delete=models.PROTECT,
        related_name="merges_survived",
    )
    duplicate = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("duplicate"),
        on_delete=models.PROTECT,
        related_name="merges_absorbed",
    )
    run = models.ForeignKey(
        DedupeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_automatic = models.BooleanField(_("automatic"), default=False)
    record = models.JSONField(_("what was changed"))
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("merged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    merged_at = models.DateTimeField(_("merged"), auto_now_add=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("undone by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")
        ordering = ["-merged_at", "-id"]
        constraints = [
            # A customer is merged into one survivor at a time.
            models.UniqueConstraint(
                fields=["duplicate"],
                condition=Q(undone_at__isnull=True),
                name="merge_one_open_per_duplicate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.duplicate_id} → {self.survivor_id}"


class PairStatus(models.TextChoices):
    PENDING = "pending", _("To review")
    MERGED = "merged", _("Merged")
    REJECTED = "rejected", _("Not the same")
    # A customer of the pair was merged with someone else meanwhile.
    SUPERSEDED = "superseded", _("Superseded")


class DuplicatePair(models.Model):
    """Two customers a run found alike, with the evidence. One row per pair
    of customers ever (`customer_a` has the lower id), so a rejected pair is
    remembered and never proposed again."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer_a = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    customer_b = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(
        DedupeRun,
        verbose_name=_("run"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pairs",
    )
    probability = models.FloatField(_("match probability"))
    match_weight = models.FloatField(_("match weight"))
    # [{"comparison": "birth_date", "level": 1, "label": "...", "weight": 6.2,
    #   "left": "...", "right": "..."}] — one entry per comparison.
    evidence = models.JSONField(_("evidence"), default=list)
    status = models.CharField(
        _("status"), max_length=10, choices=PairStatus, default=PairStatus.PENDING
    )
    merge = models.ForeignKey(
        Merge, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    created_at = models.DateTimeField(_("found"), auto_now_add=True)

    class Meta:
        verbose_name = _("duplicate pair")
        verbose_name_plural = _("duplicate pairs")
        ordering = ["-probability", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_a", "customer_b"], name="duplicate_pair_once"
            ),
            models.CheckConstraint(
                condition=Q(customer_a__lt=F("customer_b")),
                name="duplicate_pair_ordered",
            ),
        ]
        indexes = [models.Index(fields=["status", "-probability"])]

    def __str__(self) -> str:
        return f"{self.customer_a_id} ~ {self.customer_b_id} ({self.probability:.3f})"
