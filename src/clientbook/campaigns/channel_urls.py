"""Staff pages of the channels: call lists and outcomes, direct-mail lists
and labels. Included by `campaigns.urls`."""

urlpatterns: list = []
