"""The segment pages: list, builder (create/edit) with a live count, detail
with sample, snapshots and export. Views parse the form, read with
selectors and write with services; a `ClientbookError` becomes a message."""

import json
import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clientbook.errors import ClientbookError, NotFound
from clientbook.org.access import can_view_pii, can_write
from clientbook.segments import builder, exports, language, selectors, services
from clientbook.segments.models import Segment, SegmentKind


def _segment_or_404(uuid) -> Segment:
    try:
        return selectors.segment_get(ref=uuid)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _segment_choices(exclude: Segment | None = None) -> list[tuple[str, str]]:
    live = selectors.segment_list()
    if exclude is not None:
        live = live.exclude(pk=exclude.pk)
    return [(str(u), n) for u, n in live.values_list("uuid", "name")]


def _builder_context(segment: Segment | None = None) -> dict:
    return {
        "field_groups": builder.field_groups(),
        "segment_choices": _segment_choices(segment),
        "root_id": builder.ROOT,
    }


@login_required
def segment_list(request):
    segments = selectors.segment_list()
    return render(
        request,
        "segments/list.html",
        {"segments": segments, "can_write": can_write(request.user)},
    )


def _posted_definition(request) -> tuple[dict | None, str]:
    """The definition from the builder, or from the JSON text in advanced
    mode; (None, message) when that text is not JSON."""
    if request.POST.get("mode") == "json":
        text = request.POST.get("definition_json", "")
        try:
            return json.loads(text), ""
        except ValueError as exc:
            return None, _("The JSON is not valid: %(error)s") % {"error": exc}
    return builder.definition_from(request.POST), ""


def _form(request, segment: Segment | None):
    if not can_write(request.user):
        return render(
            request,
            "web/error.html",
            {"message": _("Your role may not change data.")},
            status=403,
        )
    values = {
        "name": segment.name if segment else "",
        "description": segment.description if segment else "",
        "kind": segment.kind if segment else SegmentKind.DYNAMIC,
    }
    definition = (
        segment.definition if segment else language.normalise({"conditions": []})
    )
    error = None
    problems: list = []
    mode = "builder"
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        mode = request.POST.get("mode", "builder")
        posted, json_error = _posted_definition(request)
        if posted is None:
            error = json_error
        else:
            definition = posted
            try:
                saved = _save(request, segment, values, definition)
            except ClientbookError as exc:
                error = exc.message
                problems = exc.details.get("errors", [])
            else:
                return redirect(saved.get_absolute_url())
    context = {
        "segment": segment,
        "values": values,
        "kinds": SegmentKind.choices,
        "tree": builder.tree(definition),
        "definition_json": json.dumps(definition, ensure_ascii=False, indent=2),
        "error": error,
        "problems": problems,
        "mode": mode,
        **_builder_context(segment),
    }
    return render(request, "segments/form.html", context)


def _save(request, segment: Segment | None, values: dict, definition: dict) -> Segment:
    if segment is None:
        created = services.segment_create(
            actor=request.user, definition=definition, **values
        )
        messages.success(request, _("Segment saved."))
        return created
    services.segment_update(
        segment=segment, actor=request.user, definition=definition, **values
    )
    messages.success(request, _("Segment saved."))
    return segment


@login_required
def segment_create(request):
    return _form(request, None)


@login_required
def segment_edit(request, uuid):
    return _form(request, _segment_or_404(uuid))


@login_required
def builder_row(request):
    """One condition row: a new one, or the same row re-drawn after its
    field or operator changed (its inputs come along)."""
    node_id = request.GET.get("id") or builder.new_id()
    parent = request.GET.get("parent") or builder.ROOT
    if request.GET.get("id"):
        data = builder.condition_from(request.GET, node_id)
        if request.GET.get("reset"):
            data = {"field": data["field"]}
        node = builder.condition_node(data, parent=parent, id=node_id)
    else:
        node = builder.condition_node(
            {"field": "gender", "op": "eq"}, parent=parent, id=node_id
        )
    context = {"node": node, **_builder_context()}
    return render(request, "segments/_condition.html", context)


@login_required
def builder_group(request):
    """A new nested group holding one condition."""
    group = builder.Node(
        id=builder.new_id(),
        parent=request.GET.get("parent") or builder.ROOT,
        kind="group",
    )
    group.children.append(
        builder.condition_node({"field": "gender", "op": "eq"}, parent=group.id)
    )
    context = {"group": group, **_builder_context()}
    return render(request, "segments/_group.html", context)


@login_required
@require_POST
def builder_preview(request):
    """The live count and a sample for what the builder holds now."""
    definition, json_error = _posted_definition(request)
    context: dict = {"problems": [], "error": json_error}
    if definition is not None:
        problems = language.problems(definition)
        if problems:
            context["problems"] = [p.as_dict() for p in problems]
        else:
            try:
                queryset = selectors.definition_queryset(definition, request.user)
                context["count"] = queryset.count()
                context["sample"] = selectors.sample_of(queryset, limit=10)
            except ClientbookError as exc:
                context["error"] = exc.message
        context["definition_json"] = json.dumps(
            definition, ensure_ascii=False, indent=2
        )
    return render(request, "segments/_preview.html", context)


@login_required
def segment_detail(request, uuid):
    segment = _segment_or_404(uuid)
    context = {
        "segment": segment,
        "count": selectors.segment_count(segment, request.user),
        "sample": selectors.segment_sample(segment, request.user),
        "snapshots": selectors.snapshot_list(segment)[:20],
        "columns": [(k, c.label) for k, c in exports.COLUMNS.items()],
        "default_columns": exports.DEFAULT_COLUMNS,
        "can_write": can_write(request.user),
        "can_view_pii": can_view_pii(request.user),
        "definition_json": json.dumps(segment.definition, ensure_ascii=False, indent=2),
    }
    return render(request, "segments/detail.html", context)


def _act(request, uuid, action) -> HttpResponse:
    segment = _segment_or_404(uuid)
    try:
        message = action(segment)
    except ClientbookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, message)
    return redirect(segment.get_absolute_url())


@login_required
@require_POST
def segment_snapshot(request, uuid):
    def take(segment):
        snapshot = services.segment_snapshot(segment=segment, actor=request.user)
        return _("Snapshot taken: %(count)d members.") % {"count": snapshot.count}

    return _act(request, uuid, take)


@login_required
@require_POST
def segment_archive(request, uuid):
    segment = _segment_or_404(uuid)
    try:
        services.segment_archive(segment=segment, actor=request.user)
    except ClientbookError as exc:
        messages.error(request, exc.message)
        return redirect(segment.get_absolute_url())
    messages.success(request, _("Segment archived."))
    return redirect("segments:list")


@login_required
def segment_export(request, uuid):
    segment = _segment_or_404(uuid)
    fmt = request.GET.get("format", "csv")
    columns = request.GET.getlist("columns") or None
    out = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    try:
        services.segment_export(
            segment=segment,
            actor=request.user,
            out=out,
            columns=columns,
            format=fmt,
            pii=bool(request.GET.get("pii")) and can_view_pii(request.user),
        )
    except ClientbookError as exc:
        out.close()
        messages.error(request, exc.message)
        return redirect(segment.get_absolute_url())
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=f"{segment.name}.{fmt}",
        content_type=exports.CONTENT_TYPES[fmt],
    )
