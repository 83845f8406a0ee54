"""Forms of the customer pages. They parse and render; every write goes through
`customers.services` (or privacy/activity services), whose `ClientbookError`
is put back on the field it names with `ServiceForm.add_service_error`."""

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from clientbook.activity.models import Direction, InteractionChannel, InteractionType
from clientbook.customers.models import (
    AddressType,
    Customer,
    CustomerKind,
    CustomField,
    FieldType,
    Gender,
    IdentifierType,
    IncomeBand,
    KeyDateKind,
    LifecycleStage,
)
from clientbook.errors import ClientbookError
from clientbook.org.access import is_branch_scoped
from clientbook.org.models import Branch
from clientbook.privacy.models import (
    ConsentChannel,
    ConsentPurpose,
    ConsentStatus,
    Source,
)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(
    attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
)
CUSTOM_PREFIX = "cf_"
_TAG_SEPARATORS = re.compile(r"[,，、;；]")


class ServiceForm(forms.Form):
    """A form whose data a service writes. Forms with a `source` field get the
    active sources passed in once, so a page with many forms queries them once."""

    # Service error fields that live under another name in this form.
    field_map: dict[str, str] = {}

    def __init__(self, *args, sources: list[Source] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if "source" in self.fields:
            self._setup_source(sources or [])

    def _setup_source(self, sources: list[Source]) -> None:
        self._sources = {str(s.pk): s for s in sources}
        field = self.fields.pop("source")
        field.choices = [(str(s.pk), s.name) for s in sources]
        default = next((s for s in sources if s.code == "manual"), None)
        if default is None and sources:
            default = sources[0]
        field.initial = str(default.pk) if default else None
        self.fields["source"] = field  # always the last field

    def clean_source(self) -> Source:
        value = self.cleaned_data["source"]
        if value not in self._sources:
            raise forms.ValidationError(_("Choose an active source."))
        return self._sources[value]

    def add_service_error(self, exc: ClientbookError) -> None:
        """Shows a service's error on the field it names, else above the form."""
        field = self.form_field_for(exc.field)
        self.add_error(field, exc.message)

    def form_field_for(self, service_field: str | None) -> str | None:
        if not service_field:
            return None
        name = self.field_map.get(service_field, service_field)
        if name.startswith("custom_fields."):
            name = CUSTOM_PREFIX + name.removeprefix("custom_fields.")
        return name if name in self.fields else None


def source_field() -> forms.ChoiceField:
    return forms.ChoiceField(label=_("Source"))


# Customer profile ---------------------------------------------------------------


def custom_form_field(field: CustomField) -> forms.Field:
    """The input for one declared custom field; values are checked again by
    the service, which is what the API and imports also go through."""
    common = {
        "label": field.label,
        "required": field.is_required,
        "help_text": field.help_text,
    }
    kind = field.field_type
    if kind == FieldType.INTEGER:
        return forms.IntegerField(**common)
    if kind == FieldType.DECIMAL:
        return forms.DecimalField(**common)
    if kind == FieldType.DATE:
        return forms.DateField(widget=DATE_INPUT, **common)
    if kind == FieldType.BOOLEAN:
        choices = [("", "—"), ("true", _("Yes")), ("false", _("No"))]
        return forms.ChoiceField(choices=choices, **common)
    if kind == FieldType.CHOICE:
        choices = [("", "—"), *((c, c) for c in field.choices)]
        return forms.ChoiceField(choices=choices, **common)
    return forms.CharField(max_length=1000, **common)


def custom_initial(customer: Customer) -> dict[str, Any]:
    initial = {}
    for value in customer.custom_values.select_related("field"):
        data = value.value
        if isinstance(data, bool):
            data = "true" if data else "false"
        initial[CUSTOM_PREFIX + value.field.key] = data
    return initial


def split_tags(text: str) -> list[str]:
    return [t.strip() for t in _TAG_SEPARATORS.split(text or "") if t.strip()]


class CustomerForm(ServiceForm):
    """Create (`customer=None`) or edit a customer's profile and custom fields."""

    PROFILE = [
        "name",
        "gender",
        "birth_date",
        "occupation",
        "employer",
        "position",
        "income_band",
        "lifecycle_stage",
        "branch",
        "owner",
        "notes",
    ]
    IDENTIFIERS = ["mobile", "email", "national_id"]

    kind = forms.ChoiceField(
        label=_("Kind"), choices=CustomerKind.choices, widget=forms.HiddenInput
    )
    name = forms.CharField(label=_("Name"), max_length=200)
    gender = forms.ChoiceField(
        label=_("Gender"), choices=Gender.choices, required=False
    )
    birth_date = forms.DateField(
        label=_("Birth date"), required=False, widget=DATE_INPUT
    )
    occupation = forms.CharField(label=_("Occupation"), max_length=100, required=False)
    employer = forms.CharField(label=_("Employer"), max_length=200, required=False)
    position = forms.CharField(label=_("Position"), max_length=100, required=False)
    income_band = forms.ChoiceField(
        label=_("Income band"), choices=IncomeBand.choices, required=False
    )
    lifecycle_stage = forms.ChoiceField(label=_("Lifecycle stage"))
    branch = forms.ModelChoiceField(label=_("Branch"), queryset=Branch.objects.none())
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=get_user_model().objects.none(), required=False
    )
    mobile = forms.CharField(label=_("Mobile"), max_length=50, required=False)
    email = forms.CharField(label=_("Email"), max_length=200, required=False)
    national_id = forms.CharField(
        label=_("National ID (身份证)"), max_length=30, required=False
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        help_text=_("Separate tags with commas."),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    source = source_field()

    def __init__(
        self,
        *args,
        user,
        kind: str,
        customer: Customer | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.user, self.kind, self.customer = user, kind, customer
        self.fields["kind"].initial = kind
        self._setup_branch(user)
        self._setup_lifecycle(customer)
        self.custom_fields = list(CustomField.objects.filter(customer_kind=kind))
        for field in self.custom_fields:
            self.fields[CUSTOM_PREFIX + field.key] = custom_form_field(field)
        if customer is not None:
            for name in [*self.IDENTIFIERS, "source", "kind"]:
                del self.fields[name]

    def _setup_branch(self, user) -> None:
        branches = Branch.objects.filter(is_active=True)
        owners = get_user_model().objects.filter(is_active=True).order_by("username")
        if is_branch_scoped(user):
            # Branch staff create and keep customers in their own branch only.
            branches = branches.filter(pk=user.branch_id)
            owners = owners.filter(branch_id=user.branch_id)
            self.fields["branch"].initial = user.branch_id
        else:
            self.fields["branch"].required = False
        self.fields["branch"].queryset = branches
        self.fields["owner"].queryset = owners
        self.fields["owner"].initial = user.pk

    def _setup_lifecycle(self, customer: Customer | None) -> None:
        # Archiving is its own action, with a reason; the stage follows it.
        choices = [c for c in LifecycleStage.choices if c[0] != LifecycleStage.ARCHIVED]
        if customer is not None and customer.lifecycle_stage == LifecycleStage.ARCHIVED:
            choices = LifecycleStage.choices
        self.fields["lifecycle_stage"].choices = choices
        self.fields["lifecycle_stage"].initial = LifecycleStage.PROSPECT

    @property
    def custom_bound_fields(self):
        return [self[CUSTOM_PREFIX + f.key] for f in self.custom_fields]

    def profile_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.PROFILE}

    def custom_data(self) -> dict[str, Any]:
        return {
            f.key: self.cleaned_data.get(CUSTOM_PREFIX + f.key)
            for f in self.custom_fields
        }

    def identifiers(self) -> list[dict[str, str]]:
        return [
            {"type": name, "value": self.cleaned_data[name]}
            for name in self.IDENTIFIERS
            if self.cleaned_data.get(name)
        ]

    def create_kwargs(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.cleaned_data["source"],
            "identifiers": self.identifiers(),
            "custom_fields": self.custom_data(),
            "tags": split_tags(self.cleaned_data["tags"]),
            **self.profile_data(),
        }

    def update_kwargs(self) -> dict[str, Any]:
        return {
            "custom_fields": self.custom_data(),
            "tags": split_tags(self.cleaned_data["tags"]),
            **self.profile_data(),
        }


def customer_initial(customer: Customer) -> dict[str, Any]:
    initial = {name: getattr(customer, name) for name in CustomerForm.PROFILE}
    initial["branch"] = customer.branch_id
    initial["owner"] = customer.owner_id
    initial["tags"] = ", ".join(t.name for t in customer.tags.all())
    initial.update(custom_initial(customer))
    return initial


# The small forms of the 360 page ---------------------------------------------------


class IdentifierForm(ServiceForm):
    # The service names the identifier's type as the field of a bad value.
    field_map = {t: "value" for t in IdentifierType.values}

    type = forms.ChoiceField(label=_("Type"), choices=IdentifierType.choices)
    value = forms.CharField(label=_("Value"), max_length=200)
    is_verified = forms.BooleanField(label=_("Verified"), required=False)
    source = source_field()


class IdentifierChoiceForm(ServiceForm):
    """One of the customer's identifiers, for a button of its row (verify,
    remove)."""

    identifier = forms.IntegerField(widget=forms.HiddenInput)


class AddressForm(ServiceForm):
    type = forms.ChoiceField(label=_("Type"), choices=AddressType.choices)
    province = forms.CharField(label=_("Province"), max_length=50, required=False)
    city = forms.CharField(label=_("City"), max_length=50, required=False)
    district = forms.CharField(label=_("District"), max_length=50, required=False)
    street = forms.CharField(label=_("Street"), max_length=300, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=10, required=False)
    country = forms.CharField(label=_("Country"), max_length=2, initial="CN")
    source = source_field()


class PreferenceForm(ServiceForm):
    category = forms.CharField(label=_("Category"), max_length=50, required=False)
    key = forms.CharField(label=_("Preference"), max_length=100)
    value = forms.CharField(label=_("Value"), max_length=300)
    source = source_field()


class KeyDateForm(ServiceForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=KeyDateKind.choices)
    date = forms.DateField(label=_("Date"), widget=DATE_INPUT)
    label = forms.CharField(label=_("Label"), max_length=100, required=False)
    source = source_field()


class ConsentForm(ServiceForm):
    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentChannel.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=ConsentPurpose.choices)
    status = forms.ChoiceField(label=_("Status"), choices=ConsentStatus.choices)
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=DATETIME_INPUT,
        help_text=_("Leave empty for now."),
    )
    evidence = forms.CharField(
        label=_("Evidence"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("E.g. the signed form's number or the call recording."),
    )
    source = source_field()


class InteractionForm(ServiceForm):
    type = forms.ChoiceField(label=_("Type"), choices=InteractionType.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=InteractionChannel.choices)
    direction = forms.ChoiceField(label=_("Direction"), choices=Direction.choices)
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=DATETIME_INPUT,
        help_text=_("Leave empty for now."),
    )
    summary = forms.CharField(
        label=_("Summary"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    outcome = forms.CharField(label=_("Outcome"), max_length=200, required=False)
    source = source_field()


class ArchiveForm(ServiceForm):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class RestoreForm(ServiceForm):
    pass
