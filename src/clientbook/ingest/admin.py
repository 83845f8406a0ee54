"""Back office: import jobs and their rejects to read, mapping templates to
edit (saved through `mapping_template_save`, so checked access and audit)."""

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from clientbook.errors import ClientbookError
from clientbook.ingest.mapping import validate_mapping
from clientbook.ingest.models import ImportJob, ImportReject, MappingTemplate
from clientbook.ingest.services import mapping_template_save
from clientbook.web.admin_base import ReadOnlyInline, ScopedAdmin

REJECTS_SHOWN = 200


class FirstRejects(BaseInlineFormSet):
    """A job can have thousands of rejects: the back office shows the first
    ones, the job's web page pages through them all."""

    def get_queryset(self):
        return super().get_queryset().order_by("row_number", "id")[:REJECTS_SHOWN]


class RejectInline(ReadOnlyInline):
    model = ImportReject
    formset = FirstRejects
    fields = ["row_number", "column", "value", "reason", "code"]
    readonly_fields = fields


@admin.register(ImportJob)
class ImportJobAdmin(ScopedAdmin):
    # Branch staff see the jobs their branch's staff started.
    branch_path = "started_by__branch"
    list_display = [
        "file_name",
        "kind",
        "source",
        "status",
        "dry_run",
        "read",
        "created",
        "updated",
        "unchanged",
        "merged",
        "rejected",
        "started_by",
        "created_at",
    ]
    list_filter = ["status", "kind", "dry_run", "source"]
    list_select_related = ["source", "started_by"]
    search_fields = ["file_name", "file_sha256", "uuid"]
    date_hierarchy = "created_at"
    inlines = [RejectInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MappingTemplateForm(forms.ModelForm):
    class Meta:
        model = MappingTemplate
        fields = ["source", "kind", "name", "mapping"]

    def clean(self):
        data = super().clean()
        mapping, kind = data.get("mapping"), data.get("kind") or self.instance.kind
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            self.add_error("mapping", _('A JSON object such as {"姓名": "name"}.'))
        elif kind:
            try:
                validate_mapping(mapping, kind=kind, headers=list(mapping))
            except ClientbookError as exc:
                self.add_error("mapping", exc.message)
        return data


@admin.register(MappingTemplate)
class MappingTemplateAdmin(ScopedAdmin):
    branch_path = None
    form = MappingTemplateForm
    list_display = ["name", "source", "kind", "columns", "created_by", "updated_at"]
    list_filter = ["kind", "source"]
    list_select_related = ["source", "created_by"]
    search_fields = ["name"]

    def get_readonly_fields(self, request, obj=None):
        # The service keys a template on these: another name is another template.
        return ["source", "kind", "name"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = {**form.cleaned_data}
        if change:
            data.update(source=obj.source, kind=obj.kind, name=obj.name)
        saved = mapping_template_save(
            source=data["source"],
            kind=data["kind"],
            name=data["name"],
            mapping=data["mapping"],
            actor=request.user,
        )
        obj.pk = saved.pk
        form.instance = saved

    @admin.display(description=_("columns"))
    def columns(self, obj):
        return len(obj.mapping or {})
