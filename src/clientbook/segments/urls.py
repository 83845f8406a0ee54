from django.urls import path

from clientbook.segments import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_create, name="create"),
    path("builder/row/", views.builder_row, name="builder_row"),
    path("builder/group/", views.builder_group, name="builder_group"),
    path("builder/preview/", views.builder_preview, name="builder_preview"),
    path("<uuid:uuid>/", views.segment_detail, name="detail"),
    path("<uuid:uuid>/edit/", views.segment_edit, name="edit"),
    path("<uuid:uuid>/snapshot/", views.segment_snapshot, name="snapshot"),
    path("<uuid:uuid>/archive/", views.segment_archive, name="archive"),
    path("<uuid:uuid>/export/", views.segment_export, name="export"),
]
