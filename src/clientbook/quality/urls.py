from django.urls import path

from clientbook.quality import views

app_name = "quality"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("recompute/", views.recompute, name="recompute"),
    path("checks/", views.tasks, name="tasks"),
    path("checks/rotate/", views.rotate, name="rotate"),
    path("checks/<uuid:uuid>/confirm/", views.task_confirm, name="task_confirm"),
    path("cleanup/", views.cleanup, name="cleanup"),
    path("cleanup/decide/", views.cleanup_action, name="cleanup_action"),
]
