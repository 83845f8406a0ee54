import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Grade(models.IntegerChoices):
    """The postal seed's 一等 … 四等 data (数据分级)."""

    ONE = 1, _("Grade 1")
    TWO = 2, _("Grade 2")
    THREE = 3, _("Grade 3")
    FOUR = 4, _("Grade 4")


class CustomerQuality(models.Model):
    """One row per live customer: what the last computation found. Derived
    data, rewritten in bulk by `quality_compute`."""

    customer = models.OneToOneField(
        "customers.Customer",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="quality",
    )
    completeness = models.FloatField(_("attribute richness"))
    missing = models.JSONField(_("missing attributes"), default=list)
    issue_count = models.PositiveSmallIntegerField(_("invalid values"), default=0)
    last_maintained_at = models.DateTimeField(_("last maintained"), null=True)
    selections_recent = models.PositiveIntegerField(
        _("selections within the window"), default=0
    )
    selections_total = models.PositiveIntegerField(_("selections ever"), default=0)
    last_selected_at = models.DateTimeField(_("last selected"), null=True)
    has_past_usage = models.BooleanField(_("past usage"), default=False)
    grade = models.PositiveSmallIntegerField(_("grade"), choices=Grade, db_index=True)
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("customer quality")
        verbose_name_plural = _("customer quality")
        indexes = [models.Index(fields=["last_maintained_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.get_grade_display()}"


class QualityIssue(models.Model):
    """A value that fails a check: one row per customer, field and problem.
    The value itself is not copied here (it may be a national ID)."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="quality_issues"
    )
    field = models.CharField(_("field"), max_length=30)
    code = models.CharField(_("problem"), max_length=40)

    class Meta:
        verbose_name = _("invalid value")
        verbose_name_plural = _("invalid values")
        indexes = [models.Index(fields=["field", "code"])]

    def __str__(self) -> str:
        return f"{self.field}: {self.code}"


class QualitySnapshot(models.Model):
    """The day's figures for one branch (or, with no branch, all of them)."""

    day = models.DateField(_("day"))
    branch = models.ForeignKey(
        "org.Branch",
        verbose_name=_("branch"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    customers = models.PositiveIntegerField(_("customers"))
    richness = models.FloatField(_("attribute richness"))
    maintained = models.PositiveIntegerField(_("maintained"))
    selected = models.PositiveIntegerField(_("selected"))
    invalid = models.PositiveIntegerField(_("with invalid values"))
    grade_1 = models.PositiveIntegerField(default=0)
    grade_2 = models.PositiveIntegerField(default=0)
    grade_3 = models.PositiveIntegerField(default=0)
    grade_4 = models.PositiveIntegerField(default=0)
    invalid_by_field = models.JSONField(default=dict)
    taken_at = models.DateTimeField(_("taken"))

    class Meta:
        verbose_name = _("quality snapshot")
        verbose_name_plural = _("quality snapshots")
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "branch"], name="quality_snapshot_day_branch"
            ),
            models.UniqueConstraint(
                fields=["day"],
                condition=Q(branch__isnull=True),
                name="quality_snapshot_day_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.branch_id or '*'}"


class SelectionRun(models.Model):
    """One selection of customers for a campaign or a list (筛选)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    purpose = models.CharField(_("purpose"), max_length=200)
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    selected_at = models.DateTimeField(_("selected"))
    count = models.PositiveIntegerField(_("customers"), default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("selection")
        verbose_name_plural = _("selections")
        ordering = ["-selected_at"]

    def __str__(self) -> str:
        return f"{self.purpose} ({self.count})"


class CustomerSelection(models.Model):
    """A customer picked by a selection: the usage log the grades count."""

    # No database constraints: a campaign logs a million rows at once by
    # INSERT … SELECT from the customer table, and a constraint would lock
    # every customer row once per entry (see campaigns.Member).
    run = models.ForeignKey(
        SelectionRun,
        on_delete=models.CASCADE,
        related_name="customers",
        db_constraint=False,
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="selections",
        db_constraint=False,
    )
    # Copied from the run so the per-customer count needs no join.
    selected_at = models.DateTimeField(_("selected"))

    class Meta:
        verbose_name = _("customer selection")
        verbose_name_plural = _("customer selections")
        indexes = [models.Index(fields=["customer", "selected_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id} @ {self.selected_at:%Y-%m-%d}"


class TaskReason(models.TextChoices):
    ROTATION = "rotation", _("Monthly verification")
    CLEANUP = "cleanup", _("Clean-up candidate")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("To check")
    CONFIRMED = "confirmed", _("Still correct")
    CORRECTED = "corrected", _("Corrected")
    ARCHIVED = "archived", _("Archived")
    KEPT = "kept", _("Kept")


class VerificationTask(models.Model):
    """A record a branch's staff are asked to check (核查), or a clean-up
    candidate awaiting a manager's decision."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="verification_tasks",
    )
    month = models.DateField(_("month"), help_text=_("First day of the month."))
    reason = models.CharField(_("reason"), max_length=10, choices=TaskReason)
    status = models.CharField(
        _("status"), max_length=10, choices=TaskStatus, default=TaskStatus.OPEN
    )
    grade = models.PositiveSmallIntegerField(
        _("grade when proposed"), choices=Grade, null=True
    )
    proposed_at = models.DateTimeField(_("proposed"))
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("verification task")
        verbose_name_plural = _("verification tasks")
        ordering = ["-month", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "month", "reason"],
                name="verification_task_once_a_month",
            )
        ]
        indexes = [models.Index(fields=["reason", "status", "month"])]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} {self.month:%Y-%m} {self.customer_id}"

    @property
    def is_open(self) -> bool:
        return self.status == TaskStatus.OPEN
