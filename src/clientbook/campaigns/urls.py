from django.urls import include, path

app_name = "campaigns"

urlpatterns = [
    path("", include("clientbook.campaigns.channel_urls")),
]
