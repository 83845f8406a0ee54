from django.contrib import admin

from clientbook.privacy.models import AuditEntry, Consent, Source
from clientbook.web.admin_base import AuditedAdmin, ScopedAdmin


@admin.register(Source)
class SourceAdmin(AuditedAdmin):
    list_display = ["code", "name", "kind", "legal_basis", "trust", "is_active"]
    list_filter = ["kind", "legal_basis", "is_active"]
    search_fields = ["code", "name"]


@admin.register(Consent)
class ConsentAdmin(ScopedAdmin):
    """The ledger is append-only: entries are added from the customer's page
    or the API, never edited here."""

    branch_path = "customer__branch"
    list_display = ["customer", "channel", "purpose", "status", "occurred_at", "source"]
    list_filter = ["channel", "purpose", "status", "source"]
    list_select_related = ["customer", "source"]
    raw_id_fields = ["customer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ScopedAdmin):
    branch_path = "customer__branch"
    list_display = ["at", "actor", "action", "entity", "entity_id", "customer"]
    list_filter = ["action", "entity"]
    list_select_related = ["actor", "customer"]
    search_fields = ["entity_id", "action"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
