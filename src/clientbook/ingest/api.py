"""/api/v1/imports: upload a file or send rows, then follow the job.

Both ways go through the same job machinery as the web UI and the CLI:
rows sent as JSON are written to a JSON Lines file and imported from it.
Small inputs run within the request (201 with the finished job); larger
ones are queued for `clientbook worker` (202 with the waiting job; poll
GET /imports/{uuid}). See `launch.py` for the limit.
"""

import datetime as dt
import json
import uuid as uuid_lib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from clientbook.customers.api import source_by_code
from clientbook.errors import NotFound, ValidationFailed
from clientbook.ingest.launch import import_job_start
from clientbook.ingest.models import ImportJob, JobStatus, MappingTemplate
from clientbook.ingest.selectors import (
    can_download_rejects,
    import_job_get_for_user,
    import_job_list_for_user,
    reject_rows,
)
from clientbook.ingest.services import import_job_create
from clientbook.ingest.uploads import rows_write_jsonl, upload_keep
from clientbook.org.access import ensure_can_edit

router = Router(tags=["imports"])


# Schemas ----------------------------------------------------------------------


class Counts(Schema):
    read: int
    created: int
    updated: int
    unchanged: int
    merged: int
    rejected: int


class JobOut(Schema):
    uuid: uuid_lib.UUID
    kind: str
    source: str
    file_name: str
    file_sha256: str
    sheet: str
    mapping: dict[str, str]
    template: str | None
    dry_run: bool
    status: str
    error: str
    started_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    rows_done: int
    rows_total: int | None
    counts: Counts


class JobPage(Schema):
    items: list[JobOut]
    page: int
    page_size: int
    has_next: bool


class UploadIn(Schema):
    kind: str = "customers"
    source: str = Field(..., description="Code of the source the file comes from")
    mapping: str = Field(
        "",
        description='JSON object {"column": "target"}; empty: the source\'s '
        "template or a guess from the headers",
    )
    template: str = Field("", description="Name of a saved mapping of the source")
    sheet: str = Field("", description="XLSX sheet (default: the first)")
    dry_run: bool = False


class RowsIn(Schema):
    kind: str = "customers"
    source: str = Field(..., description="Code of the source the rows come from")
    mapping: dict[str, str] | None = Field(
        None, description="key → target; none: the source's template or a guess"
    )
    template: str = ""
    dry_run: bool = False
    name: str = Field("", description="A name for the batch, shown as its file name")
    rows: list[dict[str, Any]]


class RejectOut(Schema):
    row_number: int
    column: str
    value: str
    reason: str
    code: str
    raw: dict[str, Any] | None = Field(
        None, description="The row as read; for who started the job or may see PII"
    )


class RejectPage(Schema):
    items: list[RejectOut]
    page: int
    page_size: int
    total: int
    has_next: bool


# Helpers --------------------------------------------------------------------------


def job_out(job: ImportJob) -> dict[str, Any]:
    return {
        "uuid": job.uuid,
        "kind": job.kind,
        "source": job.source.code,
        "file_name": job.file_name,
        "file_sha256": job.file_sha256,
        "sheet": job.sheet,
        "mapping": job.mapping,
        "template": job.template.name if job.template else None,
        "dry_run": job.dry_run,
        "status": job.status,
        "error": job.error,
        "started_by": job.started_by.username if job.started_by else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "counts": {name: getattr(job, name) for name in Counts.model_fields},
    }


def _started(job: ImportJob, *, rows: int | None = None):
    ran = import_job_start(job=job, rows=rows)
    job = ImportJob.objects.select_related("source", "started_by", "template").get(
        pk=job.pk
    )
    return Status(201 if ran else 202, job_out(job))


def _job_or_404(request, uuid) -> ImportJob:
    job = import_job_get_for_user(user=request.user, uuid=uuid)
    if job is None:
        raise NotFound("not_found", _("No such import."), value=str(uuid))
    return job


def _template(source, kind: str, name: str) -> MappingTemplate | None:
    if not name:
        return None
    template = MappingTemplate.objects.filter(
        source=source, kind=kind, name=name
    ).first()
    if template is None:
        raise ValidationFailed(
            "unknown_template",
            _("The source has no saved mapping “%(name)s”.") % {"name": name},
            field="template",
            value=name,
        )
    return template


def _mapping(text: str) -> dict[str, str] | None:
    if not text.strip():
        return None
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ValidationFailed(
            "invalid",
            _(
                "The mapping must be a JSON object of column names to fields, "
                'such as {"姓名": "name"}.'
            ),
            field="mapping",
            value=text[:200],
        )
    return mapping


# Endpoints ----------------------------------------------------------------------


@router.get("", response=JobPage)
def import_list(request, page: int = 1, page_size: int = 50):
    """The caller's visible jobs, newest first."""
    page, page_size = max(page, 1), min(max(page_size, 1), 500)
    start = (page - 1) * page_size
    jobs = import_job_list_for_user(user=request.user).select_related("template")
    rows = list(jobs[start : start + page_size + 1])
    return {
        "items": [job_out(j) for j in rows[:page_size]],
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
    }


@router.post("", response={201: JobOut, 202: JobOut})
def import_upload(request, payload: Form[UploadIn], file: File[UploadedFile]):
    """Uploads a CSV, XLSX or JSON Lines file and starts its import."""
    ensure_can_edit(request.user)  # before anything is kept
    source = source_by_code(payload.source)
    template = _template(source, payload.kind, payload.template)
    mapping = _mapping(payload.mapping)
    path = upload_keep(uploaded=file)
    job = import_job_create(
        path=path,
        source=source,
        actor=request.user,
        kind=payload.kind,
        mapping=mapping,
        template=template,
        sheet=payload.sheet,
        dry_run=payload.dry_run,
        file_name=Path(file.name or path.name).name,
    )
    return _started(job)


@router.post("/rows", response={201: JobOut, 202: JobOut})
def import_rows(request, payload: RowsIn):
    """Imports rows sent as JSON objects (up to API_BULK_LIMIT a request),
    through a JSON Lines file, exactly as an uploaded file would be."""
    ensure_can_edit(request.user)
    limit = settings.CLIENTBOOK["API_BULK_LIMIT"]
    if not payload.rows or len(payload.rows) > limit:
        raise ValidationFailed(
            "rows_count",
            _("Send between 1 and %(limit)s rows.") % {"limit": limit},
            field="rows",
            value=len(payload.rows),
        )
    source = source_by_code(payload.source)
    template = _template(source, payload.kind, payload.template)
    path = rows_write_jsonl(payload.rows)
    try:
        job = import_job_create(
            path=path,
            source=source,
            actor=request.user,
            kind=payload.kind,
            mapping=payload.mapping,
            template=template,
            dry_run=payload.dry_run,
            file_name=payload.name or "api-rows.jsonl",
        )
    finally:
        path.unlink(missing_ok=True)  # the job keeps its own copy, by hash
    return _started(job, rows=len(payload.rows))


@router.get("/{uuid}", response=JobOut)
def import_get(request, uuid: uuid_lib.UUID):
    return job_out(_job_or_404(request, uuid))


@router.post("/{uuid}/import", response={201: JobOut, 202: JobOut})
def import_confirm(request, uuid: uuid_lib.UUID):
    """Imports for real what a finished dry run previewed."""
    dry = _job_or_404(request, uuid)
    if not dry.dry_run or dry.status != JobStatus.DONE:
        raise ValidationFailed(
            "not_a_finished_dry_run",
            _("Only a finished dry run can be imported for real."),
            field="uuid",
            value=str(uuid),
        )
    job = import_job_create(
        path=Path(dry.file_path),
        source=dry.source,
        actor=request.user,
        kind=dry.kind,
        mapping=dry.mapping,
        template=dry.template,
        sheet=dry.sheet,
        file_name=dry.file_name,
    )
    return _started(job)


@router.get("/{uuid}/rejects", response=RejectPage)
def import_rejects(request, uuid: uuid_lib.UUID, page: int = 1, page_size: int = 100):
    """The rejected rows, by row number; values of identifier columns masked
    for users without `view_pii`."""
    job = _job_or_404(request, uuid)
    page, page_size = max(page, 1), min(max(page_size, 1), 1000)
    start = (page - 1) * page_size
    rejects = list(job.rejects.all()[start : start + page_size + 1])
    shown = rejects[:page_size]
    raw = can_download_rejects(request.user, job)
    items = [
        {**row, "raw": reject.raw if raw else None}
        for row, reject in zip(
            reject_rows(request.user, job, shown), shown, strict=True
        )
    ]
    return {
        "items": items,
        "page": page,
        "page_size": page_size,
        "total": job.rejects.count(),
        "has_next": len(rejects) > page_size,
    }
