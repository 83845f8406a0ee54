"""Campaigns: who is selected, who is held out, what each member was sent,
what came back. The closed loop of the postal seed:

    营销创意 idea → 数据分析 analysis → 营销策划 plan → 营销测试 test →
    营销执行 execute → 评估优化 evaluate

A member row is created for every customer a selection found, suppressed or
not, so each suppression reason stays countable and explainable; only
unsuppressed members get an arm (a variant or the control group).
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clientbook.privacy.models import ConsentChannel, ConsentPurpose

MONEY = {"max_digits": 14, "decimal_places": 2}


class Stage(models.TextChoices):
    IDEA = "idea", _("Idea")
    ANALYSIS = "analysis", _("Analysis")
    PLAN = "plan", _("Plan")
    TEST = "test", _("Test")
    EXECUTE = "execute", _("Execution")
    EVALUATE = "evaluate", _("Evaluation")
    CLOSED = "closed", _("Closed")


# Stages in which the selection and the assignment may still change.
OPEN_STAGES = (Stage.IDEA, Stage.ANALYSIS, Stage.PLAN)


class Campaign(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    objective = models.TextField(_("objective"), blank=True)
    offer = models.TextField(_("offer"), blank=True)
    purpose = models.CharField(
        _("consent purpose"),
        max_length=10,
        choices=ConsentPurpose,
        default=ConsentPurpose.MARKETING,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    branches = models.ManyToManyField(
        "org.Branch",
        verbose_name=_("branches"),
        blank=True,
        help_text=_("Only customers of these branches; none means all."),
        related_name="+",
    )
    stage = models.CharField(
        _("stage"), max_length=10, choices=Stage, default=Stage.IDEA
    )
    budget = models.DecimalField(_("budget"), null=True, blank=True, **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    cost_per_contact = models.DecimalField(_("cost per contact"), default=0, **MONEY)
    expected_response_rate = models.DecimalField(
        _("expected response rate"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.05"),
    )
    response_window_days = models.PositiveSmallIntegerField(
        _("response window (days)"), default=30
    )
    starts_on = models.DateField(_("starts"), null=True, blank=True)
    ends_on = models.DateField(_("ends"), null=True, blank=True)
    # Selection: {"segments": [uuid, …], "score": {"field", "top_n" |
    # "top_share" | "min"}} — see `selection.validate`.
    selection = models.JSONField(_("selection"), default=dict, blank=True)
    frequency_cap_days = models.PositiveSmallIntegerField(
        _("frequency cap (days)"),
        default=30,
        help_text=_("Skip customers contacted within this many days; 0 = no cap."),
    )
    holdout_share = models.DecimalField(
        _("control group share"), max_digits=4, decimal_places=3, default=Decimal("0.1")
    )
    test_share = models.DecimalField(
        _("test sample share"),
        max_digits=4,
        decimal_places=3,
        default=0,
        help_text=_("Share of the contacted members in the test; 0 = no test."),
    )
    stratify_by = models.JSONField(_("stratify by"), default=list, blank=True)
    seed = models.BigIntegerField(_("random seed"), default=0)
    landing_url = models.URLField(_("landing page"), blank=True)
    # Counts of the last selection: matched, each suppression reason, eligible.
    selection_counts = models.JSONField(default=dict, blank=True, editable=False)
    selected_at = models.DateTimeField(_("selected"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)
    executed_at = models.DateTimeField(_("execution started"), null=True, blank=True)
    # A selection or assignment too big for a web request runs in the worker.
    job = models.CharField(_("running"), max_length=10, blank=True, editable=False)
    job_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    job_error = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("campaigns:detail", args=[self.uuid])

    @property
    def is_open(self) -> bool:
        """True while selection and assignment may still change."""
        return self.stage in OPEN_STAGES


class StageChange(models.Model):
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.CharField(_("from"), max_length=10, choices=Stage, blank=True)
    to_stage = models.CharField(_("to"), max_length=10, choices=Stage)
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_stage} → {self.to_stage}"


class Variant(models.Model):
    """An arm of the campaign: a message on a channel, or the control group
    (held out, never contacted)."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="variants"
    )
    code = models.SlugField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=200)
    is_control = models.BooleanField(_("control group"), default=False)
    channel = models.CharField(
        _("channel"), max_length=10, choices=ConsentChannel, blank=True
    )
    weight = models.PositiveSmallIntegerField(
        _("weight"), default=1, help_text=_("Relative share among the variants.")
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(
        _("message"),
        blank=True,
        help_text=_("A template: {{ name }}, {{ code }}, {{ link }}, {{ offer }}."),
    )
    is_winner = models.BooleanField(_("winner"), default=False)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["campaign", "is_control", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "code"], name="campaign_variant_code"
            ),
            models.UniqueConstraint(
                fields=["campaign"],
                condition=models.Q(is_control=True),
                name="campaign_one_control",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Suppression(models.TextChoices):
    """Why a selected customer is not contacted; checked in this order, the
    first that applies is recorded."""

    NOT_LIVE = "not_live", _("Archived or merged")
    DUPLICATE = "duplicate", _("Already a member")
    DO_NOT_CONTACT = "do_not_contact", _("Do not contact")
    NO_CONSENT = "no_consent", _("No consent for the channel and purpose")
    NO_ADDRESS = "no_address", _("No valid address, phone or email for the channel")
    RECENTLY_CONTACTED = "recent", _("Contacted recently (frequency cap)")


class Wave(models.TextChoices):
    TEST = "test", _("Test")
    ROLLOUT = "rollout", _("Roll-out")


class ContactStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    # A send was started but not confirmed when the job stopped: it may or
    # may not have gone out, so it is never retried automatically.
    INTERRUPTED = "interrupted", _("Interrupted")
    # No longer contactable when its turn came (consent withdrawn, put on
    # the do-not-contact list, merged): not sent.
    SKIPPED = "skipped", _("Skipped")
    HELD_OUT = "held_out", _("Held out (control)")


class Member(models.Model):
    # Members are written a million at a time. Each index costs every row:
    # the foreign keys below are covered by the composite indexes or rarely
    # looked up alone, so they have none of their own. And none has a
    # database constraint: checking one locks the referenced row (FOR KEY
    # SHARE) once per member — a million customer rows rewritten and a
    # million queued trigger events, more than half of a selection's time.
    # The references hold by construction: members are inserted from the
    # customer table in the same statement, customers are never deleted
    # (archived or merged), and Django still applies `on_delete`.
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="members",
        db_index=False,
        db_constraint=False,
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="campaign_memberships",
        db_constraint=False,
    )
    segment = models.ForeignKey(
        "segments.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    score = models.FloatField(_("score"), null=True, blank=True)
    suppression = models.CharField(
        _("suppressed"), max_length=20, choices=Suppression, blank=True
    )
    stratum = models.CharField(_("stratum"), max_length=100, blank=True)
    variant = models.ForeignKey(
        Variant,
        verbose_name=_("variant"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        db_index=False,
        db_constraint=False,
    )
    wave = models.CharField(_("wave"), max_length=8, choices=Wave, blank=True)
    # Unique by a partial constraint below: suppressed members, who never
    # get a code, stay out of its index.
    code = models.CharField(  # noqa: DJ001 (NULL: no code, outside the index)
        _("response code"), max_length=12, null=True, blank=True
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ContactStatus,
        default=ContactStatus.PENDING,
    )
    contact = models.CharField(_("sent to"), max_length=300, blank=True)
    # The provider's id of the message (SMS) or its Message-ID (e-mail):
    # delivery receipts and bounces name it.
    message_id = models.CharField(_("message id"), max_length=200, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    outcome = models.CharField(_("call outcome"), max_length=20, blank=True)
    responded_at = models.DateTimeField(_("responded"), null=True, blank=True)
    # Orders within the response window, kept by the attribution run.
    orders = models.PositiveIntegerField(_("orders"), default=0)
    revenue = models.DecimalField(_("revenue"), default=0, **MONEY)
    margin = models.DecimalField(_("margin"), default=0, **MONEY)
    converted_at = models.DateTimeField(_("converted"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="campaign_member_once"
            ),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(code__isnull=False),
                name="campaign_member_code",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "variant", "status"]),
            models.Index(
                fields=["message_id"],
                condition=~Q(message_id=""),
                name="campaign_member_message",
            ),
            # Only call-list members are assigned to staff.
            models.Index(
                fields=["assigned_to", "status"],
                condition=Q(assigned_to__isnull=False),
                name="campaign_member_assigned",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.customer_id}"


class ResponseKind(models.TextChoices):
    CLICK = "click", _("Clicked the link")
    VISIT = "visit", _("Visited")
    REPLY = "reply", _("Replied")
    ENQUIRY = "enquiry", _("Enquired")
    APPOINTMENT = "appointment", _("Made an appointment")
    PURCHASE = "purchase", _("Bought")
    REDEEM = "redeem", _("Redeemed the offer")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")


# Kinds that do not count as a positive response in the evaluation.
NEGATIVE_KINDS = (ResponseKind.UNSUBSCRIBE,)


class ResponseVia(models.TextChoices):
    LINK = "link", _("Response link")
    UI = "ui", _("Entered by staff")
    CALL = "call", _("Call outcome")
    FILE = "file", _("File import")
    API = "api", _("API")
    WEBHOOK = "webhook", _("Webhook")


class Response(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="responses"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=ResponseKind)
    via = models.CharField(_("via"), max_length=10, choices=ResponseVia)
    occurred_at = models.DateTimeField(_("when"))
    amount = models.DecimalField(_("amount"), null=True, blank=True, **MONEY)
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ["occurred_at", "id"]
        constraints = [
            # The same response reported twice (a file imported again, a
            # webhook retried) is one response.
            models.UniqueConstraint(
                fields=["member", "kind", "occurred_at"], name="response_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d}"


class DoNotContact(models.Model):
    """The do-not-contact list: a customer, or a phone number or e-mail
    address (a purchased or regulator's list holds numbers, not customers),
    for one channel or all."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    value = models.CharField(
        _("phone or e-mail"),
        max_length=200,
        blank=True,
        db_index=True,
        help_text=_("Normalised, as identifiers are stored."),
    )
    channel = models.CharField(
        _("channel"),
        max_length=10,
        choices=ConsentChannel,
        blank=True,
        help_text=_("Empty: every channel."),
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    added_at = models.DateTimeField(_("added"))
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)

    class Meta:
        verbose_name = _("do-not-contact entry")
        verbose_name_plural = _("do-not-contact list")
        indexes = [models.Index(fields=["customer", "lifted_at"])]

    def __str__(self) -> str:
        return self.value or str(self.customer_id)


class Dispatch(models.Model):
    """One send job of a campaign wave: who started it, how far it got."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="dispatches"
    )
    wave = models.CharField(_("wave"), max_length=8, choices=Wave, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    interrupted = models.PositiveIntegerField(_("interrupted"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)

    class Meta:
        verbose_name = _("dispatch")
        verbose_name_plural = _("dispatches")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.started_at:%Y-%m-%d %H:%M}"
