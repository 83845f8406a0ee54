"""What every back-office page shares: branch scoping, audited saves, no deletes.

The admin is one more surface over the same rules: branch staff see their
branch only, auditors read only, and customer data is never hard-deleted.
"""

from django.contrib import admin, messages
from django.db import transaction

from clientbook.errors import ClientbookError
from clientbook.org.access import can_write, scope_by_branch
from clientbook.privacy.services import audit_changes, audit_record, snapshot


class ScopedAdmin(admin.ModelAdmin):
    """Rows are limited to the user's branch through `branch_path`."""

    branch_path: str | None = "branch"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if self.branch_path is None:
            return qs
        return scope_by_branch(qs, request.user, field=self.branch_path)

    def has_add_permission(self, request):
        return can_write(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return can_write(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ScopedAdmin):
    """Tables written only by their app's services (validation, audit): the
    back office shows them, company-wide unless `branch_path` is set."""

    branch_path = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AuditedAdmin(ScopedAdmin):
    """Saves through an audited transaction, for configuration tables whose
    writes have no business rule beyond the model's own."""

    branch_path = None

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            before = snapshot(type(obj).objects.get(pk=obj.pk)) if change else {}
            super().save_model(request, obj, form, change)
            old, new = audit_changes(before, snapshot(obj))
            action = f"{obj._meta.model_name}.{'update' if change else 'create'}"
            audit_record(
                actor=request.user, action=action, obj=obj, before=old, after=new
            )


def report_error(modeladmin, request, exc: ClientbookError) -> None:
    modeladmin.message_user(request, exc.message, level=messages.ERROR)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
