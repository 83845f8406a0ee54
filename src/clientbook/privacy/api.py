import datetime as dt
import uuid as uuid_lib

from ninja import Router, Schema, Status

from clientbook.customers.api import customer_or_404, source_by_code
from clientbook.privacy import selectors, services

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
