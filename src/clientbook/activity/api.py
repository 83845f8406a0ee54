import datetime as dt
import uuid as uuid_lib

from ninja import Router, Schema, Status

from clientbook.activity import services
from clientbook.customers.api import customer_or_404, source_by_code

router = Router(tags=["activity"])


class InteractionIn(Schema):
    channel: str
    direction: str
    type: str
    source: str
    occurred_at: dt.datetime | None = None
    summary: str = ""
    outcome: str = ""


class InteractionOut(Schema):
    uuid: uuid_lib.UUID
    channel: str
    direction: str
    type: str
    occurred_at: dt.datetime
    staff: str | None
    summary: str
    outcome: str
    source: str


def _out(item) -> dict:
    return {
        "uuid": item.uuid,
        "channel": item.channel,
        "direction": item.direction,
        "type": item.type,
        "occurred_at": item.occurred_at,
        "staff": item.staff.username if item.staff else None,
        "summary": item.summary,
        "outcome": item.outcome,
        "source": item.source.code,
    }


@router.get("/customers/{uuid}/interactions", response=list[InteractionOut])
def interaction_list(request, uuid: uuid_lib.UUID, limit: int = 100):
    customer = customer_or_404(request, uuid)
    items = customer.interactions.select_related("staff", "source").order_by(
        "-occurred_at"
    )[: min(max(limit, 1), 1000)]
    return [_out(i) for i in items]


@router.post("/customers/{uuid}/interactions", response={201: InteractionOut})
def interaction_record(request, uuid: uuid_lib.UUID, payload: InteractionIn):
    item = services.interaction_record(
        customer=customer_or_404(request, uuid),
        channel=payload.channel,
        direction=payload.direction,
        type=payload.type,
        source=source_by_code(payload.source),
        occurred_at=payload.occurred_at,
        summary=payload.summary,
        outcome=payload.outcome,
        actor=request.user,
    )
    return Status(201, _out(item))
