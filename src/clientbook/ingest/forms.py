"""Forms of the import pages: the upload, and the mapping screen (one select
per column of the file)."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clientbook.errors import ClientbookError
from clientbook.ingest.models import ImportKind, MappingTemplate
from clientbook.ingest.selectors import mapping_template_list
from clientbook.privacy.selectors import source_list


class TemplateChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: MappingTemplate) -> str:
        kind = ImportKind(obj.kind).label
        return f"{obj.source.name} · {kind} · {obj.name}"


class UploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("What the file holds"),
        choices=ImportKind.choices,
        initial=ImportKind.CUSTOMERS,
    )
    source = forms.ModelChoiceField(
        label=gettext_lazy("Source"),
        queryset=source_list(),
        help_text=gettext_lazy("The channel the file comes from."),
    )
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV (UTF-8 or GBK, as Excel saves it), XLSX or JSON Lines."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.txt,.tsv,.xlsx,.xlsm,.jsonl,.ndjson"}
        ),
    )
    template = TemplateChoice(
        label=gettext_lazy("Saved mapping"),
        queryset=mapping_template_list(),
        required=False,
        empty_label=gettext_lazy("— suggest one from the column names —"),
        help_text=gettext_lazy("A mapping saved for this source earlier."),
    )
    from_job = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        template = data.get("template")
        if template is not None and (
            template.source_id != getattr(data.get("source"), "pk", None)
            or template.kind != data.get("kind")
        ):
            self.add_error(
                "template",
                _("This mapping was saved for another source or kind of file."),
            )
        return data

    def add_service_error(self, exc: ClientbookError) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, exc.message)


IGNORE = ("", gettext_lazy("— ignore this column —"))


class MappingForm(forms.Form):
    """One select per column, named by position (`col_0`, `col_1`…) because
    a header can be any text."""

    save_template = forms.BooleanField(
        label=gettext_lazy("Save this mapping for the next file from this source"),
        required=False,
    )
    template_name = forms.CharField(
        label=gettext_lazy("Name of the mapping"), max_length=100, required=False
    )

    def __init__(
        self,
        data=None,
        *,
        headers: list[str],
        kind: str,
        groups: list,
        initial_mapping: dict[str, str],
        template_name: str = "",
    ):
        super().__init__(data, initial={"template_name": template_name})
        self.headers = headers
        for i, header in enumerate(headers):
            current = initial_mapping.get(header, "")
            self.fields[f"col_{i}"] = forms.ChoiceField(
                label=header,
                choices=_column_choices(groups, kind, header, current),
                required=False,
                initial=current,
            )

    def clean(self):
        data = super().clean()
        if data.get("save_template") and not (data.get("template_name") or "").strip():
            self.add_error("template_name", _("Give the mapping a name."))
        return data

    def mapping(self) -> dict[str, str]:
        return {
            h: self.cleaned_data.get(f"col_{i}") or ""
            for i, h in enumerate(self.headers)
        }

    def column_fields(self) -> list:
        return [self[f"col_{i}"] for i in range(len(self.headers))]

    def add_service_error(self, exc: ClientbookError) -> None:
        """Puts a mapping error on the column it concerns, naming it."""
        column = None
        if exc.field and exc.field.startswith("mapping."):
            column = exc.field.removeprefix("mapping.")
        elif exc.code == "unknown_column":
            column = str(exc.value)
        targets = self.mapping()
        if exc.code == "duplicate_target":
            columns = [h for h, t in targets.items() if t == exc.value]
        else:
            columns = [column] if column in self.headers else []
        for name in columns:
            i = self.headers.index(name)
            self.add_error(f"col_{i}", exc.message)
        if columns:
            names = "、".join(f"“{c}”" for c in columns)
            message = _("Column %(columns)s: %(error)s") % {
                "columns": names,
                "error": exc.message,
            }
        else:
            message = exc.message
        self.add_error(None, message)


def _column_choices(groups: list, kind: str, header: str, current: str) -> list:
    choices = [IGNORE, *groups]
    if kind == ImportKind.CUSTOMERS:
        label = _("Preference “%(name)s”") % {"name": header}
        choices.append((_("Preferences"), [(f"preference:{header}", label)]))
    known = {value for _group, options in groups for value, _label in options}
    known.add(f"preference:{header}")
    if current and current not in known:
        # A saved mapping may name a target this list does not offer (another
        # column's preference name): keep it selectable rather than drop it.
        choices.append((_("From the saved mapping"), [(current, current)]))
    return choices
