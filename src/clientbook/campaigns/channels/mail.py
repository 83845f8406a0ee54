"""Direct mail: the print-ready address list of a campaign's mail members
(sorted by postcode, then city, district, street, as the post office wants
them), as CSV, XLSX or A4 labels; and the release that records the letters
as sent once they went to print.

Only members `contactable` now are listed, so a customer without a valid
address, or who withdrew consent since the selection, never reaches print.
"""

from collections.abc import Iterator
from typing import IO

from django.db import transaction
from django.db.models import (
    Case,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clientbook.activity.models import Direction, Interaction, InteractionType
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import Campaign, ContactStatus, Member, Stage, Wave
from clientbook.campaigns.selection import contactable
from clientbook.campaigns.services import campaign_source, ensure_can_run
from clientbook.customers.models import Address, AddressType
from clientbook.errors import ValidationFailed
from clientbook.privacy.models import ConsentChannel
from clientbook.privacy.services import audit_record
from clientbook.segments.exports import write_csv, write_xlsx

ADDRESS_PARTS = ("postcode", "province", "city", "district", "street")
COLUMNS = (
    ("code", gettext_lazy("response code")),
    ("name", gettext_lazy("name")),
    ("postcode", gettext_lazy("postcode")),
    ("province", gettext_lazy("province")),
    ("city", gettext_lazy("city")),
    ("district", gettext_lazy("district")),
    ("street", gettext_lazy("street")),
    ("variant", gettext_lazy("variant")),
)
LABELS_PER_PAGE = 24  # A4, 3 × 8


def _address(part: str) -> Subquery:
    """The customer's mailing address first, then any valid one."""
    return Subquery(
        Address.objects.filter(customer_id=OuterRef("customer_id"), is_valid=True)
        .exclude(street="")
        .annotate(
            rank=Case(
                When(type=AddressType.MAILING, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", "-updated_at", "id")
        .values(part)[:1]
    )


def _ensure_running(campaign: Campaign) -> None:
    if campaign.stage not in (Stage.TEST, Stage.EXECUTE):
        raise ValidationFailed(
            ErrorCode.INVALID_STAGE,
            _("Mail lists are made in the test or execution stage only."),
            field="stage",
            value=campaign.stage,
        )


def mail_members(campaign: Campaign) -> QuerySet:
    """Mail members waiting for print (of the test sample in the test
    stage), whatever their consent now."""
    members = Member.objects.filter(
        campaign=campaign,
        suppression="",
        variant__is_control=False,
        variant__channel=ConsentChannel.MAIL,
        status=ContactStatus.PENDING,
    )
    if campaign.stage == Stage.TEST:
        members = members.filter(wave=Wave.TEST)
    elif campaign.stage != Stage.EXECUTE:
        members = members.none()
    return members


def mail_list(campaign: Campaign) -> QuerySet:
    """The listed members with their address, in post-office order."""
    members = contactable(mail_members(campaign), campaign, ConsentChannel.MAIL)
    return (
        members.annotate(**{f"a_{p}": _address(p) for p in ADDRESS_PARTS})
        .select_related("customer", "variant")
        .order_by("a_postcode", "a_city", "a_district", "a_street", "pk")
    )


def rows(campaign: Campaign) -> Iterator[dict]:
    for member in mail_list(campaign).iterator(chunk_size=2000):
        yield {
            "member": member,
            "code": member.code,
            "name": member.customer.name,
            "variant": member.variant.code,
            **{p: getattr(member, f"a_{p}") or "" for p in ADDRESS_PARTS},
        }


def one_line(row: dict) -> str:
    return "".join(row[p] for p in ("province", "city", "district", "street"))


def export(campaign: Campaign, fmt: str, out: IO[bytes]) -> int:
    """Writes the list as CSV or XLSX (text cells, formula-safe)."""
    header = [str(label) for _key, label in COLUMNS]
    values = ([row[key] for key, _label in COLUMNS] for row in rows(campaign))
    writer = write_xlsx if fmt == "xlsx" else write_csv
    return writer(out, header, values)


def label_pages(campaign: Campaign) -> list[list[dict]]:
    """The labels, 24 to an A4 page."""
    labels = list(rows(campaign))
    return [
        labels[i : i + LABELS_PER_PAGE] for i in range(0, len(labels), LABELS_PER_PAGE)
    ]


@transaction.atomic
def mail_release(*, campaign: Campaign, actor) -> dict[str, int]:
    """The letters of the current list went to print: their members are
    sent, each with a letter on the customer's timeline. Members no longer
    contactable are skipped. Returns {"sent", "skipped"}.

    Raises:
        ValidationFailed: not in the test or execution stage.
        AccessDenied: a role that may not run campaigns.
    """
    ensure_can_run(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _ensure_running(campaign)
    now = timezone.now()
    listed = list(rows(campaign))
    sent = _mark_sent(listed, now)
    skipped = (
        mail_members(campaign)
        .exclude(pk__in=[r["member"].pk for r in listed])
        .update(status=ContactStatus.SKIPPED, error=_("Not contactable at release."))
    )
    _letters(campaign, listed, now, actor)
    audit_record(
        actor=actor,
        action="campaign.mail_release",
        obj=campaign,
        after={"sent": sent, "skipped": skipped},
    )
    return {"sent": sent, "skipped": skipped}


def _mark_sent(listed: list[dict], now) -> int:
    members = []
    for row in listed:
        member = row["member"]
        member.status, member.sent_at = ContactStatus.SENT, now
        member.contact = f"{row['postcode']} {one_line(row)}".strip()[:300]
        members.append(member)
    Member.objects.bulk_update(
        members, ["status", "sent_at", "contact"], batch_size=500
    )
    return len(members)


def _letters(campaign: Campaign, listed: list[dict], now, actor) -> None:
    source = campaign_source()
    Interaction.objects.bulk_create(
        (
            Interaction(
                customer_id=row["member"].customer_id,
                channel=ConsentChannel.MAIL,
                direction=Direction.OUTBOUND,
                type=InteractionType.LETTER,
                occurred_at=now,
                staff=actor if actor is not None and actor.pk else None,
                summary=_("Campaign “%(name)s”: %(variant)s")
                % {"name": campaign.name, "variant": row["member"].variant.name},
                outcome=ContactStatus.SENT.value,
                source=source,
            )
            for row in listed
        ),
        batch_size=500,
    )
