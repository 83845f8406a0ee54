import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class InteractionChannel(models.TextChoices):
    PHONE = "phone", _("Phone")
    VISIT = "visit", _("Visit")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    MAIL = "mail", _("Mail")
    WEB = "web", _("Web")
    WECHAT = "wechat", _("WeChat")
    STORE = "store", _("In store")


class Direction(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")


class InteractionType(models.TextChoices):
    CALL = "call", _("Call")
    VISIT = "visit", _("Visit")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    LETTER = "letter", _("Letter")
    COMPLAINT = "complaint", _("Complaint")
    ENQUIRY = "enquiry", _("Enquiry")
    WEB_VISIT = "web_visit", _("Web visit")
    MEETING = "meeting", _("Meeting")
    SERVICE = "service", _("Service")


class Interaction(models.Model):
    """One contact on the customer's timeline, whichever side started it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="interactions",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=InteractionChannel)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction)
    type = models.CharField(_("type"), max_length=10, choices=InteractionType)
    occurred_at = models.DateTimeField(_("time"))
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    summary = models.TextField(_("summary"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=200, blank=True)
    source = models.ForeignKey(
        "privacy.Source", verbose_name=_("source"), on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [models.Index(fields=["customer", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.occurred_at:%Y-%m-%d}"
