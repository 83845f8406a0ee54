"""Phone and visit call lists (派工): members are dealt to the staff of the
customer's branch, who record the outcome of each call.

Assignment is round-robin onto the least-loaded staff member of the branch
(ties by user id), so loads differ by at most one within a branch, also
across repeated runs. A branch without staff gives its calls to its
manager; a branch with neither leaves them unassigned (counted).
"""

from collections import Counter, defaultdict

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clientbook.activity.models import Direction, Interaction, InteractionType
from clientbook.campaigns import bulk
from clientbook.campaigns.channels import CALL_CHANNELS, message_context, render
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    Member,
    ResponseKind,
    ResponseVia,
    Stage,
    Wave,
)
from clientbook.campaigns.selection import contactable
from clientbook.campaigns.services import (
    campaign_source,
    ensure_can_run,
    response_record,
)
from clientbook.errors import AccessDenied, ValidationFailed
from clientbook.org.access import ensure_can_edit
from clientbook.org.models import Role, User
from clientbook.privacy.models import ConsentStatus
from clientbook.privacy.services import audit_record, consent_record

OUTCOMES = {
    "reached-interested": gettext_lazy("Reached, interested"),
    "reached-not-interested": gettext_lazy("Reached, not interested"),
    "appointment": gettext_lazy("Made an appointment"),
    "bought": gettext_lazy("Bought"),
    "no-answer": gettext_lazy("No answer"),
    "wrong-number": gettext_lazy("Wrong number"),
    "declined-contact": gettext_lazy("Does not want to be contacted"),
}
# The person was reached: the member counts as contacted.
REACHED = {
    "reached-interested",
    "reached-not-interested",
    "appointment",
    "bought",
    "declined-contact",
}
# Outcomes that are a response to the campaign.
RESPONSES = {
    "reached-interested": ResponseKind.ENQUIRY,
    "appointment": ResponseKind.APPOINTMENT,
    "bought": ResponseKind.PURCHASE,
}
_TYPES = {"phone": InteractionType.CALL, "visit": InteractionType.VISIT}


def call_members(campaign: Campaign) -> QuerySet:
    """Phone and visit members of the running wave (all in execution)."""
    members = Member.objects.filter(
        campaign=campaign,
        suppression="",
        variant__is_control=False,
        variant__channel__in=CALL_CHANNELS,
    )
    if campaign.stage == Stage.TEST:
        return members.filter(wave=Wave.TEST)
    if campaign.stage == Stage.EXECUTE:
        return members
    return members.none()


# Assignment -------------------------------------------------------------------


def _staff_by_branch(branch_ids) -> dict[int, list[int]]:
    """branch id → the user ids calls go to: its branch staff, else its
    managers."""
    users = User.objects.filter(
        branch_id__in=branch_ids,
        is_active=True,
        role__in=[Role.BRANCH_STAFF, Role.MANAGER],
    ).order_by("id")
    staff: dict[int, list[int]] = defaultdict(list)
    managers: dict[int, list[int]] = defaultdict(list)
    for user_id, branch_id, role in users.values_list("id", "branch_id", "role"):
        (staff if role == Role.BRANCH_STAFF else managers)[branch_id].append(user_id)
    return {b: staff.get(b) or managers.get(b) or [] for b in branch_ids}


@transaction.atomic
def call_list_assign(*, campaign: Campaign, actor) -> dict:
    """Deals the unassigned calls still to make. Returns {"assigned",
    "unassigned", "by_user": {user id: calls assigned now}}.

    Raises:
        ValidationFailed: not in the test or execution stage.
    """
    ensure_can_run(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.stage not in (Stage.TEST, Stage.EXECUTE):
        raise ValidationFailed(
            ErrorCode.INVALID_STAGE,
            _("Calls are assigned in the test or execution stage only."),
            field="stage",
            value=campaign.stage,
        )
    members = call_members(campaign)
    todo = list(
        members.filter(assigned_to__isnull=True, status=ContactStatus.PENDING)
        .order_by("customer__branch_id", "pk")
        .values_list("pk", "customer__branch_id")
    )
    staff = _staff_by_branch({branch for _pk, branch in todo})
    load = Counter(
        dict(
            members.filter(assigned_to__isnull=False)
            .values_list("assigned_to")
            .annotate(n=Count("pk"))
            .order_by()
        )
    )
    rows, now_by_user, unassigned = [], Counter(), 0
    for pk, branch in todo:
        people = staff.get(branch) or []
        if not people:
            unassigned += 1
            continue
        user = min(people, key=lambda u: (load[u], u))
        load[user] += 1
        now_by_user[user] += 1
        rows.append((pk, user))
    bulk.members_set(["assigned_to_id"], rows)
    result = {
        "assigned": len(rows),
        "unassigned": unassigned,
        "by_user": dict(now_by_user),
    }
    audit_record(
        actor=actor, action="campaign.calls_assign", obj=campaign, after=result
    )
    return result


# Lists ------------------------------------------------------------------------


def calls_for(user, campaign: Campaign | None = None) -> list[Member]:
    """The user's calls, each with `callable` (contactable now), `number`
    and `script` (the variant's message for this customer)."""
    members = (
        Member.objects.filter(
            assigned_to=user, campaign__stage__in=[Stage.TEST, Stage.EXECUTE]
        )
        .select_related("campaign", "variant", "customer")
        .order_by("campaign_id", "status", "pk")
    )
    if campaign is not None:
        members = members.filter(campaign=campaign)
    members = list(members)
    _annotate(members)
    return members


def _annotate(members: list[Member]) -> None:
    from clientbook.campaigns.sending import addresses
    from clientbook.customers.models import Identifier, IdentifierType

    groups: dict[tuple, list[int]] = defaultdict(list)
    for m in members:
        groups[(m.campaign, m.variant.channel)].append(m.pk)
    allowed: set[int] = set()
    for (campaign, channel), ids in groups.items():
        allowed |= set(
            contactable(
                Member.objects.filter(pk__in=ids), campaign, channel
            ).values_list("pk", flat=True)
        )
    customer_ids = [m.customer_id for m in members]
    numbers = addresses("sms", customer_ids)  # mobiles first
    for customer_id, value in Identifier.objects.filter(
        customer_id__in=customer_ids, type=IdentifierType.LANDLINE, is_live=True
    ).values_list("customer_id", "value"):
        numbers.setdefault(customer_id, value)
    for m in members:
        m.callable = m.pk in allowed
        m.number = numbers.get(m.customer_id, "")
        m.script = render(m.variant.body, message_context(m))


def progress(campaign: Campaign) -> dict:
    """Per assignee: assigned, done (any outcome), reached, responses; and
    the calls nobody has."""
    members = call_members(campaign)
    rows = (
        members.filter(assigned_to__isnull=False)
        .values("assigned_to")
        .annotate(
            assigned=Count("pk"),
            done=Count("pk", filter=~Q(outcome="")),
            reached=Count("pk", filter=Q(outcome__in=REACHED)),
            positive=Count("pk", filter=Q(outcome__in=RESPONSES)),
        )
        .order_by("assigned_to")
    )
    users = User.objects.in_bulk([r["assigned_to"] for r in rows])
    return {
        "staff": [{**r, "user": users.get(r["assigned_to"])} for r in rows],
        "unassigned": members.filter(assigned_to__isnull=True).count(),
        "total": members.count(),
    }


# Outcomes ---------------------------------------------------------------------


def may_record(actor, member: Member) -> bool:
    """The assigned staff member, or a manager or administrator."""
    if actor is None or not actor.is_active:
        return False
    if actor.is_superuser or actor.role in (Role.ADMIN, Role.MANAGER):
        return True
    return member.assigned_to_id == actor.pk


def _check_outcome(member: Member, outcome: str, actor) -> None:
    ensure_can_edit(actor, member.customer)
    if not may_record(actor, member):
        raise AccessDenied(
            ErrorCode.NOT_YOURS, _("This call is assigned to someone else.")
        )
    if outcome not in OUTCOMES:
        raise ValidationFailed(
            ErrorCode.INVALID_VALUE,
            _("“%(value)s” is not a call outcome.") % {"value": outcome},
            field="outcome",
            value=outcome,
        )
    if not call_members(member.campaign).filter(pk=member.pk).exists():
        raise ValidationFailed(
            ErrorCode.INVALID_STAGE,
            _("This member is not on a call list of a running campaign."),
            field="member",
            value=member.code,
        )
    channel = member.variant.channel
    if not contactable(
        Member.objects.filter(pk=member.pk), member.campaign, channel
    ).exists():
        raise ValidationFailed(
            ErrorCode.DO_NOT_CALL,
            _("This customer may not be contacted any more: do not call."),
            field="outcome",
            value=outcome,
        )


@transaction.atomic
def call_outcome_record(
    *, member: Member, outcome: str, actor, note: str = ""
) -> Member:
    """Records what came of a call or visit: on the customer's timeline, on
    the member (contacted once reached), as a response when positive, and
    as a withdrawal of consent when the customer declines contact.

    Raises:
        AccessDenied: not the assigned staff member (nor a manager/admin).
        ValidationFailed: unknown outcome, not on a running call list, or
            the customer may not be contacted any more.
    """
    member = Member.objects.select_for_update().get(pk=member.pk)
    _check_outcome(member, outcome, actor)
    now = timezone.now()
    channel = member.variant.channel
    _visit_or_call(member, outcome, note, actor, now)
    member.outcome = outcome
    if outcome in REACHED and member.status != ContactStatus.SENT:
        member.status, member.sent_at = ContactStatus.SENT, now
    elif outcome == "wrong-number" and member.status == ContactStatus.PENDING:
        member.status, member.error = ContactStatus.FAILED, str(OUTCOMES[outcome])
    member.save(update_fields=["outcome", "status", "sent_at", "error"])
    if outcome in RESPONSES:
        response_record(
            member=member,
            kind=RESPONSES[outcome],
            via=ResponseVia.CALL,
            actor=actor,
            occurred_at=now,
            note=note,
        )
    if outcome == "declined-contact":
        consent_record(
            customer=member.customer,
            channel=channel,
            purpose=member.campaign.purpose,
            status=ConsentStatus.WITHDRAWN,
            source=campaign_source(),
            occurred_at=now,
            evidence=_("Declined contact on a call of campaign “%(name)s”")
            % {"name": member.campaign.name},
            actor=actor,
        )
    audit_record(
        actor=actor,
        action="campaign.call_outcome",
        obj=member.campaign,
        customer=member.customer,
        after={"outcome": outcome, "note": note},
    )
    return member


def _visit_or_call(member: Member, outcome: str, note: str, actor, now) -> None:
    channel = member.variant.channel
    Interaction.objects.create(
        customer_id=member.customer_id,
        channel=channel,
        direction=Direction.OUTBOUND,
        type=_TYPES[channel],
        occurred_at=now,
        staff=actor if actor is not None and actor.pk else None,
        summary=" ".join(
            s
            for s in (
                _("Campaign “%(name)s”: %(outcome)s")
                % {"name": member.campaign.name, "outcome": OUTCOMES[outcome]},
                note,
            )
            if s
        ),
        outcome=outcome,
        source=campaign_source(),
    )
