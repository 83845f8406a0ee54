"""Every error code of the segments app, so the API, the UI and tests agree."""

from django.db import models


class ErrorCode(models.TextChoices):
    INVALID_DEFINITION = "invalid_definition"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_OPERATOR = "unknown_operator"
    INVALID_VALUE = "invalid_value"
    MISSING_PARAMETER = "missing_parameter"
    UNKNOWN_CUSTOM_FIELD = "unknown_custom_field"
    UNKNOWN_SEGMENT = "unknown_segment"
    SEGMENT_CYCLE = "segment_cycle"
    TOO_DEEP = "too_deep"
    NAME_REQUIRED = "name_required"
    NAME_TAKEN = "name_taken"
    INVALID_KIND = "invalid_kind"
    ARCHIVED = "archived"
    NO_SNAPSHOT = "no_snapshot"
    INVALID_COLUMN = "invalid_column"
    INVALID_FORMAT = "invalid_format"
    NOT_FOUND = "not_found"
    PII_DENIED = "pii_denied"
