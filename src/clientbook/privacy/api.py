import datetime as dt
import uuid as uuid_lib

from ninja import Router, Schema, Status

from clientbook.customers.api import customer_or_404, source_by_code
from clientbook.org.access import can_view_pii
from clientbook.privacy import selectors, services
from clientbook.privacy.masking import mask_audit_data

router = Router(tags=["privacy"])


class SourceOut(Schema):
    code: str
    name: str
    kind: str
    legal_basis: str
    trust: int


class ConsentIn(Schema):
    channel: str
    purpose: str
    status: str
    source: str
    occurred_at: dt.datetime | None = None
    evidence: str = ""


class ConsentOut(Schema):
    id: int
    channel: str
    purpose: str
    status: str
    source: str
    occurred_at: dt.datetime
    evidence: str


class ConsentState(Schema):
    channel: str
    purpose: str
    status: str
    since: dt.datetime | None


class Consents(Schema):
    current: list[ConsentState]
    history: list[ConsentOut]


class AuditOut(Schema):
    at: dt.datetime
    actor: str | None
    action: str
    entity: str
    entity_id: str
    before: dict | list | None
    after: dict | list | None


def _consent_out(entry) -> dict:
    return {
        "id": entry.pk,
        "channel": entry.channel,
        "purpose": entry.purpose,
        "status": entry.status,
        "source": entry.source.code,
        "occurred_at": entry.occurred_at,
        "evidence": entry.evidence,
    }


@router.get("/sources", response=list[SourceOut])
def source_list(request):
    return list(selectors.source_list())


@router.get("/customers/{uuid}/consents", response=Consents)
def consent_list(request, uuid: uuid_lib.UUID):
    """The current state per channel × purpose (derived) and the full ledger."""
    customer = customer_or_404(request, uuid)
    current = [
        {
            "channel": channel,
            "purpose": purpose,
            "status": entry.status if entry else "unknown",
            "since": entry.occurred_at if entry else None,
        }
        for (channel, purpose), entry in selectors.consent_current(customer).items()
    ]
    history = [_consent_out(e) for e in selectors.consent_history(customer)]
    return {"current": current, "history": history}


@router.post("/customers/{uuid}/consents", response={201: ConsentOut})
def consent_record(request, uuid: uuid_lib.UUID, payload: ConsentIn):
    entry = services.consent_record(
        customer=customer_or_404(request, uuid),
        channel=payload.channel,
        purpose=payload.purpose,
        status=payload.status,
        source=source_by_code(payload.source),
        occurred_at=payload.occurred_at,
        evidence=payload.evidence,
        actor=request.user,
    )
    return Status(201, _consent_out(entry))


@router.get("/customers/{uuid}/audit", response=list[AuditOut])
def audit_list(request, uuid: uuid_lib.UUID, limit: int = 200):
    """Who changed what on this customer, newest first; identifier values are
    masked for callers without view_pii."""
    customer = customer_or_404(request, uuid)
    clear = can_view_pii(request.user)
    entries = selectors.audit_list_for_customer(customer)[: min(max(limit, 1), 1000)]
    return [
        {
            "at": e.at,
            "actor": e.actor.username if e.actor else None,
            "action": e.action,
            "entity": e.entity,
            "entity_id": e.entity_id,
            "before": e.before if clear else mask_audit_data(e.before),
            "after": e.after if clear else mask_audit_data(e.after),
        }
        for e in entries
    ]
