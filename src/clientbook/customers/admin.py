from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from clientbook.customers import services
from clientbook.customers.models import (
    Address,
    Customer,
    CustomField,
    CustomFieldValue,
    Identifier,
    KeyDate,
    Preference,
    Tag,
)
from clientbook.errors import ClientbookError
from clientbook.org.access import is_branch_scoped
from clientbook.org.models import Branch
from clientbook.privacy.masking import show_identifier
from clientbook.web.admin_base import AuditedAdmin, ReadOnlyInline, ScopedAdmin


class IdentifierInline(ReadOnlyInline):
    model = Identifier
    fields = ["type", "shown_value", "is_verified", "source", "first_seen", "last_seen"]
    readonly_fields = fields

    def get_formset(self, request, obj=None, **kwargs):
        self._user = request.user  # shown_value masks by who is looking
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=_("value"))
    def shown_value(self, obj):
        return show_identifier(self._user, obj.type, obj.value)


class AddressInline(ReadOnlyInline):
    model = Address
    fields = ["type", "province", "city", "district", "street", "postcode", "is_valid"]
    readonly_fields = fields


class PreferenceInline(ReadOnlyInline):
    model = Preference
    fields = ["category", "key", "value", "source"]
    readonly_fields = fields


class KeyDateInline(ReadOnlyInline):
    model = KeyDate
    fields = ["kind", "date", "label"]
    readonly_fields = fields


class CustomValueInline(ReadOnlyInline):
    model = CustomFieldValue
    fields = ["field", "value"]
    readonly_fields = fields


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = [
            "kind",
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
            "tags",
            "notes",
            "source",
        ]

    def clean(self):
        data = super().clean()
        profile = {k: v for k, v in data.items() if k in services.PROFILE_FIELDS}
        try:
            services.validate_profile(profile)
        except ClientbookError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(Customer)
class CustomerAdmin(ScopedAdmin):
    form = CustomerForm
    list_display = [
        "name",
        "kind",
        "branch",
        "lifecycle_stage",
        "created_at",
        "archived_at",
    ]
    list_filter = ["lifecycle_stage", "kind", "branch", "gender", "income_band", "tags"]
    list_select_related = ["branch"]
    search_fields = ["name", "name_pinyin", "name_initials"]
    readonly_fields = ["uuid", "created_at", "updated_at", "archived_at", "merged_into"]
    raw_id_fields = ["owner"]
    inlines = [
        IdentifierInline,
        AddressInline,
        PreferenceInline,
        KeyDateInline,
        CustomValueInline,
    ]
    actions = ["archive"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "branch" and is_branch_scoped(request.user):
            kwargs["queryset"] = Branch.objects.filter(pk=request.user.branch_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        tags = [t.name for t in data.pop("tags", [])]
        source = data.pop("source")
        if change:
            original = Customer.objects.get(pk=obj.pk)
            form.instance = services.customer_update(
                customer=original, actor=request.user, tags=tags, **data
            )
        else:
            form.instance = services.customer_create(
                source=source, actor=request.user, tags=tags, **data
            )
        obj.pk = form.instance.pk

    def save_related(self, request, form, formsets, change):
        # Tags were set by the service; the inlines are read-only.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description=_("Archive selected customers"))
    def archive(self, request, queryset):
        for customer in queryset.filter(archived_at__isnull=True):
            services.customer_archive(customer=customer, actor=request.user)


@admin.register(CustomField)
class CustomFieldAdmin(AuditedAdmin):
    list_display = [
        "key",
        "label",
        "customer_kind",
        "field_type",
        "is_required",
        "position",
    ]
    list_filter = ["customer_kind", "field_type"]


@admin.register(Tag)
class TagAdmin(AuditedAdmin):
    search_fields = ["name"]
