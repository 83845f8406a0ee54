"""Who a campaign reaches: segments and/or a model score make the members,
then suppression rules mark who must not be contacted, each with its reason.

Everything here is set-based SQL (INSERT … SELECT, UPDATE … WHERE EXISTS),
so a million-member selection never passes through Python. The same
suppression conditions are checked again, per member, just before a send
(`contactable`), because consent can be withdrawn in between.

The selection is JSON, validated by `validate`:

    {"segments": ["<segment uuid>", …],
     "score": {"field": "response_score", "top_n": 5000}}

`score` takes one of `top_n` (the N best), `top_share` (0–1, e.g. 0.1 for
the top decile) or `min` (a threshold); higher is better. Without segments
the score ranks every live customer (of the campaign's branches).
"""

import datetime as dt
import math
import uuid
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.activity.models import Direction, Interaction
from clientbook.analytics.models import CustomerScore
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    Campaign,
    DoNotContact,
    Member,
    Response,
    Suppression,
)
from clientbook.customers.models import (
    Address,
    Customer,
    Identifier,
    IdentifierType,
)
from clientbook.errors import ValidationFailed
from clientbook.privacy.models import ConsentChannel, ConsentState, ConsentStatus
from clientbook.segments.compiler import live_customers
from clientbook.segments.models import Segment
from clientbook.segments.selectors import segment_members_all

# Model scores a selection may rank by; higher is better for each.
SCORE_FIELDS = {
    "response_score": _("response score"),
    "churn_score": _("churn score"),
    "lookalike_score": _("look-alike score"),
    "clv": _("lifetime value"),
    "p_alive": _("probability alive"),
    "expected_purchases": _("expected purchases"),
    "profit": _("profit"),
}
SCORE_MODES = ("top_n", "top_share", "min")

# What each channel needs to reach a customer.
_CHANNEL_IDENTIFIERS = {
    ConsentChannel.EMAIL: [IdentifierType.EMAIL],
    ConsentChannel.SMS: [IdentifierType.MOBILE],
    ConsentChannel.PHONE: [IdentifierType.MOBILE, IdentifierType.LANDLINE],
}
_POSTAL_CHANNELS = (ConsentChannel.MAIL, ConsentChannel.VISIT)


def _invalid(message: str, value: Any = None, field: str = "selection"):
    return ValidationFailed(
        ErrorCode.INVALID_SELECTION, message, field=field, value=value
    )


def validate(selection: dict | None) -> dict:
    """The selection in its normal form; raises ValidationFailed naming the
    bad part."""
    selection = selection or {}
    if not isinstance(selection, dict):
        raise _invalid(_("A selection is an object."), selection)
    segments = [str(s) for s in selection.get("segments") or []]
    found = {
        str(u)
        for u in Segment.objects.filter(
            uuid__in=[s for s in segments if is_uuid(s)], archived_at__isnull=True
        ).values_list("uuid", flat=True)
    }
    for ref in segments:
        if ref not in found:
            raise ValidationFailed(
                ErrorCode.UNKNOWN_SEGMENT,
                _("There is no segment “%(ref)s”.") % {"ref": ref},
                field="selection.segments",
                value=ref,
            )
    score = _validate_score(selection.get("score"))
    if not segments and not score:
        raise _invalid(_("Choose at least one segment or a model score."))
    normal: dict[str, Any] = {"segments": list(dict.fromkeys(segments))}
    if score:
        normal["score"] = score
    return normal


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _validate_score(score: dict | None) -> dict | None:
    if not score:
        return None
    field = score.get("field")
    if field not in SCORE_FIELDS:
        raise _invalid(
            _("“%(value)s” is not a score to select by.") % {"value": field},
            field,
            "selection.score.field",
        )
    modes = [m for m in SCORE_MODES if score.get(m) not in (None, "")]
    if len(modes) != 1:
        raise _invalid(
            _("Give one of: the top N, a top share, or a minimum score."),
            None,
            "selection.score",
        )
    mode = modes[0]
    try:
        value = int(score[mode]) if mode == "top_n" else float(score[mode])
    except (TypeError, ValueError):
        value = None
    valid = value is not None and (
        (mode == "top_n" and value > 0)
        or (mode == "top_share" and 0 < value <= 1)
        or mode == "min"
    )
    if not valid:
        raise _invalid(
            _("“%(value)s” is not a valid value here.") % {"value": score[mode]},
            score[mode],
            f"selection.score.{mode}",
        )
    return {"field": field, mode: value}


# Members ----------------------------------------------------------------------


def _in_branches(queryset: QuerySet, campaign: Campaign) -> QuerySet:
    branch_ids = list(campaign.branches.values_list("pk", flat=True))
    return queryset.filter(branch_id__in=branch_ids) if branch_ids else queryset


# A selection is staged in a temporary table (customer, segment, first
# suppression reason, score), cut by score there, assigned to arms in
# Python, and only then written as members, each row once: updating a
# million members after the fact rewrote every row and its index entries.
STAGE = "campaign_stage"
_STAGE_COLUMNS = (
    "customer_id bigint PRIMARY KEY, segment_id bigint,"
    " suppression varchar(20) NOT NULL, score double precision"
)


def stage_create() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {STAGE} ({_STAGE_COLUMNS})")


def stage_drop() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")


def _stage_insert(customers: QuerySet, segment_id, reason: Case) -> int:
    """INSERT … SELECT of the customers not staged yet, each with its first
    suppression reason; returns how many."""
    chosen = customers.order_by().annotate(first_reason=reason)
    sql, params = chosen.values("pk", "first_reason").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {STAGE} (customer_id, segment_id, suppression)"  # noqa: S608
            f" SELECT matched.pk, %s, matched.first_reason FROM ({sql}) matched"
            f" WHERE NOT EXISTS (SELECT 1 FROM {STAGE} s"
            " WHERE s.customer_id = matched.pk)",
            [segment_id, *params],
        )
        return cursor.rowcount


def members_clear(campaign: Campaign) -> None:
    """Removes the members of an earlier selection (and any responses made
    to their codes) in two statements: Django's delete() would first load
    every member to cascade in Python."""
    members = Member._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Response._meta.db_table} WHERE member_id IN"  # noqa: S608
            f" (SELECT id FROM {members} WHERE campaign_id = %s)",
            [campaign.pk],
        )
        cursor.execute(
            f"DELETE FROM {members} WHERE campaign_id = %s",  # noqa: S608
            [campaign.pk],
        )


def members_stage(
    campaign: Campaign, selection: dict, channels: list[str], now: dt.datetime
) -> dict[str, int]:
    """Stages the members of `selection` (validated), each marked with the
    first suppression reason for `channels`; returns the counts matched and
    `duplicate` (matched by an earlier segment)."""
    reason = first_reason(campaign, channels, now)
    counts = {"matched": 0, Suppression.DUPLICATE.value: 0}
    refs = selection.get("segments") or []
    segments = {str(s.uuid): s for s in Segment.objects.filter(uuid__in=refs)}
    for ref in refs:
        segment = segments[ref]
        customers = _in_branches(segment_members_all(segment), campaign)
        matched = customers.count() if counts["matched"] else None
        inserted = _stage_insert(customers, segment.pk, reason)
        matched = inserted if matched is None else matched
        counts["matched"] += matched
        counts[Suppression.DUPLICATE.value] += matched - inserted
    if not refs:
        customers = _in_branches(live_customers(), campaign).filter(
            Exists(_scored(selection["score"]["field"]))
        )
        counts["matched"] = _stage_insert(customers, None, reason)
    if selection.get("score"):
        counts["matched"] -= _cut_by_score(selection["score"])
    return counts


def _scored(field: str) -> QuerySet:
    return CustomerScore.objects.filter(
        customer_id=OuterRef("pk"), **{f"{field}__isnull": False}
    )


def _cut_by_score(score: dict) -> int:
    """Keeps the staged customers the score selects, with their score;
    returns how many were dropped. `field` is one of SCORE_FIELDS."""
    field = score["field"]
    scores = CustomerScore._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {STAGE} SET score = (SELECT v.{field} FROM {scores} v"  # noqa: S608
            f" WHERE v.customer_id = {STAGE}.customer_id)"
        )
        drop, params = "score IS NULL", []
        if "min" in score:
            drop, params = f"{drop} OR score < %s", [score["min"]]
        else:
            limit = score.get("top_n") or _top_share(cursor, score["top_share"])
            # The last one kept (ranked by score, then customer for ties).
            cursor.execute(
                f"SELECT score, customer_id FROM {STAGE} WHERE score IS NOT NULL"  # noqa: S608
                " ORDER BY score DESC, customer_id LIMIT 1 OFFSET %s",
                [limit - 1],
            )
            last = cursor.fetchone()
            if last:
                drop += " OR score < %s OR (score = %s AND customer_id > %s)"
                params = [last[0], last[0], last[1]]
        cursor.execute(f"DELETE FROM {STAGE} WHERE {drop}", params)  # noqa: S608
        return cursor.rowcount


def _top_share(cursor, share: float) -> int:
    cursor.execute(f"SELECT COUNT(*) FROM {STAGE} WHERE score IS NOT NULL")  # noqa: S608
    return math.ceil(cursor.fetchone()[0] * share)


def stage_counts() -> dict[str, int]:
    """The staged customers per suppression reason (every reason, 0 if
    none) and `eligible`, the ones no rule suppressed."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT suppression, COUNT(*) FROM {STAGE} GROUP BY suppression"  # noqa: S608
        )
        found = dict(cursor.fetchall())
    counts = {
        reason.value: found.get(reason.value, 0)
        for reason in Suppression
        if reason != Suppression.DUPLICATE
    }
    counts["eligible"] = found.get("", 0)
    return counts


def stage_eligible() -> RawSQL:
    """The staged customers no rule suppressed, for `pk__in=`."""
    return RawSQL(f"SELECT customer_id FROM {STAGE} WHERE suppression = ''", [])  # noqa: S608


def members_write(campaign: Campaign, arms: str) -> int:
    """Writes the staged customers as members of `campaign`, each with its
    arm, wave, stratum and code from the table `arms` (customer_id,
    variant_id, wave, stratum, code); returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Member._meta.db_table} (campaign_id, customer_id,"  # noqa: S608
            " segment_id, score, suppression, variant_id, wave, stratum, code,"
            " status, contact, message_id, error, outcome, orders, revenue, margin)"
            " SELECT %s, s.customer_id, s.segment_id, s.score, s.suppression,"
            " a.variant_id, COALESCE(a.wave, ''), COALESCE(a.stratum, ''), a.code,"
            " 'pending', '', '', '', '', 0, 0, 0"
            f" FROM {STAGE} s LEFT JOIN {arms} a ON a.customer_id = s.customer_id"
            # In customer order, the index on customer is written in order.
            " ORDER BY s.customer_id",
            [campaign.pk],
        )
        return cursor.rowcount


# Suppression ------------------------------------------------------------------


# The rules below are written once for both places they run: on members
# (the customer is `customer_id`) and on customers while they are inserted
# as members (`pk`).
MEMBER, CUSTOMER = "customer_id", "pk"


def _not_live(ref: str) -> Q:
    gone = Q(archived_at__isnull=False) | Q(merged_into__isnull=False)
    if ref == CUSTOMER:
        return gone
    return Q(Exists(Customer.objects.filter(gone, pk=OuterRef(ref))))


def _do_not_contact(channels: list[str], now: dt.datetime, ref: str) -> Q:
    """Listed as a customer, or by one of the customer's phone numbers or
    e-mail addresses, for all channels or one the campaign uses."""
    active = DoNotContact.objects.filter(
        Q(lifted_at__isnull=True) | Q(lifted_at__gt=now),
        Q(channel="") | Q(channel__in=channels),
        added_at__lte=now,
    )
    listed = active.filter(customer_id=OuterRef(ref))
    numbers = Identifier.objects.filter(
        customer_id=OuterRef(ref),
        value__in=active.exclude(value="").values("value"),
    )
    return Q(Exists(listed)) | Q(Exists(numbers))


def _no_consent(channels: list[str], purpose: str, ref: str) -> Q:
    """Opt-in: the current state (the latest ledger entry) for each channel
    must be a grant; no entry at all is no consent."""
    q = Q(pk__in=[])
    for channel in channels:
        granted = ConsentState.objects.filter(
            customer_id=OuterRef(ref),
            channel=channel,
            purpose=purpose,
            status=ConsentStatus.GRANTED,
        )
        q |= ~Q(Exists(granted))
    return q


def _no_address(channels: list[str], ref: str) -> Q:
    q = Q(pk__in=[])
    for channel in channels:
        if channel in _POSTAL_CHANNELS:
            found = Address.objects.filter(
                customer_id=OuterRef(ref), is_valid=True
            ).exclude(street="")
        else:
            found = Identifier.objects.filter(
                customer_id=OuterRef(ref),
                type__in=_CHANNEL_IDENTIFIERS[channel],
                is_live=True,
            )
        q |= ~Q(Exists(found))
    return q


def _recently_contacted(days: int, now: dt.datetime, ref: str) -> Q:
    if not days:
        return Q(pk__in=[])
    recent = Interaction.objects.filter(
        customer_id=OuterRef(ref),
        direction=Direction.OUTBOUND,
        occurred_at__gte=now - dt.timedelta(days=days),
    )
    return Q(Exists(recent))


def suppression_rules(
    campaign: Campaign, channels: list[str], now: dt.datetime, ref: str = MEMBER
) -> list[tuple[str, Q]]:
    """(reason, condition) in the order they are checked; conditions on
    Member, or on Customer with `ref=CUSTOMER`."""
    return [
        (Suppression.NOT_LIVE, _not_live(ref)),
        (Suppression.DO_NOT_CONTACT, _do_not_contact(channels, now, ref)),
        (Suppression.NO_CONSENT, _no_consent(channels, campaign.purpose, ref)),
        (Suppression.NO_ADDRESS, _no_address(channels, ref)),
        (
            Suppression.RECENTLY_CONTACTED,
            _recently_contacted(campaign.frequency_cap_days, now, ref),
        ),
    ]


def first_reason(campaign: Campaign, channels: list[str], now: dt.datetime) -> Case:
    """The first suppression reason that applies to a customer ("" if none),
    as one SQL expression: members are inserted with it, so a selection
    writes each member once instead of updating it rule by rule."""
    rules = suppression_rules(campaign, channels, now, ref=CUSTOMER)
    return Case(
        *(When(condition, then=Value(reason.value)) for reason, condition in rules),
        default=Value(""),
        output_field=CharField(),
    )


def contactable(members: QuerySet, campaign: Campaign, channel: str) -> QuerySet:
    """`members` that may be contacted on `channel` now. Senders call this
    just before each batch: consent withdrawn, a number put on the
    do-not-contact list or a merge since the selection all count. The
    frequency cap is not checked again (the campaign's own sends would trip
    it)."""
    now = timezone.now()
    blocked = Q(pk__in=[])
    for reason, condition in suppression_rules(campaign, [channel], now):
        if reason != Suppression.RECENTLY_CONTACTED:
            blocked |= condition
    return members.exclude(blocked)
