"""The analytics app's error codes, shared by the services, the API and tests."""

from django.db.models import TextChoices


class ErrorCode(TextChoices):
    NO_DATA = "no_data"
    ANALYSIS_FAILED = "analysis_failed"
    NO_CAMPAIGN_DATA = "no_campaign_data"
    NO_MODEL = "no_model"
    UNKNOWN_TARGET = "unknown_target"
    UNKNOWN_KIND = "unknown_kind"
    INVALID = "invalid"
