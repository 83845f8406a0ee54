from django.urls import path

from clientbook.ingest import views

app_name = "ingest"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.upload, name="upload"),
    path("upload/<slug:token>/", views.mapping, name="mapping"),
    path("<uuid:uuid>/", views.detail, name="detail"),
    path("<uuid:uuid>/progress/", views.progress, name="progress"),
    path("<uuid:uuid>/import/", views.confirm, name="confirm"),
    path("<uuid:uuid>/resume/", views.resume, name="resume"),
    path("<uuid:uuid>/mapping/", views.remap, name="remap"),
    path("<uuid:uuid>/rejects.csv", views.rejects_csv, name="rejects_csv"),
    path("<uuid:uuid>/rejects.xlsx", views.rejects_xlsx, name="rejects_xlsx"),
]
