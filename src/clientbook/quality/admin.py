"""Back-office views of the quality tables: read-only, since every row is
either derived (recomputed in bulk) or written by a service with its audit."""

from django.contrib import admin

from clientbook.quality.models import (
    CustomerQuality,
    QualitySnapshot,
    SelectionRun,
    VerificationTask,
)
from clientbook.web.admin_base import ScopedAdmin


class ReadOnlyAdmin(ScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CustomerQuality)
class CustomerQualityAdmin(ReadOnlyAdmin):
    branch_path = "customer__branch"
    list_display = [
        "customer",
        "grade",
        "completeness",
        "issue_count",
        "last_maintained_at",
        "selections_recent",
        "computed_at",
    ]
    list_filter = ["grade", "has_past_usage"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]


@admin.register(VerificationTask)
class VerificationTaskAdmin(ReadOnlyAdmin):
    branch_path = "customer__branch"
    list_display = ["customer", "month", "reason", "status", "grade", "done_by"]
    list_filter = ["reason", "status", "month"]
    list_select_related = ["customer", "done_by"]
    raw_id_fields = ["customer"]


@admin.register(SelectionRun)
class SelectionRunAdmin(ReadOnlyAdmin):
    branch_path = None
    list_display = ["purpose", "channel", "selected_at", "count", "actor"]
    date_hierarchy = "selected_at"


@admin.register(QualitySnapshot)
class QualitySnapshotAdmin(ReadOnlyAdmin):
    branch_path = None
    list_display = ["day", "branch", "customers", "richness", "maintained", "invalid"]
    list_filter = ["branch"]
