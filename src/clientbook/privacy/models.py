from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clientbook.references import BULK_WRITTEN


class SourceKind(models.TextChoices):
    REGISTRATION = "registration", _("Registration")
    IN_STORE = "in_store", _("In-store purchase")
    SERVICE = "service", _("Service")
    COMPLAINT = "complaint", _("Complaint")
    EVENT = "event", _("Event / fair")
    WEBSITE = "website", _("Website")
    CALL_CENTRE = "call_centre", _("Call centre")
    PARTNER = "partner", _("Partner exchange")
    PURCHASED = "purchased", _("Purchased list")
    PUBLIC_RECORD = "public_record", _("Public records")
    MANUAL = "manual", _("Entered by staff")
    API = "api", _("API")


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Contract")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")
    PUBLIC_RECORD = "public_record", _("Public record")


class Source(models.Model):
    """A collection channel; every customer, identifier and consent names one."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=SourceKind.choices)
    legal_basis = models.CharField(
        _("legal basis"), max_length=30, choices=LegalBasis.choices
    )
    trust = models.PositiveSmallIntegerField(
        _("trust"), default=50, help_text=_("0–100; merges prefer trusted sources.")
    )
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ConsentChannel(models.TextChoices):
    MAIL = "mail", _("Mail")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    VISIT = "visit", _("Visit")


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service")


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", _("Granted")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    UNKNOWN = "unknown", _("Unknown")


class Consent(models.Model):
    """One entry of the consent ledger. Entries are never changed or removed:
    the current state of a channel × purpose is the latest entry."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="consents",
        db_index=False,  # consent_latest leads with it
        **BULK_WRITTEN,
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=ConsentChannel.choices
    )
    purpose = models.CharField(
        _("purpose"), max_length=10, choices=ConsentPurpose.choices
    )
    status = models.CharField(_("status"), max_length=10, choices=ConsentStatus.choices)
    occurred_at = models.DateTimeField(_("when"))
    source = models.ForeignKey(
        Source,
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        db_index=False,  # sources are few: an index would not narrow much
        **BULK_WRITTEN,
    )
    evidence = models.TextField(_("evidence"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [
            # The current state is the latest entry (by time, then id): one
            # index read, no sort, for a customer or a segment of millions.
            models.Index(
                fields=["customer", "channel", "purpose", "-occurred_at", "-id"],
                name="consent_latest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}: {self.status}"


class ConsentState(models.Model):
    """The current consent per customer, channel and purpose: a copy of the
    latest ledger entry (by when it happened, then by id). Kept by database
    triggers on the ledger (migration 0003), so every writer — services,
    bulk imports, COPY, merges and unmerges — keeps it right; the application
    only reads it. Segments and campaign selections join it instead of
    finding the latest entry customer by customer."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the unique constraint leads with it
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=ConsentChannel.choices
    )
    purpose = models.CharField(
        _("purpose"), max_length=10, choices=ConsentPurpose.choices
    )
    status = models.CharField(_("status"), max_length=10, choices=ConsentStatus.choices)
    occurred_at = models.DateTimeField(_("when"))
    entry_id = models.BigIntegerField()

    class Meta:
        verbose_name = _("current consent")
        verbose_name_plural = _("current consents")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "channel", "purpose"], name="consent_state_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["channel", "purpose", "status", "customer"],
                name="consent_state_by_status",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}: {self.status}"


# The action of an import job's one entry of the customers it created.
IMPORT_CREATED = "customer.import_create"


class AuditEntry(models.Model):
    """Who changed what, when, with the values before and after."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # see Meta
        **BULK_WRITTEN,
    )
    # Indexed in Meta: db_index would add a LIKE index nobody uses.
    action = models.CharField(_("action"), max_length=50)
    entity = models.CharField(_("entity"), max_length=50)
    entity_id = models.CharField(max_length=64)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
        db_constraint=False,
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        # An import writes an entry per customer: the indexes leave out
        # what nobody looks up. A customer's entries are found by
        # `customer`; entries of no one (imports from the command line) by
        # no actor.
        indexes = [
            models.Index(
                fields=["entity", "entity_id"],
                condition=~Q(entity="customers.customer"),
                name="audit_entity",
            ),
            models.Index(fields=["action"], name="audit_action"),
            models.Index(
                fields=["actor"],
                condition=Q(actor__isnull=False),
                name="audit_actor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.entity} {self.entity_id}"
