from django.contrib import admin

from clientbook.activity.models import Interaction
from clientbook.web.admin_base import ScopedAdmin


@admin.register(Interaction)
class InteractionAdmin(ScopedAdmin):
    branch_path = "customer__branch"
    list_display = [
        "occurred_at",
        "customer",
        "channel",
        "direction",
        "type",
        "staff",
        "outcome",
    ]
    list_filter = ["channel", "direction", "type"]
    list_select_related = ["customer", "staff"]
    raw_id_fields = ["customer"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
