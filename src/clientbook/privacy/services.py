"""Writes of the privacy app: sources, the consent ledger and the audit log."""

import datetime as dt
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.errors import ValidationFailed
from clientbook.org.access import ensure_can_edit
from clientbook.privacy.models import (
    AuditEntry,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentStatus,
    Source,
)

_encoder = DjangoJSONEncoder()


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-ready copy of a model's field values, for the audit log."""
    data = model_to_dict(obj, fields=fields)
    return {k: _jsonable(v) for k, v in data.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return _encoder.default(value)


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model,
    customer=None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Writes one audit entry; call it inside the service's transaction."""
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        entity=obj._meta.label_lower,
        entity_id=str(obj.pk),
        customer=customer,
        before=before,
        after=after,
    )


def audit_changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields that changed, before and after."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


@transaction.atomic
def source_create(
    *,
    code: str,
    name: str,
    kind: str,
    legal_basis: str,
    trust: int = 50,
    description: str = "",
    actor=None,
) -> Source:
    source = Source.objects.create(
        code=code,
        name=name,
        kind=kind,
        legal_basis=legal_basis,
        trust=trust,
        description=description,
    )
    audit_record(
        actor=actor, action="source.create", obj=source, after=snapshot(source)
    )
    return source


def _check_choice(field: str, value: str, choices) -> None:
    if value not in choices.values:
        raise ValidationFailed(
            "invalid_choice",
            _("“%(value)s” is not a valid %(field)s.")
            % {"value": value, "field": field},
            field=field,
            value=value,
        )


@transaction.atomic
def consent_record(
    *,
    customer,
    channel: str,
    purpose: str,
    status: str,
    source: Source,
    occurred_at: dt.datetime | None = None,
    evidence: str = "",
    actor=None,
) -> Consent:
    """Adds an entry to the consent ledger; earlier entries stay as history."""
    ensure_can_edit(actor, customer)
    _check_choice("channel", channel, ConsentChannel)
    _check_choice("purpose", purpose, ConsentPurpose)
    _check_choice("status", status, ConsentStatus)
    consent = Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        status=status,
        source=source,
        occurred_at=occurred_at or timezone.now(),
        evidence=evidence,
        recorded_by=actor if actor is not None and actor.pk else None,
    )
    audit_record(
        actor=actor,
        action="consent.record",
        obj=consent,
        customer=customer,
        after=snapshot(consent, ["channel", "purpose", "status", "source", "evidence"]),
    )
    return consent
