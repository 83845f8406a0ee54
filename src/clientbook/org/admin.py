from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from clientbook.org.models import ApiToken, Branch, User
from clientbook.org.services import api_token_revoke, staff_set_role
from clientbook.web.admin_base import AuditedAdmin


@admin.register(Branch)
class BranchAdmin(AuditedAdmin):
    list_display = ["code", "name", "region", "is_active"]
    list_filter = ["region", "is_active"]
    search_fields = ["code", "name"]


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = [
        "username",
        "first_name",
        "last_name",
        "role",
        "branch",
        "is_active",
    ]
    list_filter = ["role", "branch", "is_active"]
    fieldsets = [
        *UserAdmin.fieldsets,
        (_("Clientbook"), {"fields": ["role", "branch"]}),
    ]
    add_fieldsets = [
        *UserAdmin.add_fieldsets,
        (_("Clientbook"), {"fields": ["role", "branch"]}),
    ]

    def save_model(self, request, obj, form, change):
        obj.is_staff = True
        super().save_model(request, obj, form, change)
        staff_set_role(user=obj, role=obj.role)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: their history must keep its author


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # created with `clientbook api_token`, which shows the key once

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Revoke selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=request.user)
