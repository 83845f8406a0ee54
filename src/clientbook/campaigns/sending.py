"""Sending a campaign's e-mails and SMS: a Dispatch row per send, the work
in the background worker (`clientbook worker`).

At most once, by construction: a batch of members is claimed (status
`sending`, committed) before anything goes out, and each member's result
is committed with its batch. A run that dies leaves its batch in `sending`;
the next run marks those `interrupted` — they may or may not have gone out,
so they are never sent again automatically — and carries on with the
members still `pending`. Only one run of a campaign works at a time (a lock
the database or the operating system drops when the process dies).

Consent can change between selection and send: `selection.contactable` is
asked again for every batch, right before it goes out.
"""

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.activity.models import Direction, Interaction, InteractionType
from clientbook.campaigns.channels import SENT_BY_JOB
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    Dispatch,
    Member,
    Stage,
    Suppression,
    Wave,
)
from clientbook.campaigns.selection import contactable, suppression_rules
from clientbook.campaigns.services import campaign_source, ensure_can_run
from clientbook.customers.models import Identifier, IdentifierType
from clientbook.errors import ValidationFailed
from clientbook.privacy.models import ConsentChannel
from clientbook.privacy.services import audit_record

logger = logging.getLogger(__name__)

BATCH = 50
_ADDRESS_TYPES = {
    ConsentChannel.EMAIL: IdentifierType.EMAIL,
    ConsentChannel.SMS: IdentifierType.MOBILE,
}
_TYPES = {
    ConsentChannel.EMAIL: InteractionType.EMAIL,
    ConsentChannel.SMS: InteractionType.SMS,
}


def batch_size() -> int:
    return int(settings.CLIENTBOOK.get("CAMPAIGN_SEND_BATCH", BATCH))


# Starting ---------------------------------------------------------------------


@transaction.atomic
def campaign_send(*, campaign: Campaign, actor) -> Dispatch:
    """Queues the sending of the campaign's e-mails and SMS: the test
    sample in the test stage, every member not yet sent in execution.

    Raises:
        ValidationFailed: not in the test or execution stage.
        AccessDenied: a role that may not run campaigns.
    """
    ensure_can_run(actor)
    campaign = Campaign.objects.get(pk=campaign.pk)
    if campaign.stage not in (Stage.TEST, Stage.EXECUTE):
        raise ValidationFailed(
            ErrorCode.INVALID_STAGE,
            _("Messages are sent in the test or execution stage only."),
            field="stage",
            value=campaign.stage,
        )
    dispatch = Dispatch.objects.create(
        campaign=campaign,
        wave=Wave.TEST if campaign.stage == Stage.TEST else "",
        started_by=actor if actor is not None and actor.pk else None,
        started_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="campaign.send",
        obj=campaign,
        after={"dispatch": dispatch.pk, "stage": campaign.stage},
    )
    from clientbook.campaigns.tasks import dispatch_task

    transaction.on_commit(lambda: dispatch_task.enqueue(dispatch.pk))
    return dispatch


def to_send(campaign: Campaign, wave: str) -> QuerySet:
    """The members a dispatch of `wave` sends, pending or not."""
    members = Member.objects.filter(
        campaign=campaign,
        suppression="",
        variant__is_control=False,
        variant__channel__in=SENT_BY_JOB,
    )
    return members.filter(wave=Wave.TEST) if wave == Wave.TEST else members


# Running ----------------------------------------------------------------------


def dispatch_run(dispatch: Dispatch, *, providers: dict | None = None) -> Dispatch:
    """Does the dispatch's work (see the module's docstring). Safe to run
    again at any time: it never sends to a member twice.

    Args:
        providers: channel → sender, instead of the configured ones (tests).
    """
    campaign = dispatch.campaign
    with _run_lock(campaign) as locked:
        if locked:
            _interrupted(dispatch)
            for channel in SENT_BY_JOB:
                _send_channel(dispatch, channel, (providers or {}).get(channel))
    Dispatch.objects.filter(pk=dispatch.pk).update(finished_at=timezone.now())
    dispatch.refresh_from_db()
    return dispatch


def _interrupted(dispatch: Dispatch) -> int:
    """Members a killed run left in `sending`: never resent."""
    count = Member.objects.filter(
        campaign=dispatch.campaign, status=ContactStatus.SENDING
    ).update(
        status=ContactStatus.INTERRUPTED,
        error=_("The send job stopped while sending; not sent again."),
    )
    if count:
        Dispatch.objects.filter(pk=dispatch.pk).update(
            interrupted=F("interrupted") + count
        )
    return count


def _send_channel(dispatch: Dispatch, channel: str, sender) -> None:
    """Batches until none is pending. The connection is opened before the
    first claim, so a mail server that is down leaves everyone pending."""
    waiting = to_send(dispatch.campaign, dispatch.wave).filter(
        variant__channel=channel, status=ContactStatus.PENDING
    )
    if not waiting.exists():
        return
    with _sender(channel, sender) as send:
        while True:
            batch = _claim(dispatch, channel)
            if not batch:
                return
            allowed = _recheck(dispatch.campaign, channel, batch)
            if len(allowed) < len(batch):
                Dispatch.objects.filter(pk=dispatch.pk).update(
                    skipped=F("skipped") + len(batch) - len(allowed)
                )
            results = _deliver(channel, [m for m in batch if m.pk in allowed], send)
            _finish(dispatch, channel, batch, results)


def _claim(dispatch: Dispatch, channel: str) -> list[Member]:
    """Marks the next batch `sending` (committed) and returns it. The
    marker in `error` tells this run's claims from any other's."""
    marker = f"dispatch {dispatch.pk}"
    members = to_send(dispatch.campaign, dispatch.wave).filter(variant__channel=channel)
    with transaction.atomic():
        ids = list(
            members.filter(status=ContactStatus.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)[: batch_size()]
        )
        Member.objects.filter(pk__in=ids, status=ContactStatus.PENDING).update(
            status=ContactStatus.SENDING, error=marker
        )
    return list(
        Member.objects.filter(pk__in=ids, status=ContactStatus.SENDING, error=marker)
        .select_related("customer", "variant", "campaign")
        .order_by("pk")
    )


def _recheck(campaign: Campaign, channel: str, batch: list[Member]) -> set[int]:
    """Ids still contactable; the others are marked skipped with the first
    reason that applies (its code in `error`)."""
    ids = [m.pk for m in batch]
    allowed = set(
        contactable(Member.objects.filter(pk__in=ids), campaign, channel).values_list(
            "pk", flat=True
        )
    )
    blocked = [pk for pk in ids if pk not in allowed]
    if blocked:
        for reason, condition in suppression_rules(campaign, [channel], timezone.now()):
            if reason == Suppression.RECENTLY_CONTACTED:
                continue
            Member.objects.filter(pk__in=blocked, status=ContactStatus.SENDING).filter(
                condition
            ).update(status=ContactStatus.SKIPPED, error=reason.value)
    return allowed


def addresses(channel: str, customer_ids: list[int]) -> dict[int, str]:
    """Each customer's live e-mail address or mobile number (verified and
    most recently seen first)."""
    rows = (
        Identifier.objects.filter(
            customer_id__in=customer_ids, type=_ADDRESS_TYPES[channel], is_live=True
        )
        .order_by("customer_id", "-is_verified", "-last_seen", "-id")
        .values_list("customer_id", "value")
    )
    found: dict[int, str] = {}
    for customer_id, value in rows:
        found.setdefault(customer_id, value)
    return found


def _deliver(channel: str, members: list[Member], send) -> dict[int, tuple]:
    """member id → (status, contact, error, at, message id). Sends one by
    one: a member whose message fails does not stop the others."""
    found = addresses(channel, [m.customer_id for m in members])
    results: dict[int, tuple] = {}
    for member in members:
        address = found.get(member.customer_id, "")
        try:
            message_id = str(send(member, address) or "")
        except Exception as exc:  # noqa: BLE001 (reported on the member)
            logger.warning("send to member %s failed: %s", member.pk, exc)
            results[member.pk] = (ContactStatus.FAILED, address, str(exc), None, "")
        else:
            sent = (ContactStatus.SENT, address, "", timezone.now(), message_id)
            results[member.pk] = sent
    return results


@contextlib.contextmanager
def _sender(channel: str, sender) -> Iterator:
    """A function (member, address) that sends or raises."""
    if channel == ConsentChannel.EMAIL:
        from clientbook.campaigns.channels import email

        with email.Sender() as mailer:
            yield mailer.send
        return
    from clientbook.campaigns.channels import sms

    provider = sender or sms.provider()

    def send_sms(member, number):
        text = sms.render_for(member)
        problem = sms.text_problem(text)
        if problem is not None:
            raise ValueError(problem.message)
        return provider.send(number, text)

    yield send_sms


@transaction.atomic
def _finish(dispatch: Dispatch, channel: str, batch, results) -> None:
    """Writes the batch's results, the timeline entries and the counts."""
    by_id = {m.pk: m for m in batch}
    changed = []
    for pk, (status, contact, error, at, message_id) in results.items():
        member = by_id[pk]
        member.status, member.contact = status, contact[:300]
        member.error, member.sent_at = error[:300], at
        member.message_id = message_id[:200]
        changed.append(member)
    Member.objects.bulk_update(
        changed, ["status", "contact", "error", "sent_at", "message_id"]
    )
    sent = [m for m in changed if m.status == ContactStatus.SENT]
    _timeline(dispatch, channel, sent)
    Dispatch.objects.filter(pk=dispatch.pk).update(
        sent=F("sent") + len(sent), failed=F("failed") + len(changed) - len(sent)
    )


def _timeline(dispatch: Dispatch, channel: str, members: list[Member]) -> None:
    source = campaign_source()
    Interaction.objects.bulk_create(
        Interaction(
            customer_id=m.customer_id,
            channel=channel,
            direction=Direction.OUTBOUND,
            type=_TYPES[channel],
            occurred_at=m.sent_at,
            staff_id=dispatch.started_by_id,
            summary=_("Campaign “%(name)s”: %(variant)s")
            % {"name": m.campaign.name, "variant": m.variant.name},
            outcome=ContactStatus.SENT.value,
            source=source,
        )
        for m in members
    )


# One run at a time ------------------------------------------------------------


@contextlib.contextmanager
def _run_lock(campaign: Campaign) -> Iterator[bool]:
    """Yields whether this process holds the campaign's send lock. Held by
    the database session (PostgreSQL) or an open file (SQLite), so a killed
    run never leaves it behind."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [7405, campaign.pk])
            locked = cursor.fetchone()[0]
        try:
            yield locked
        finally:
            if locked:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_unlock(%s, %s)", [7405, campaign.pk]
                    )
        return
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"campaign-send-{connection.settings_dict['NAME']}-{campaign.pk}"
    path = folder / (name.replace("/", "_") + ".lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pending_count(campaign: Campaign, wave: str = "") -> int:
    return (
        to_send(campaign, wave)
        .filter(Q(status=ContactStatus.PENDING) | Q(status=ContactStatus.SENDING))
        .count()
    )
