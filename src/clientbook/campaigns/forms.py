"""Forms of the campaign pages: they only parse; the services validate."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clientbook.campaigns.models import Campaign, ResponseKind
from clientbook.campaigns.selection import SCORE_FIELDS
from clientbook.campaigns.services import STRATA
from clientbook.org.models import Branch
from clientbook.privacy.models import ConsentChannel
from clientbook.segments.selectors import segment_list

STRATA_LABELS = {
    "branch": _("Branch"),
    "gender": _("Gender"),
    "rfm_cell": _("RFM cell"),
    "value_tier": _("Value tier"),
    "grade": _("Quality grade"),
}
DATE = forms.DateInput(attrs={"type": "date"})
SCORE_MODES = [
    ("", _("No score")),
    ("top_n", _("Top N")),
    ("top_share", _("Top share (0–1)")),
    ("min", _("At least")),
]


class CampaignForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=200)
    objective = forms.CharField(
        label=_("Objective"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    offer = forms.CharField(
        label=_("Offer"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    purpose = forms.ChoiceField(
        label=_("Consent purpose"), choices=Campaign._meta.get_field("purpose").choices
    )
    branches = forms.ModelMultipleChoiceField(
        label=_("Branches"),
        queryset=Branch.objects.order_by("code"),
        required=False,
        help_text=_("Only customers of these branches; none means all."),
    )
    budget = forms.DecimalField(label=_("Budget"), required=False, min_value=0)
    cost_per_contact = forms.DecimalField(
        label=_("Cost per contact"), required=False, min_value=0, initial=0
    )
    expected_response_rate = forms.DecimalField(
        label=_("Expected response rate"),
        initial=Decimal("0.05"),
        min_value=0,
        max_value=1,
    )
    response_window_days = forms.IntegerField(
        label=_("Response window (days)"), initial=30, min_value=1
    )
    starts_on = forms.DateField(
        label=_("Starts"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    ends_on = forms.DateField(
        label=_("Ends"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    landing_url = forms.URLField(
        label=_("Landing page"), required=False, assume_scheme="https"
    )
    segments = forms.MultipleChoiceField(
        label=_("Segments"), required=False, choices=()
    )
    score_field = forms.ChoiceField(
        label=_("Model score"),
        required=False,
        choices=[("", "—"), *SCORE_FIELDS.items()],
    )
    score_mode = forms.ChoiceField(
        label=_("Select by score"), required=False, choices=SCORE_MODES
    )
    score_value = forms.CharField(label=_("Score value"), required=False)
    frequency_cap_days = forms.IntegerField(
        label=_("Frequency cap (days)"), initial=30, min_value=0
    )
    holdout_share = forms.DecimalField(
        label=_("Control group share"),
        initial=Decimal("0.1"),
        min_value=0,
        max_value=Decimal("0.9"),
    )
    test_share = forms.DecimalField(
        label=_("Test sample share"),
        initial=0,
        min_value=0,
        max_value=Decimal("0.9"),
        help_text=_("0 = no test stage."),
    )
    stratify_by = forms.MultipleChoiceField(
        label=_("Stratify by"),
        required=False,
        choices=[(k, STRATA_LABELS[k]) for k in STRATA],
        widget=forms.CheckboxSelectMultiple,
        initial=["branch"],
    )
    seed = forms.IntegerField(
        label=_("Random seed"),
        required=False,
        min_value=0,
        help_text=_("Empty: chosen at random and kept."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segments"].choices = [
            (str(u), n) for u, n in segment_list().values_list("uuid", "name")
        ]

    GROUPS = {
        "about": ["name", "purpose", "budget", "cost_per_contact",
                  "expected_response_rate", "response_window_days", "starts_on",
                  "ends_on", "landing_url", "objective", "offer"],
        "who": ["segments", "branches", "score_field", "score_mode", "score_value",
                "frequency_cap_days"],
        "split": ["holdout_share", "test_share", "seed", "stratify_by"],
    }  # fmt: skip

    def group(self, name: str) -> list:
        return [self[field] for field in self.GROUPS[name]]

    @property
    def about_fields(self) -> list:
        return self.group("about")

    @property
    def who_fields(self) -> list:
        return self.group("who")

    @property
    def split_fields(self) -> list:
        return self.group("split")

    def selection(self) -> dict:
        data = self.cleaned_data
        selection: dict = {"segments": data["segments"]}
        if data["score_field"] and data["score_mode"]:
            selection["score"] = {
                "field": data["score_field"],
                data["score_mode"]: data["score_value"],
            }
        return selection

    def settings(self) -> dict:
        keys = [
            "objective", "offer", "purpose", "budget", "cost_per_contact",
            "expected_response_rate", "response_window_days", "starts_on",
            "ends_on", "landing_url", "frequency_cap_days", "holdout_share",
            "test_share", "stratify_by",
        ]  # fmt: skip
        values = {k: self.cleaned_data[k] for k in keys}
        if self.cleaned_data["seed"] is not None:
            values["seed"] = self.cleaned_data["seed"]
        return values

    @classmethod
    def initial_from(cls, campaign: Campaign) -> dict:
        score = (campaign.selection or {}).get("score") or {}
        mode = next((m for m in ("top_n", "top_share", "min") if m in score), "")
        own = {f.name for f in Campaign._meta.get_fields()} - {"branches"}
        return {
            **{f: getattr(campaign, f) for f in cls.base_fields if f in own},
            "branches": list(campaign.branches.all()),
            "segments": (campaign.selection or {}).get("segments", []),
            "score_field": score.get("field", ""),
            "score_mode": mode,
            "score_value": score.get(mode, ""),
        }


class VariantForm(forms.Form):
    code = forms.SlugField(label=_("Variant code"), max_length=20)
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=200)
    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentChannel.choices)
    weight = forms.IntegerField(label=_("Weight"), initial=1, min_value=1)
    subject = forms.CharField(label=_("Subject (e-mail)"), required=False)
    body = forms.CharField(
        label=_("Message"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("A template: {{ name }}, {{ code }}, {{ link }}, {{ offer }}."),
    )


class ResponsesFileForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns: code, kind, occurred_at, amount, note."),
    )


class ResponseForm(forms.Form):
    code = forms.CharField(label=_("Response code"), max_length=12)
    kind = forms.ChoiceField(label=_("Kind"), choices=ResponseKind.choices)
    amount = forms.DecimalField(label=_("Amount"), required=False)
    note = forms.CharField(label=_("Note"), required=False, max_length=300)


class DoNotContactForm(forms.Form):
    value = forms.CharField(label=_("Phone number or e-mail address"), max_length=200)
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[("", _("Every channel")), *ConsentChannel.choices],
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)
