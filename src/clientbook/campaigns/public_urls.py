"""Links members follow from a message (no login): response and unsubscribe;
and the providers' webhook."""

from django.urls import path

from clientbook.campaigns import public

app_name = "campaign_links"

urlpatterns = [
    path("webhook/", public.webhook, name="webhook"),
    path("<str:code>/", public.respond, name="respond"),
    path("<str:code>/unsubscribe/", public.unsubscribe, name="unsubscribe"),
    path("<str:code>/unsubscribe/one-click/", public.one_click, name="one_click"),
]
