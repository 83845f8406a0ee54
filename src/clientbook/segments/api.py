"""/api/v1/segments: CRUD, preview of an unsaved definition, count, members,
snapshots and export. Thin: parse, call a service or selector, serialise.
A segment is addressed by its UUID or its name."""

import datetime as dt
import tempfile
import uuid as uuid_lib
from typing import Any

from django.http import FileResponse
from ninja import Router, Schema, Status

from clientbook.segments import exports, language, selectors, services
from clientbook.segments.models import Segment, SegmentSnapshot

router = Router(tags=["segments"])


class SegmentIn(Schema):
    name: str
    definition: dict[str, Any]
    kind: str = "dynamic"
    description: str = ""


class SegmentPatch(Schema):
    name: str | None = None
    definition: dict[str, Any] | None = None
    kind: str | None = None
    description: str | None = None


class SegmentOut(Schema):
    uuid: uuid_lib.UUID
    name: str
    description: str
    kind: str
    definition: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None


class PreviewIn(Schema):
    definition: dict[str, Any]
    sample: int = 20


class MemberOut(Schema):
    uuid: uuid_lib.UUID
    name: str
    kind: str
    gender: str
    lifecycle_stage: str
    branch: str | None


class PreviewOut(Schema):
    count: int
    sample: list[MemberOut]


class CountOut(Schema):
    count: int


class MemberPage(Schema):
    items: list[MemberOut]
    page: int
    page_size: int
    has_next: bool


class SnapshotOut(Schema):
    uuid: uuid_lib.UUID
    count: int
    taken_at: dt.datetime
    definition: dict[str, Any]


class FieldOut(Schema):
    name: str
    label: str
    group: str
    type: str
    ops: list[str]
    choices: list[str]
    params: list[dict[str, Any]]


def _segment(ref: str) -> Segment:
    return selectors.segment_get(ref=ref)


def segment_out(segment: Segment) -> dict:
    return {
        "uuid": segment.uuid,
        "name": segment.name,
        "description": segment.description,
        "kind": segment.kind,
        "definition": segment.definition,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
        "archived_at": segment.archived_at,
    }


def member_out(customer) -> dict:
    return {
        "uuid": customer.uuid,
        "name": customer.name,
        "kind": customer.kind,
        "gender": customer.gender,
        "lifecycle_stage": customer.lifecycle_stage,
        "branch": customer.branch.code if customer.branch else None,
    }


def snapshot_out(snapshot: SegmentSnapshot) -> dict:
    return {
        "uuid": snapshot.uuid,
        "count": snapshot.count,
        "taken_at": snapshot.taken_at,
        "definition": snapshot.definition,
    }


@router.get("/fields", response=list[FieldOut])
def segment_fields(request):
    """The segment language: every field, its operators and parameters."""
    return [
        {
            "name": spec.name,
            "label": str(spec.label),
            "group": str(spec.group),
            "type": spec.type,
            "ops": list(spec.ops),
            "choices": list(spec.choices),
            "params": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "label": str(p.label),
                    "required": p.required,
                    "choices": list(p.choices),
                }
                for p in spec.params
            ],
        }
        for spec in language.FIELDS.values()
    ]


@router.get("", response=list[SegmentOut])
def segment_list(request, include_archived: bool = False):
    return [
        segment_out(s)
        for s in selectors.segment_list(include_archived=include_archived)
    ]


@router.post("", response={201: SegmentOut})
def segment_create(request, payload: SegmentIn):
    segment = services.segment_create(actor=request.user, **payload.dict())
    return Status(201, segment_out(segment))


@router.post("/preview", response=PreviewOut)
def segment_preview(request, payload: PreviewIn):
    """Count and sample of a definition without saving it."""
    queryset = selectors.definition_queryset(payload.definition, request.user)
    limit = min(max(payload.sample, 0), 100)
    return {
        "count": queryset.count(),
        "sample": [member_out(c) for c in selectors.sample_of(queryset, limit=limit)],
    }


@router.get("/{ref}", response=SegmentOut)
def segment_get(request, ref: str):
    return segment_out(_segment(ref))


@router.patch("/{ref}", response=SegmentOut)
def segment_update(request, ref: str, payload: SegmentPatch):
    changes = payload.dict(exclude_unset=True)
    segment = services.segment_update(
        segment=_segment(ref), actor=request.user, **changes
    )
    return segment_out(segment)


@router.delete("/{ref}", response=SegmentOut)
def segment_archive(request, ref: str):
    """Archives the segment (nothing is deleted)."""
    return segment_out(
        services.segment_archive(segment=_segment(ref), actor=request.user)
    )


@router.get("/{ref}/count", response=CountOut)
def segment_count(request, ref: str):
    return {"count": selectors.segment_count(_segment(ref), request.user)}


@router.get("/{ref}/members", response=MemberPage)
def segment_members(request, ref: str, page: int = 1, page_size: int = 100):
    """Members the caller may see, oldest record first."""
    page, page_size = max(page, 1), min(max(page_size, 1), 1000)
    start = (page - 1) * page_size
    members = selectors.segment_queryset(_segment(ref), request.user)
    rows = list(
        members.select_related("branch").order_by("pk")[start : start + page_size + 1]
    )
    return {
        "items": [member_out(c) for c in rows[:page_size]],
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
    }


@router.get("/{ref}/snapshots", response=list[SnapshotOut])
def segment_snapshots(request, ref: str):
    return [snapshot_out(s) for s in selectors.snapshot_list(_segment(ref))]


@router.post("/{ref}/snapshot", response={201: SnapshotOut})
def segment_snapshot(request, ref: str):
    snapshot = services.segment_snapshot(segment=_segment(ref), actor=request.user)
    return Status(201, snapshot_out(snapshot))


@router.get("/{ref}/export")
def segment_export(
    request, ref: str, format: str = "csv", columns: str = "", pii: bool = False
):
    """The members as CSV or XLSX; `columns` comma-separated (see
    `segments.exports.COLUMNS`); numbers masked unless `pii` and the caller
    holds view_pii."""
    segment = _segment(ref)
    chosen = [c.strip() for c in columns.split(",") if c.strip()] or None
    out = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    services.segment_export(
        segment=segment,
        actor=request.user,
        out=out,
        columns=chosen,
        format=format,
        pii=pii,
    )
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=f"segment-{segment.uuid}.{format}",
        content_type=exports.CONTENT_TYPES[format],
    )
