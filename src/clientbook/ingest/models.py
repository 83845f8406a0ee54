import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clientbook.references import BULK_WRITTEN


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")
    INTERACTIONS = "interactions", _("Interactions")


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class MappingTemplate(models.Model):
    """A saved column mapping, so the next file from the same channel maps itself."""

    source = models.ForeignKey(
        "privacy.Source", verbose_name=_("source"), on_delete=models.CASCADE
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ImportKind)
    name = models.CharField(_("name"), max_length=100)
    mapping = models.JSONField(_("mapping"), help_text=_("Column → field."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("mapping template")
        verbose_name_plural = _("mapping templates")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "kind", "name"], name="mapping_template_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    """One file, read once. Progress is committed with each chunk of rows,
    so a killed job resumes after the last committed row."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=ImportKind)
    source = models.ForeignKey(
        "privacy.Source", verbose_name=_("source"), on_delete=models.PROTECT
    )
    file_name = models.CharField(_("file"), max_length=300)
    file_path = models.CharField(max_length=500)
    file_sha256 = models.CharField(_("file hash"), max_length=64, db_index=True)
    sheet = models.CharField(_("sheet"), max_length=100, blank=True)
    mapping = models.JSONField(_("mapping"), default=dict)
    template = models.ForeignKey(
        MappingTemplate, null=True, blank=True, on_delete=models.SET_NULL
    )
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus, default=JobStatus.PENDING
    )
    error = models.TextField(_("error"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The last data row (1-based, header excluded) whose effects are committed.
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    read = models.PositiveIntegerField(_("read"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    merged = models.PositiveIntegerField(_("merged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"


class ImportReject(models.Model):
    """A row that was not imported, with why, and the row as it was."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejects")
    row_number = models.PositiveIntegerField(_("row"))
    column = models.CharField(_("column"), max_length=200, blank=True)
    value = models.TextField(_("value"), blank=True)
    reason = models.TextField(_("reason"))
    code = models.CharField(max_length=50)
    raw = models.JSONField(_("row as read"))

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        ordering = ["row_number", "id"]

    def __str__(self) -> str:
        return f"{self.row_number}: {self.reason}"


class SourceRecord(models.Model):
    """What a source has told about one customer: the key it is known by in
    that source and the hashes of the rows of that key the customer took, so
    importing the same file again finds the same customer and changes
    nothing (see `pipeline.Seen`)."""

    # The unique (source, key) serves lookups by source.
    source = models.ForeignKey(
        "privacy.Source", on_delete=models.CASCADE, db_index=False, **BULK_WRITTEN
    )
    key = models.CharField(max_length=200)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="source_records",
        **BULK_WRITTEN,
    )
    # A hash per row of the key the customer took (rows repeated one after
    # the other once), in file order, comma-separated.
    content_hashes = models.TextField()
    job = models.ForeignKey(  # which job last saw it; no one looks up by job
        ImportJob, null=True, on_delete=models.SET_NULL, db_index=False, **BULK_WRITTEN
    )
    rows_read = models.PositiveIntegerField(db_default=1)  # rows of the key `job` read
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "key"], name="source_record_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.key}"
