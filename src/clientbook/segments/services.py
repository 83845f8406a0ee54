"""Every write of the segments app: create, update, archive, snapshot and
export (an export is logged as well, since it lets personal data out)."""

from typing import IO

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.org.access import can_view_pii, ensure_can_edit
from clientbook.privacy.services import audit_record
from clientbook.segments import exports, language
from clientbook.segments.errors import ErrorCode
from clientbook.segments.models import (
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentSnapshot,
)
from clientbook.segments.selectors import segment_members_all, segment_queryset


def _clean_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationFailed(
            ErrorCode.NAME_REQUIRED, _("A segment needs a name."), field="name"
        )
    return name[:200]


def _clean_kind(kind: str) -> str:
    if kind not in SegmentKind.values:
        raise ValidationFailed(
            ErrorCode.INVALID_KIND,
            _("A segment is dynamic or static."),
            field="kind",
            value=kind,
        )
    return kind


def _name_free(name: str, *, exclude: int | None = None) -> None:
    taken = Segment.objects.filter(name=name).exclude(pk=exclude).exists()
    if taken:
        raise Conflict(
            ErrorCode.NAME_TAKEN,
            _("A segment named “%(name)s” already exists.") % {"name": name},
            field="name",
            value=name,
        )


def _state(segment: Segment) -> dict:
    return {
        "name": segment.name,
        "description": segment.description,
        "kind": segment.kind,
        "definition": segment.definition,
    }


@transaction.atomic
def segment_create(
    *,
    name: str,
    definition: dict,
    actor,
    kind: str = SegmentKind.DYNAMIC,
    description: str = "",
) -> Segment:
    """Saves a new segment; a static one gets its first snapshot at once.

    Raises:
        ValidationFailed: no name, unknown kind, or a bad definition (the
            error names the path of the bad node).
        Conflict: the name is taken.
        AccessDenied: a read-only role.
    """
    ensure_can_edit(actor)
    name = _clean_name(name)
    kind = _clean_kind(kind)
    definition = language.validate(definition)
    _name_free(name)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                name=name,
                description=description or "",
                kind=kind,
                definition=definition,
                created_by=actor if actor is not None and actor.pk else None,
            )
    except IntegrityError as exc:  # a concurrent create with the same name
        raise Conflict(
            ErrorCode.NAME_TAKEN,
            _("A segment named “%(name)s” already exists.") % {"name": name},
            field="name",
            value=name,
        ) from exc
    audit_record(
        actor=actor, action="segment.create", obj=segment, after=_state(segment)
    )
    if kind == SegmentKind.STATIC:
        segment_snapshot(segment=segment, actor=actor)
    return segment


@transaction.atomic
def segment_update(
    *,
    segment: Segment,
    actor,
    name: str | None = None,
    description: str | None = None,
    definition: dict | None = None,
    kind: str | None = None,
) -> Segment:
    """Changes what is given. A definition referring back to this segment,
    directly or through others, is refused (`segment_cycle`)."""
    ensure_can_edit(actor)
    _ensure_live(segment)
    before = _state(segment)
    if name is not None:
        segment.name = _clean_name(name)
        _name_free(segment.name, exclude=segment.pk)
    if description is not None:
        segment.description = description
    if kind is not None:
        segment.kind = _clean_kind(kind)
    if definition is not None:
        segment.definition = language.validate(
            definition, segment_uuid=str(segment.uuid)
        )
    segment.save()
    changed_before, changed_after = _changes(before, _state(segment))
    if changed_after:
        audit_record(
            actor=actor,
            action="segment.update",
            obj=segment,
            before=changed_before,
            after=changed_after,
        )
    becomes_static = kind == SegmentKind.STATIC and before["kind"] != kind
    if becomes_static and not segment.snapshots.exists():
        segment_snapshot(segment=segment, actor=actor)
    return segment


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _ensure_live(segment: Segment) -> None:
    if segment.archived_at is not None:
        raise Conflict(
            ErrorCode.ARCHIVED,
            _("Segment “%(name)s” is archived.") % {"name": segment.name},
            value=segment.name,
        )


@transaction.atomic
def segment_archive(*, segment: Segment, actor) -> Segment:
    """Archives a segment no live segment refers to."""
    ensure_can_edit(actor)
    _ensure_live(segment)
    keys = {str(segment.uuid), segment.name}
    users = [
        other.name
        for other in Segment.objects.filter(archived_at__isnull=True).exclude(
            pk=segment.pk
        )
        if keys & set(language.segment_refs(other.definition))
    ]
    if users:
        raise Conflict(
            ErrorCode.SEGMENT_CYCLE,
            _("Segments %(names)s still refer to this one.")
            % {"names": ", ".join(users)},
            value=segment.name,
        )
    segment.archived_at = timezone.now()
    segment.save(update_fields=["archived_at", "updated_at"])
    audit_record(
        actor=actor,
        action="segment.archive",
        obj=segment,
        after={"archived_at": segment.archived_at.isoformat()},
    )
    return segment


@transaction.atomic
def segment_snapshot(*, segment: Segment, actor) -> SegmentSnapshot:
    """Freezes who matches the definition now (all branches).

    The members are written by one INSERT … SELECT built from the segment's
    own query, so a million members never pass through Python."""
    ensure_can_edit(actor)
    _ensure_live(segment)
    definition = language.validate(segment.definition, segment_uuid=str(segment.uuid))
    snapshot = SegmentSnapshot.objects.create(
        segment=segment,
        definition=definition,
        taken_at=timezone.now(),
        taken_by=actor if actor is not None and actor.pk else None,
    )
    dynamic = Segment(
        pk=segment.pk,
        uuid=segment.uuid,
        kind=SegmentKind.DYNAMIC,
        definition=definition,
    )
    select = segment_members_all(dynamic).order_by().values_list("pk")
    sql, params = select.query.sql_with_params()
    table = SegmentMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (snapshot_id, customer_id) "  # noqa: S608
            f"SELECT %s, members.* FROM ({sql}) members",
            [snapshot.pk, *params],
        )
    snapshot.count = SegmentMember.objects.filter(snapshot=snapshot).count()
    snapshot.save(update_fields=["count"])
    audit_record(
        actor=actor,
        action="segment.snapshot",
        obj=segment,
        after={"snapshot": str(snapshot.uuid), "count": snapshot.count},
    )
    return snapshot


@transaction.atomic
def segment_export(
    *,
    segment: Segment,
    actor,
    out: IO[bytes],
    columns: list[str] | None = None,
    format: str = "csv",
    pii: bool | None = None,
) -> int:
    """Writes the members `actor` may see to `out` as CSV or XLSX and returns
    how many. National ID and phone numbers are masked unless `pii` (by
    default: whether `actor` holds view_pii); asking for `pii` without the
    permission is refused. `actor` None is the system (unscoped, masked).
    """
    columns = list(columns or exports.DEFAULT_COLUMNS)
    for i, key in enumerate(columns):
        if key not in exports.COLUMNS:
            raise ValidationFailed(
                ErrorCode.INVALID_COLUMN,
                _("Unknown column “%(column)s”.") % {"column": key},
                field=f"columns[{i}]",
                value=key,
            )
    if format not in exports.FORMATS:
        raise ValidationFailed(
            ErrorCode.INVALID_FORMAT,
            _("Export as csv or xlsx."),
            field="format",
            value=format,
        )
    allowed = actor is not None and can_view_pii(actor)
    if pii and not allowed:
        raise AccessDenied(
            ErrorCode.PII_DENIED,
            _("Unmasked national ID and phone numbers need the view_pii permission."),
        )
    show = allowed if pii is None else bool(pii)
    rows = exports.export_rows(segment_queryset(segment, actor), columns, pii=show)
    header = [str(exports.COLUMNS[k].label) for k in columns]
    writer = exports.write_csv if format == "csv" else exports.write_xlsx
    count = writer(out, header, rows)
    audit_record(
        actor=actor,
        action="segment.export",
        obj=segment,
        after={"format": format, "columns": columns, "count": count, "pii": show},
    )
    return count
