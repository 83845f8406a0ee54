"""Back-office views of campaigns and their rows: read-only, since every
write goes through the services (suppression, freezing, consent, audit)."""

from django.contrib import admin

from clientbook.campaigns.models import (
    Campaign,
    Dispatch,
    DoNotContact,
    Member,
    Response,
    StageChange,
    Variant,
)
from clientbook.web.admin_base import ReadOnlyAdmin, ReadOnlyInline


class VariantInline(ReadOnlyInline):
    model = Variant
    fields = ["code", "name", "channel", "is_control", "weight", "is_winner"]


class StageChangeInline(ReadOnlyInline):
    model = StageChange
    fields = ["at", "from_stage", "to_stage", "actor", "note"]


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ["name", "stage", "owner", "selected_at", "executed_at"]
    list_filter = ["stage"]
    search_fields = ["name"]
    list_select_related = ["owner"]
    inlines = [VariantInline, StageChangeInline]


@admin.register(Member)
class MemberAdmin(ReadOnlyAdmin):
    branch_path = "customer__branch"
    list_display = ["campaign", "customer", "suppression", "variant", "wave", "status"]
    list_filter = ["campaign", "suppression", "status", "wave"]
    search_fields = ["code"]
    list_select_related = ["campaign", "customer", "variant"]
    raw_id_fields = ["customer"]


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    branch_path = "member__customer__branch"
    list_display = ["member", "kind", "via", "occurred_at", "amount"]
    list_filter = ["kind", "via"]
    list_select_related = ["member"]


@admin.register(DoNotContact)
class DoNotContactAdmin(ReadOnlyAdmin):
    list_display = ["customer", "value", "channel", "reason", "added_at", "lifted_at"]
    list_filter = ["channel"]
    search_fields = ["value", "reason"]
    raw_id_fields = ["customer"]


@admin.register(Dispatch)
class DispatchAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "wave", "started_at", "finished_at", "sent", "failed"]
    list_select_related = ["campaign"]
