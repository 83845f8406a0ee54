from django.urls import include, path

from clientbook.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("do-not-contact/", views.do_not_contact, name="do_not_contact"),
    path(
        "do-not-contact/<int:pk>/lift/",
        views.do_not_contact_lift,
        name="do_not_contact_lift",
    ),
    path("<uuid:uuid>/", views.campaign_detail, name="detail"),
    path("<uuid:uuid>/edit/", views.campaign_edit, name="edit"),
    path("<uuid:uuid>/variants/", views.variant_add, name="variant_add"),
    path(
        "<uuid:uuid>/variants/<slug:code>/remove/",
        views.variant_remove,
        name="variant_remove",
    ),
    path("<uuid:uuid>/select/", views.campaign_select, name="select"),
    path("<uuid:uuid>/assign/", views.campaign_assign, name="assign"),
    path("<uuid:uuid>/stage/", views.campaign_stage, name="stage"),
    path("<uuid:uuid>/rollout/", views.campaign_rollout, name="rollout"),
    path("<uuid:uuid>/attribute/", views.campaign_attribute, name="attribute"),
    path("<uuid:uuid>/responses/", views.response_add, name="response_add"),
    path(
        "<uuid:uuid>/responses/upload/",
        views.responses_upload,
        name="responses_upload",
    ),
    path("", include("clientbook.campaigns.channel_urls")),
]
