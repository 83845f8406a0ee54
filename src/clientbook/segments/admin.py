"""Back-office views of segments and snapshots: read-only, since every write
goes through the services (validation, cycle checks, audit)."""

from django.contrib import admin

from clientbook.segments.models import Segment, SegmentSnapshot
from clientbook.web.admin_base import ReadOnlyAdmin


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "created_by", "updated_at", "archived_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    list_select_related = ["created_by"]


@admin.register(SegmentSnapshot)
class SegmentSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["segment", "taken_at", "count", "taken_by"]
    list_select_related = ["segment", "taken_by"]
