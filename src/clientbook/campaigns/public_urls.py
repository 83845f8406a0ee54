"""Links members follow from a message (no login): response and unsubscribe;
and the providers' webhook."""

app_name = "campaign_links"

urlpatterns: list = []
