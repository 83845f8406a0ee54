"""Staff pages of the channels: call lists and outcomes, direct-mail lists
and labels, sending. Included by `campaigns.urls`."""

from django.urls import path

from clientbook.campaigns import channel_views as views

urlpatterns = [
    path("calls/", views.my_calls, name="my_calls"),
    path("calls/<str:code>/outcome/", views.call_outcome, name="call_outcome"),
    path("<uuid:uuid>/send/", views.send, name="send"),
    path("<uuid:uuid>/calls/", views.call_progress, name="call_progress"),
    path("<uuid:uuid>/calls/assign/", views.call_assign, name="call_assign"),
    path("<uuid:uuid>/mail/", views.mail_page, name="mail"),
    path("<uuid:uuid>/mail/labels/", views.mail_labels, name="mail_labels"),
    path("<uuid:uuid>/mail/list.<str:fmt>", views.mail_download, name="mail_download"),
    path("<uuid:uuid>/mail/release/", views.mail_release, name="mail_release"),
]
