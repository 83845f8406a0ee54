from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "clientbook.identity"
    verbose_name = _("Duplicates and merges")
