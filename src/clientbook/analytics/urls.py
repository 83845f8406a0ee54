from django.urls import path

from clientbook.analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.home, name="home"),
    path("start/", views.start, name="start"),
    path("rfm/", views.rfm, name="rfm"),
    path("value/", views.value, name="value"),
    path("clv/", views.clv, name="clv"),
    path("clusters/", views.clusters, name="clusters"),
    path("models/", views.models, name="models"),
    path("models/<uuid:uuid>/choose/", views.choose, name="choose"),
    path("rules/", views.rules, name="rules"),
    path("roughsets/", views.roughsets, name="roughsets"),
    path("lookalikes/", views.lookalikes, name="lookalikes"),
    path("offers/", views.offers, name="offers"),
    path("customers/", views.customers, name="customers"),
]
