"""Reads of the campaigns app: lists, one campaign, its members and counts."""

from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    DoNotContact,
    Member,
    Suppression,
    Variant,
    Wave,
)
from clientbook.campaigns.selection import is_uuid
from clientbook.campaigns.stats import ArmTotals, winner_choose
from clientbook.errors import NotFound
from clientbook.org.access import scope_by_branch
from clientbook.segments.models import Segment

CONTACTED = (ContactStatus.SENT, ContactStatus.DELIVERED)


def campaign_list(*, stage: str | None = None) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.select_related("owner").prefetch_related("variants")
    return campaigns.filter(stage=stage) if stage else campaigns


def campaign_get(*, ref: Any) -> Campaign:
    """By UUID or exact name."""
    text = str(ref or "").strip()
    found = Campaign.objects.filter(name=text).first()
    if found is None and is_uuid(text):
        found = Campaign.objects.filter(uuid=text).first()
    if found is None:
        raise NotFound(
            ErrorCode.NOT_FOUND,
            _("There is no campaign “%(ref)s”.") % {"ref": text},
            value=text,
        )
    return found


def variant_get(campaign: Campaign, code: str) -> Variant:
    found = campaign.variants.filter(code=code).first()
    if found is None:
        raise NotFound(
            ErrorCode.NOT_FOUND,
            _("This campaign has no variant “%(code)s”.") % {"code": code},
            field="variant",
            value=code,
        )
    return found


def selection_table(campaign: Campaign) -> list[tuple[str, str, int]]:
    """(key, label, count) of the last selection, in checking order."""
    counts = campaign.selection_counts or {}
    if not counts:
        return []
    rows = [("matched", _("Matched"), counts.get("matched", 0))]
    rows += [
        (reason.value, reason.label, counts.get(reason.value, 0))
        for reason in Suppression
    ]
    rows.append(("eligible", _("Eligible"), counts.get("eligible", 0)))
    return rows


def arm_table(campaign: Campaign) -> list[dict]:
    """Per arm and wave: members, and how many are contacted, responded."""
    rows = (
        Member.objects.filter(campaign=campaign, suppression="")
        .values("variant__code", "variant__name", "variant__channel", "wave")
        .annotate(
            members=Count("pk"),
            contacted=Count("pk", filter=Q(status__in=CONTACTED)),
            pending=Count("pk", filter=Q(status=ContactStatus.PENDING)),
            responded=Count("pk", filter=Q(responded_at__isnull=False)),
        )
        .order_by("variant__is_control", "variant__code", "wave")
    )
    labels = dict(Wave.choices)
    return [{**row, "wave_label": labels.get(row["wave"], "")} for row in rows]


def member_sample(campaign: Campaign, user, *, limit: int = 50) -> QuerySet[Member]:
    members = Member.objects.filter(campaign=campaign).select_related(
        "customer", "customer__branch", "variant"
    )
    # By customer: the (campaign, customer) index gives the first rows
    # without sorting a million members.
    return scope_by_branch(members, user, field="customer__branch").order_by(
        "customer_id"
    )[:limit]


def do_not_contact_list(*, include_lifted: bool = False) -> QuerySet[DoNotContact]:
    entries = DoNotContact.objects.select_related("customer", "added_by")
    entries = entries if include_lifted else entries.filter(lifted_at__isnull=True)
    return entries.order_by("-added_at", "-id")


def selection_segments(campaign: Campaign) -> list:
    refs = (campaign.selection or {}).get("segments") or []
    found = {str(s.uuid): s for s in Segment.objects.filter(uuid__in=refs)}
    return [found[ref] for ref in refs if ref in found]


def test_totals(campaign: Campaign) -> dict[str, ArmTotals]:
    """Per variant of the test sample: members, responders, revenue (and
    its sum of squares, for Welch's test)."""
    rows = (
        Member.objects.filter(
            campaign=campaign, suppression="", wave=Wave.TEST, variant__is_control=False
        )
        .values("variant__code")
        .annotate(
            n=Count("pk"),
            responders=Count("pk", filter=Q(responded_at__isnull=False)),
            revenue_sum=Sum("revenue"),
            revenue_sq=Sum(F("revenue") * F("revenue")),
        )
        .order_by("variant__code")
    )
    return {
        row["variant__code"]: ArmTotals(
            n=row["n"],
            responders=row["responders"],
            revenue=float(row["revenue_sum"] or 0),
            revenue_sq=float(row["revenue_sq"] or 0),
        )
        for row in rows
    }


def test_result(campaign: Campaign, *, metric: str = "response") -> dict | None:
    """The test stage's comparison of the variants and its suggested winner
    (None when the campaign has no test)."""
    if not campaign.test_share or not campaign.assigned_at:
        return None
    totals = test_totals(campaign)
    if not totals:
        return None
    return {"totals": totals, "choice": winner_choose(totals, metric=metric)}


def customer_campaigns(customer, *, limit: int = 10) -> dict:
    memberships = (
        Member.objects.filter(customer=customer)
        .select_related("campaign", "variant")
        .order_by("-campaign__created_at", "-pk")[:limit]
    )
    blocks = DoNotContact.objects.filter(
        Q(customer=customer) | Q(value__in=customer.identifiers.values("value")),
        lifted_at__isnull=True,
    )
    return {"memberships": list(memberships), "blocks": list(blocks)}
