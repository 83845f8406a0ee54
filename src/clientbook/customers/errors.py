from django.db import models


class ErrorCode(models.TextChoices):
    REQUIRED = "required"
    INVALID = "invalid"
    INVALID_IDENTIFIER = "invalid_identifier"
    IDENTIFIER_TAKEN = "identifier_taken"
    UNKNOWN_FIELD = "unknown_field"
    NOT_LIVE = "not_live"
    NOT_FOUND = "not_found"
