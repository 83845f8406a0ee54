"""/api/v1/duplicates: the review queue, decisions, merges and runs. Thin:
parse, call a service or selector, serialise."""

import datetime as dt
import uuid as uuid_lib

from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from clientbook.customers.api import customer_or_404
from clientbook.errors import NotFound
from clientbook.identity import selectors, services
from clientbook.identity.models import DedupeRun, DuplicatePair, Merge, PairStatus

router = Router(tags=["duplicates"])


class EvidenceOut(Schema):
    comparison: str
    label: str
    weight: float


class PairOut(Schema):
    uuid: uuid_lib.UUID
    customer_a: uuid_lib.UUID
    customer_b: uuid_lib.UUID
    probability: float
    match_weight: float
    status: str
    evidence: list[EvidenceOut]
    merge: uuid_lib.UUID | None = None


class MergeIn(Schema):
    survivor: uuid_lib.UUID
    duplicate: uuid_lib.UUID


class AcceptIn(Schema):
    survivor: uuid_lib.UUID | None = None


class MergeOut(Schema):
    uuid: uuid_lib.UUID
    survivor: uuid_lib.UUID
    duplicate: uuid_lib.UUID
    is_automatic: bool
    merged_at: dt.datetime
    undone_at: dt.datetime | None = None


class RunIn(Schema):
    auto_merge_above: float | None = None
    review_above: float | None = None
    dry_run: bool = False


class RunOut(Schema):
    uuid: uuid_lib.UUID
    status: str
    stage: str
    progress: float
    dry_run: bool
    auto_merge_above: float
    review_above: float
    customers: int
    candidates: int
    auto_merged: int
    queued: int
    skipped_rejected: int
    crowded: dict[str, int]
    error: str


def _pair(pair: DuplicatePair) -> dict:
    return {
        "uuid": pair.uuid,
        "customer_a": pair.customer_a.uuid,
        "customer_b": pair.customer_b.uuid,
        "probability": pair.probability,
        "match_weight": pair.match_weight,
        "status": pair.status,
        "evidence": pair.evidence,
        "merge": pair.merge.uuid if pair.merge_id else None,
    }


def _merge(merge: Merge) -> dict:
    return {
        "uuid": merge.uuid,
        "survivor": merge.survivor.uuid,
        "duplicate": merge.duplicate.uuid,
        "is_automatic": merge.is_automatic,
        "merged_at": merge.merged_at,
        "undone_at": merge.undone_at,
    }


def _pair_or_404(request, uuid) -> DuplicatePair:
    pair = selectors.pair_get_for_user(user=request.user, uuid=uuid)
    if pair is None:
        raise NotFound("not_found", _("No such pair."), value=str(uuid))
    return pair


@router.get("/pairs", response=list[PairOut])
def pair_list(
    request, status: str = PairStatus.PENDING, limit: int = 100, offset: int = 0
):
    pairs = selectors.pair_list_for_user(user=request.user, status=status)
    pairs = pairs.select_related("merge")[offset : offset + min(limit, 1000)]
    return [_pair(p) for p in pairs]


@router.get("/pairs/{uuid}", response=PairOut)
def pair_get(request, uuid: uuid_lib.UUID):
    return _pair(_pair_or_404(request, uuid))


@router.post("/pairs/{uuid}/accept", response={201: MergeOut})
def pair_accept(request, uuid: uuid_lib.UUID, body: AcceptIn):
    pair = _pair_or_404(request, uuid)
    survivor = customer_or_404(request, body.survivor) if body.survivor else None
    merge = services.duplicate_pair_accept(
        pair=pair, actor=request.user, survivor=survivor
    )
    return Status(201, _merge(merge))


@router.post("/pairs/{uuid}/reject", response=PairOut)
def pair_reject(request, uuid: uuid_lib.UUID):
    pair = services.duplicate_pair_reject(
        pair=_pair_or_404(request, uuid), actor=request.user
    )
    return _pair(pair)


@router.post("/merges", response={201: MergeOut})
def merge_create(request, body: MergeIn):
    merge = services.customer_merge(
        survivor=customer_or_404(request, body.survivor),
        duplicate=customer_or_404(request, body.duplicate),
        actor=request.user,
    )
    return Status(201, _merge(merge))


@router.post("/merges/{uuid}/undo", response=MergeOut)
def merge_undo(request, uuid: uuid_lib.UUID):
    merge = selectors.merge_get_for_user(user=request.user, uuid=uuid)
    if merge is None:
        raise NotFound("not_found", _("No such merge."), value=str(uuid))
    return _merge(services.customer_unmerge(merge=merge, actor=request.user))


@router.post("/runs", response={201: RunOut})
def run_start(request, body: RunIn):
    run = services.dedupe_run_start(actor=request.user, **body.dict())
    return Status(201, run)


@router.get("/runs/{uuid}", response=RunOut)
def run_get(request, uuid: uuid_lib.UUID) -> DedupeRun:
    run = selectors.run_get(uuid=uuid)
    if run is None:
        raise NotFound("not_found", _("No such run."), value=str(uuid))
    return run
