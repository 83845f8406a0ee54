import copy
import os
import time
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clientbook.privacy.masking import mask_identifier
from clientbook.references import BULK_WRITTEN


class PartialOnPostgreSQL(models.Index):
    """A partial index on PostgreSQL, a whole one elsewhere. PostgreSQL uses a
    partial index wherever the query implies its condition; SQLite only where
    the query repeats the condition term for term (`type = 'mobile'` does not
    prove `type IN (…)` to it), so there the index stays whole."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        index = self
        if schema_editor.connection.vendor != "postgresql":
            index = copy.copy(self)
            index.condition = None
        return super(PartialOnPostgreSQL, index).create_sql(
            model, schema_editor, using, **kwargs
        )


class CustomerKind(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    ORGANISATION = "organisation", _("Organisation")


class Gender(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")
    UNKNOWN = "", _("Unknown")


class LifecycleStage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    ACTIVE = "active", _("Active")
    LAPSED = "lapsed", _("Lapsed")
    ARCHIVED = "archived", _("Archived")


class IncomeBand(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    LOW = "low", _("Under ¥5,000 a month")
    MIDDLE = "middle", _("¥5,000–15,000 a month")
    HIGH = "high", _("¥15,000–50,000 a month")
    TOP = "top", _("Over ¥50,000 a month")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7: milliseconds since 1970, then
    random bits). An import inserts a million customers: random (version 4)
    keys land all over the unique index, each insert on a page of its own,
    while these append at its end. Python has `uuid.uuid7` from 3.14 only
    (migrations name this function: keep it). The UUID tells when the
    customer was created, as `created_at` does; it is no secret token (74
    random bits still make it unguessable)."""
    return uuid.UUID(int=_uuid7_int())


def uuid7_text() -> str:
    """`uuid7()` as text, in half the time (1.1 µs): an import's parsing
    workers make one per new customer."""
    digits = f"{_uuid7_int():032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def uuid7_texts(count: int) -> list[str]:
    """`count` of `uuid7_text()` at once, of one millisecond, from one
    random draw (a chunk's new customers): 0.8 µs each against 2."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    drawn = os.urandom(10 * count).hex()
    return [
        f"{head}{r[1:4]}-{_VARIANT[r[4]]}{r[5:8]}-{r[8:20]}"
        for r in (drawn[i : i + 20] for i in range(0, 20 * count, 20))
    ]


_VARIANT = {f"{d:x}": f"{8 | d & 3:x}" for d in range(16)}  # 10 and 2 random bits


def _uuid7_int() -> int:
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    value &= ~(0xF000 << 64 | 0xC000 << 48)  # version and variant bits cleared
    return value | 0x7000 << 64 | 0x8000 << 48


class Customer(models.Model):
    """One person or organisation the company knows. Never hard-deleted:
    archived (`archived_at`) or merged into another (`merged_into`)."""

    uuid = models.UUIDField(default=uuid7, unique=True, editable=False)
    kind = models.CharField(
        _("kind"), max_length=12, choices=CustomerKind, default=CustomerKind.INDIVIDUAL
    )
    name = models.CharField(_("name"), max_length=200)
    # Match keys: the name in lower-case toneless pinyin, and its initials.
    name_pinyin = models.CharField(max_length=400, blank=True, editable=False)
    name_initials = models.CharField(max_length=100, blank=True, editable=False)
    gender = models.CharField(
        _("gender"), max_length=1, choices=Gender, blank=True, default=""
    )
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)
    employer = models.CharField(_("employer"), max_length=200, blank=True)
    position = models.CharField(_("position"), max_length=100, blank=True)
    income_band = models.CharField(
        _("income band"), max_length=10, choices=IncomeBand, blank=True, default=""
    )
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=10,
        choices=LifecycleStage,
        default=LifecycleStage.PROSPECT,
    )
    # Indexes: see Meta (an import inserts a million customers; each index
    # entry is work, and most owners and merges are empty). No constraints
    # either (`references`): each queued a check per inserted customer.
    branch = models.ForeignKey(
        "org.Branch",
        verbose_name=_("branch"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="customers",
        db_index=False,
        **BULK_WRITTEN,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_customers",
        db_index=False,
        **BULK_WRITTEN,
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    source = models.ForeignKey(
        "privacy.Source",
        verbose_name=_("source of first capture"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # read only when a source is deleted (PROTECT): rare
        **BULK_WRITTEN,
    )
    # The import that created the customer. Its one audit entry of the
    # customers it created ("customer.import_create") is in each of their
    # audit logs: an entry per customer was a sixth of an import's time
    # (bench/README.md, "Ninth session"). Jobs are kept; were one deleted,
    # its entry would still name it.
    import_job = models.ForeignKey(
        "ingest.ImportJob",
        verbose_name=_("created by import"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        **BULK_WRITTEN,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_duplicates",
        db_index=False,
        **BULK_WRITTEN,
    )

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [("view_pii", _("Can see national ID and phone numbers"))]
        indexes = [
            models.Index(
                fields=["owner"],
                condition=Q(owner__isnull=False),
                name="customer_owner",
            ),
            models.Index(
                fields=["merged_into"],
                condition=Q(merged_into__isnull=False),
                name="customer_merged_into",
            ),
            models.Index(
                fields=["name"],
                name="customer_name_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["name_pinyin"],
                name="customer_pinyin_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["name_initials"],
                name="customer_initials_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(fields=["branch", "lifecycle_stage"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.archived_at is None and self.merged_into_id is None


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    INTEGER = "integer", _("Whole number")
    DECIMAL = "decimal", _("Decimal number")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes / no")
    CHOICE = "choice", _("Choice")


class CustomField(models.Model):
    """An extra attribute an administrator declares for one kind of customer."""

    key = models.SlugField(_("key"), max_length=50)
    label = models.CharField(_("label"), max_length=100)
    customer_kind = models.CharField(
        _("customer kind"), max_length=12, choices=CustomerKind
    )
    field_type = models.CharField(_("type"), max_length=10, choices=FieldType)
    choices = models.JSONField(
        _("choices"), default=list, blank=True, help_text=_("For choice fields.")
    )
    is_required = models.BooleanField(_("required"), default=False)
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["customer_kind", "position", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_kind", "key"], name="custom_field_key_unique"
            )
        ]

    def __str__(self) -> str:
        return self.label


class CustomFieldValue(models.Model):
    """A typed value: one column per type, so values filter and sort in SQL."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="custom_values"
    )
    field = models.ForeignKey(
        CustomField, on_delete=models.PROTECT, related_name="values"
    )
    value_text = models.TextField(null=True, blank=True)  # noqa: DJ001 (NULL = unset)
    value_integer = models.BigIntegerField(null=True, blank=True)
    value_decimal = models.DecimalField(
        max_digits=20, decimal_places=6, null=True, blank=True
    )
    value_date = models.DateField(null=True, blank=True)
    value_boolean = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "field"], name="custom_value_unique"
            )
        ]
        indexes = [
            models.Index(fields=["field", "value_text"]),
            models.Index(fields=["field", "value_integer"]),
            models.Index(fields=["field", "value_decimal"]),
            models.Index(fields=["field", "value_date"]),
        ]

    def __str__(self) -> str:
        return f"{self.field.key}={self.value}"

    @property
    def value(self):
        return getattr(self, f"value_{VALUE_COLUMN[self.field.field_type]}")


VALUE_COLUMN = {
    FieldType.TEXT: "text",
    FieldType.CHOICE: "text",
    FieldType.INTEGER: "integer",
    FieldType.DECIMAL: "decimal",
    FieldType.DATE: "date",
    FieldType.BOOLEAN: "boolean",
}


class IdentifierType(models.TextChoices):
    NATIONAL_ID = "national_id", _("National ID (身份证)")
    PASSPORT = "passport", _("Passport")
    MOBILE = "mobile", _("Mobile")
    LANDLINE = "landline", _("Landline")
    EMAIL = "email", _("Email")
    WECHAT = "wechat", _("WeChat")
    MEMBERSHIP = "membership", _("Membership number")
    LOYALTY = "loyalty", _("Loyalty number")
    EXTERNAL = "external", _("External system ID")


# A hard identifier names one person: at most one live customer may hold it.
HARD_IDENTIFIER_TYPES = (
    IdentifierType.NATIONAL_ID,
    IdentifierType.MOBILE,
    IdentifierType.EMAIL,
    IdentifierType.MEMBERSHIP,
)


class Identifier(models.Model):
    # No single-column indexes: imports write millions of identifiers, and
    # the unique (customer, type, value) serves lookups by customer; by
    # source, only deleting a source looks (rare, a scan is fine).
    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="identifiers",
        db_index=False,
        **BULK_WRITTEN,
    )
    type = models.CharField(_("type"), max_length=12, choices=IdentifierType)
    value = models.CharField(_("value"), max_length=200, help_text=_("Normalised."))
    # Mirrors the customer's liveness, so the database itself can refuse a
    # second live holder of a hard identifier (a partial unique index).
    is_live = models.BooleanField(default=True, editable=False)
    is_verified = models.BooleanField(_("verified"), default=False)
    source = models.ForeignKey(
        "privacy.Source",
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        db_index=False,
        **BULK_WRITTEN,
    )
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("identifier")
        verbose_name_plural = _("identifiers")
        constraints = [
            models.UniqueConstraint(
                fields=["type", "value"],
                condition=Q(is_live=True, type__in=HARD_IDENTIFIER_TYPES),
                name="hard_identifier_one_live_holder",
            ),
            models.UniqueConstraint(
                fields=["customer", "type", "value"],
                name="identifier_once_per_customer",
            ),
        ]
        # By value, for the identifiers the unique index above leaves out: a
        # live hard identifier is looked up by its type too, and a second
        # index of every imported mobile, ID and email cost the server ~40%
        # of an identifier's insert (measured on 1.8M identifiers).
        indexes = [
            PartialOnPostgreSQL(
                fields=["value", "type"],
                condition=~Q(type__in=HARD_IDENTIFIER_TYPES),
                name="identifier_value_not_hard",
            )
        ]

    def __str__(self) -> str:
        # Masked: str() ends up in admin pages, logs and messages.
        return f"{self.get_type_display()}: {mask_identifier(self.type, self.value)}"


class AddressType(models.TextChoices):
    HOME = "home", _("Home")
    WORK = "work", _("Work")
    MAILING = "mailing", _("Mailing")


class Address(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="addresses", **BULK_WRITTEN
    )
    type = models.CharField(
        _("type"), max_length=10, choices=AddressType, default=AddressType.HOME
    )
    country = models.CharField(_("country"), max_length=2, default="CN")
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    street = models.CharField(_("street"), max_length=300, blank=True)
    postcode = models.CharField(_("postcode"), max_length=10, blank=True)
    raw = models.TextField(_("as written"), blank=True)
    is_valid = models.BooleanField(_("valid"), default=True)
    source = models.ForeignKey(
        "privacy.Source",
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        db_index=False,  # sources are few: an index would not narrow much
        **BULK_WRITTEN,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        indexes = [models.Index(fields=["province", "city", "district"])]

    def __str__(self) -> str:
        return " ".join(
            p for p in (self.province, self.city, self.district, self.street) if p
        )


class Preference(models.Model):
    """What a customer likes: "drink: carrot juice", "room: high floor"."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="preferences", **BULK_WRITTEN
    )
    category = models.CharField(_("category"), max_length=50, blank=True)
    key = models.CharField(_("key"), max_length=100)
    value = models.CharField(_("value"), max_length=300)
    source = models.ForeignKey(
        "privacy.Source",
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        db_index=False,  # sources are few: an index would not narrow much
        **BULK_WRITTEN,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")
        ordering = ["category", "key"]

    def __str__(self) -> str:
        return f"{self.key}: {self.value}"


class KeyDateKind(models.TextChoices):
    BIRTHDAY = "birthday", _("Birthday")
    ANNIVERSARY = "anniversary", _("Anniversary")
    RENEWAL = "renewal", _("Contract renewal")
    OTHER = "other", _("Other")


class KeyDate(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="key_dates", **BULK_WRITTEN
    )
    kind = models.CharField(_("kind"), max_length=12, choices=KeyDateKind)
    date = models.DateField(_("date"))
    label = models.CharField(_("label"), max_length=100, blank=True)
    source = models.ForeignKey(
        "privacy.Source",
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        db_index=False,  # sources are few: an index would not narrow much
        **BULK_WRITTEN,
    )

    class Meta:
        verbose_name = _("key date")
        verbose_name_plural = _("key dates")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"
