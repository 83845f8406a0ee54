import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from clientbook.activity.models import (
    Direction,
    Interaction,
    InteractionChannel,
    InteractionType,
)
from clientbook.errors import ValidationFailed
from clientbook.org.access import ensure_can_edit
from clientbook.privacy.models import Source
from clientbook.privacy.services import audit_record, snapshot

_CHOICES = {
    "channel": InteractionChannel,
    "direction": Direction,
    "type": InteractionType,
}


@transaction.atomic
def interaction_record(
    *,
    customer,
    channel: str,
    direction: str,
    type: str,
    source: Source,
    occurred_at: dt.datetime | str | None = None,
    staff=None,
    summary: str = "",
    outcome: str = "",
    actor=None,
) -> Interaction:
    """Puts one contact on the customer's timeline."""
    ensure_can_edit(actor, customer)
    for field, value in {
        "channel": channel,
        "direction": direction,
        "type": type,
    }.items():
        if value not in _CHOICES[field].values:
            raise ValidationFailed(
                "invalid",
                _("“%(value)s” is not a valid choice.") % {"value": value},
                field=field,
                value=value,
            )
    occurred_at = _when(occurred_at)
    interaction = Interaction.objects.create(
        customer=customer,
        channel=channel,
        direction=direction,
        type=type,
        occurred_at=occurred_at,
        staff=staff if staff is not None else _staff(actor),
        summary=summary.strip(),
        outcome=outcome.strip(),
        source=source,
    )
    audit_record(
        actor=actor,
        action="interaction.record",
        obj=interaction,
        customer=customer,
        after=snapshot(
            interaction, ["channel", "direction", "type", "occurred_at", "outcome"]
        ),
    )
    return interaction


def _staff(actor) -> Any:
    return actor if actor is not None and actor.pk else None


def _when(value: dt.datetime | str | None) -> dt.datetime:
    if value is None:
        return timezone.now()
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValidationFailed(
                "invalid", _("Not a date and time."), field="occurred_at", value=value
            )
        value = parsed
    return timezone.make_aware(value) if timezone.is_naive(value) else value
