"""Segments: a saved definition in the segment language (see `language`),
dynamic (re-evaluated each time) or static (its latest snapshot), and the
snapshots that freeze who matched at a moment."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", _("Dynamic (re-evaluated when used)")
    STATIC = "static", _("Static (a snapshot)")


class Segment(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=SegmentKind, default=SegmentKind.DYNAMIC
    )
    definition = models.JSONField(_("definition"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("segments:detail", args=[self.uuid])


class SegmentSnapshot(models.Model):
    """Who matched a segment at `taken_at`, with the definition used."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="snapshots"
    )
    definition = models.JSONField(_("definition"))
    count = models.PositiveIntegerField(_("customers"), default=0)
    taken_at = models.DateTimeField(_("taken"))
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("taken by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("segment snapshot")
        verbose_name_plural = _("segment snapshots")
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["segment", "-taken_at", "-id"])]

    def __str__(self) -> str:
        return f"{self.segment_id} @ {self.taken_at:%Y-%m-%d %H:%M}"


class SegmentMember(models.Model):
    snapshot = models.ForeignKey(
        SegmentSnapshot, on_delete=models.CASCADE, related_name="members"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "customer"], name="segment_member_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}: {self.customer_id}"
