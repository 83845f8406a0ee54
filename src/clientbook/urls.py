from django.contrib import admin
from django.urls import include, path

from clientbook.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("customers/", include("clientbook.customers.urls")),
    path("imports/", include("clientbook.ingest.urls")),
    path("duplicates/", include("clientbook.identity.urls")),
    path("quality/", include("clientbook.quality.urls")),
    path("analytics/", include("clientbook.analytics.urls")),
    path("segments/", include("clientbook.segments.urls")),
    path("campaigns/", include("clientbook.campaigns.urls")),
    path("c/", include("clientbook.campaigns.public_urls")),
    path("", include("clientbook.web.urls")),
]
