from django.urls import path

from clientbook.identity import views

app_name = "identity"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk_decide, name="bulk"),
    path("pairs/<uuid:uuid>/", views.pair_detail, name="pair"),
    path("pairs/<uuid:uuid>/decide/", views.pair_decide, name="decide"),
    path("runs/new/", views.run_start, name="run_start"),
    path("runs/<uuid:uuid>/", views.run_detail, name="run"),
    path("merges/<uuid:uuid>/", views.merge_detail, name="merge"),
    path("merges/<uuid:uuid>/undo/", views.merge_undo, name="undo"),
]
