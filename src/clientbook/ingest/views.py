"""The import pages: upload, mapping screen, dry-run preview, progress,
result with the reject report, and the list of jobs.

An uploaded file waits for its mapping in IMPORT_DIR; what belongs to it
(name, kind, source, chosen template or mapping) is kept in the session
under a random token, so only the user who uploaded it can map it. Small
jobs run in the request, larger ones in `clientbook worker` (see
`launch.py`); a running job's page polls its progress with htmx.
"""

import uuid as uuid_lib
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from clientbook.errors import AccessDenied, ClientbookError
from clientbook.ingest import mapping as mappings
from clientbook.ingest.exports import import_rejects_xlsx
from clientbook.ingest.forms import MappingForm, UploadForm
from clientbook.ingest.launch import import_job_start
from clientbook.ingest.models import ImportJob, ImportKind, JobStatus, MappingTemplate
from clientbook.ingest.selectors import (
    can_download_rejects,
    import_job_get_for_user,
    import_job_list_for_user,
    mapping_target_groups,
    mapping_target_label,
    reject_rows,
)
from clientbook.ingest.services import (
    import_job_create,
    import_mapping_suggest,
    import_rejects_csv,
    mapping_template_save,
)
from clientbook.ingest.uploads import table_preview_checked, upload_keep
from clientbook.org.access import can_write
from clientbook.privacy.models import Source

SESSION_KEY = "ingest_uploads"
UPLOADS_KEPT = 20  # per session; older tokens are forgotten
JOBS_PER_PAGE = 50
REJECTS_PER_PAGE = 50
PREVIEW_REJECTS = 20


def _refused(request, exc: ClientbookError, back_url: str = "") -> HttpResponse:
    context = {"message": exc.message, "back_url": back_url}
    return render(request, "web/error.html", context, status=exc.status)


def _read_only(request) -> HttpResponse:
    exc = AccessDenied("read_only", _("Your role may not change data."))
    return _refused(request, exc, reverse("ingest:list"))


def _job_or_404(user, uuid) -> ImportJob:
    job = import_job_get_for_user(user=user, uuid=uuid)
    if job is None:
        raise Http404(_("No such import."))
    return job


# The uploaded file, waiting for its mapping -------------------------------------


def _stash(request, data: dict) -> str:
    token = uuid_lib.uuid4().hex
    uploads = dict(request.session.get(SESSION_KEY, {}))
    uploads[token] = data
    request.session[SESSION_KEY] = dict(list(uploads.items())[-UPLOADS_KEPT:])
    return token


def _stashed(request, token: str) -> dict:
    data = request.session.get(SESSION_KEY, {}).get(token)
    if data is None:
        raise Http404(_("This upload has expired; upload the file again."))
    return data


def _restash(request, token: str, **changes) -> None:
    uploads = dict(request.session.get(SESSION_KEY, {}))
    uploads[token] = {**uploads[token], **changes}
    request.session[SESSION_KEY] = uploads


def _stash_job(request, job: ImportJob) -> str:
    """Puts a job's file back on the mapping screen, with its mapping."""
    return _stash(
        request,
        {
            "path": job.file_path,
            "file_name": job.file_name,
            "kind": job.kind,
            "source": job.source_id,
            "template": job.template_id,
            "mapping": job.mapping,
            "sheet": job.sheet,
        },
    )


# The list of jobs --------------------------------------------------------------


@login_required
def job_list(request):
    jobs = import_job_list_for_user(user=request.user)
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "writable": can_write(request.user)}
    return render(request, "ingest/list.html", context)


# Upload ------------------------------------------------------------------------


@csrf_exempt
@login_required
def upload(request):
    # Every upload goes to a temporary file on disk however small, never into
    # memory whole. Handlers must be set before the body is read, which the
    # CSRF check does, hence the check inside instead of in the middleware.
    request.upload_handlers = [TemporaryFileUploadHandler(request)]
    return _upload(request)


@csrf_protect
def _upload(request):
    if not can_write(request.user):
        return _read_only(request)
    if request.method != "POST":
        form = UploadForm(initial=_upload_initial(request))
        return render(request, "ingest/upload.html", {"form": form})
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            path = upload_keep(uploaded=data["file"])
            table_preview_checked(path)
        except ClientbookError as exc:
            form.add_service_error(exc)
        else:
            token = _stash(
                request,
                {
                    "path": str(path),
                    "file_name": Path(data["file"].name).name,
                    "kind": data["kind"],
                    "source": data["source"].pk,
                    "template": data["template"].pk if data["template"] else None,
                    "mapping": _previous_mapping(request, data),
                    "sheet": "",
                },
            )
            return redirect("ingest:mapping", token)
    return render(request, "ingest/upload.html", {"form": form}, status=422)


def _upload_initial(request) -> dict:
    """?from=<job> pre-selects a job's source, kind and mapping (to import a
    corrected file); ?source=, ?kind= and ?template= preselect one each."""
    initial = {
        k: request.GET[k] for k in ("source", "kind", "template") if k in request.GET
    }
    try:
        previous = uuid_lib.UUID(request.GET.get("from", ""))
    except ValueError:
        previous = None
    if previous:
        job = import_job_get_for_user(user=request.user, uuid=previous)
        if job is not None:
            initial.update(
                source=job.source_id,
                kind=job.kind,
                template=job.template_id,
                from_job=job.uuid,
            )
    return initial


def _previous_mapping(request, data) -> dict | None:
    if not data.get("from_job") or data.get("template"):
        return None
    job = import_job_get_for_user(user=request.user, uuid=data["from_job"])
    if job is None or job.kind != data["kind"]:
        return None
    return job.mapping


# The mapping screen -----------------------------------------------------------


@login_required
def mapping(request, token: str):
    stash = _stashed(request, token)
    if not can_write(request.user):
        return _read_only(request)
    source = Source.objects.get(pk=stash["source"])
    template = MappingTemplate.objects.filter(pk=stash["template"]).first()
    kind, path = stash["kind"], Path(stash["path"])
    sheet = request.POST.get("sheet", request.GET.get("sheet", stash["sheet"]))
    try:
        preview = table_preview_checked(path, sheet=sheet)
    except ClientbookError as exc:
        return _refused(request, exc, reverse("ingest:upload"))
    if not preview.sheets:
        sheet = ""  # only workbooks have sheets
    elif not sheet:
        sheet = preview.sheets[0]
    form = MappingForm(
        request.POST if request.method == "POST" else None,
        headers=preview.headers,
        kind=kind,
        groups=mapping_target_groups(kind=kind),
        initial_mapping=_initial_mapping(stash, template, preview.headers, source),
        template_name=template.name if template else "",
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                job = _create_job(request, stash, form, source, template, sheet)
            except AccessDenied as exc:
                return _refused(request, exc, reverse("ingest:list"))
            except ClientbookError as exc:
                form.add_service_error(exc)
            else:
                _restash(request, token, mapping=job.mapping, sheet=sheet)
                import_job_start(job=job)
                return redirect("ingest:detail", job.uuid)
    context = {
        "form": form,
        "columns": [
            (field, preview.samples[field.label]) for field in form.column_fields()
        ],
        "stash": stash,
        "source": source,
        "kind_label": _kind_label(kind),
        "sheets": preview.sheets,
        "sheet": sheet,
        "token": token,
    }
    return render(request, "ingest/mapping.html", context, status=status)


def _kind_label(kind: str) -> str:
    return str(ImportKind(kind).label)


def _initial_mapping(stash, template, headers, source) -> dict:
    """The mapping carried over (a corrected file, a changed preview), else
    the chosen template's, else the source's newest fitting one or a guess."""
    if stash.get("mapping"):
        return {h: stash["mapping"].get(h, "") for h in headers}
    if template is not None:
        return {h: template.mapping.get(h, "") for h in headers}
    return import_mapping_suggest(headers=headers, kind=stash["kind"], source=source)


def _create_job(request, stash, form, source, template, sheet) -> ImportJob:
    """Checks the mapping, saves it as a template if asked, creates the job:
    a dry run unless the user chose to import straight away."""
    mapping_ = form.mapping()
    kind = stash["kind"]
    headers = form.headers
    mappings.validate_mapping(mapping_, kind=kind, headers=headers)
    if form.cleaned_data["save_template"]:
        template = mapping_template_save(
            source=source,
            kind=kind,
            name=form.cleaned_data["template_name"].strip(),
            mapping=mapping_,
            actor=request.user,
        )
    return import_job_create(
        path=Path(stash["path"]),
        source=source,
        actor=request.user,
        kind=kind,
        mapping=mapping_,
        template=template,
        sheet=sheet,
        dry_run=request.POST.get("action") != "import",
        file_name=stash["file_name"],
    )


# A job: progress, preview, result ----------------------------------------------


def job_context(request, job: ImportJob) -> dict:
    user = request.user
    rejects = job.rejects.all()
    finished = job.status in (JobStatus.DONE, JobStatus.FAILED)
    context = {
        "job": job,
        "progress": progress_figures(job),
        "writable": can_write(user),
        "can_download": can_download_rejects(user, job),
        "mapping_rows": [
            (column, mapping_target_label(job.kind, target))
            for column, target in job.mapping.items()
            if target
        ],
        "finished": finished,
    }
    if job.dry_run:
        context["rejects"] = reject_rows(user, job, rejects[:PREVIEW_REJECTS])
    else:
        page = Paginator(rejects, REJECTS_PER_PAGE).get_page(request.GET.get("page"))
        context["reject_page"] = page
        context["rejects"] = reject_rows(user, job, page.object_list)
    return context


def progress_figures(job: ImportJob) -> dict:
    """Rows done of the estimated total, the share, the rate and the time taken."""
    end = job.finished_at or timezone.now()
    seconds = (end - job.started_at).total_seconds() if job.started_at else 0
    share = None
    if job.rows_total:
        share = min(job.rows_done / job.rows_total, 1.0)
    return {
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "percent": round(share * 100) if share is not None else None,
        "rate": round(job.read / seconds) if seconds > 0 and job.read else None,
        "seconds": max(round(seconds, 1), 0.1) if job.started_at else None,
    }


@login_required
def detail(request, uuid):
    job = _job_or_404(request.user, uuid)
    return render(request, "ingest/job.html", job_context(request, job))


@login_required
def progress(request, uuid):
    """The progress box, polled by htmx; once the job has finished the
    whole page reloads to show the preview or the result."""
    job = _job_or_404(request.user, uuid)
    if job.status in (JobStatus.DONE, JobStatus.FAILED) and request.htmx:
        return HttpResponseClientRefresh()
    context = {"job": job, "progress": progress_figures(job)}
    return render(request, "ingest/_progress.html", context)


@login_required
@require_POST
def confirm(request, uuid):
    """ "Import for real": the same file and mapping as the dry run, written."""
    dry = _job_or_404(request.user, uuid)
    if not dry.dry_run or dry.status != JobStatus.DONE:
        raise Http404
    back = reverse("ingest:detail", args=[dry.uuid])
    try:
        job = import_job_create(
            path=Path(dry.file_path),
            source=dry.source,
            actor=request.user,
            kind=dry.kind,
            mapping=dry.mapping,
            template=dry.template,
            sheet=dry.sheet,
            dry_run=False,
            file_name=dry.file_name,
        )
    except ClientbookError as exc:
        return _refused(request, exc, back)
    import_job_start(job=job)
    return redirect("ingest:detail", job.uuid)


@login_required
@require_POST
def resume(request, uuid):
    """Runs a failed job again; the engine carries on after its last
    committed row."""
    job = _job_or_404(request.user, uuid)
    if not can_write(request.user):
        return _read_only(request)
    if job.status == JobStatus.FAILED:
        import_job_start(job=job)
    return redirect("ingest:detail", job.uuid)


@login_required
def remap(request, uuid):
    """Back to the mapping screen with a job's file and mapping."""
    job = _job_or_404(request.user, uuid)
    if not can_write(request.user):
        return _read_only(request)
    return redirect("ingest:mapping", _stash_job(request, job))


# The reject report ----------------------------------------------------------------


def _download_name(job: ImportJob, suffix: str) -> str:
    return f"{Path(job.file_name).stem}-rejects{suffix}"


def _downloadable(request, uuid) -> ImportJob:
    job = _job_or_404(request.user, uuid)
    if not can_download_rejects(request.user, job):
        raise AccessDenied(
            "pii", _("Only who started the import may download its rejected rows.")
        )
    return job


@login_required
def rejects_csv(request, uuid):
    try:
        job = _downloadable(request, uuid)
    except AccessDenied as exc:
        return _refused(request, exc)
    # With a byte order mark, Excel opens the Chinese text as UTF-8.
    body = "\ufeff" + import_rejects_csv(job)
    response = HttpResponse(body.encode("utf-8"), content_type="text/csv")
    response["Content-Disposition"] = _attachment(_download_name(job, ".csv"))
    return response


@login_required
def rejects_xlsx(request, uuid):
    try:
        job = _downloadable(request, uuid)
    except AccessDenied as exc:
        return _refused(request, exc)
    return FileResponse(
        import_rejects_xlsx(job),
        as_attachment=True,
        filename=_download_name(job, ".xlsx"),
        content_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ),
    )


def _attachment(name: str) -> str:
    return content_disposition_header(True, name)
