from django.db import models


class ErrorCode(models.TextChoices):
    """Every error the quality app raises, by the name the API and tests use."""

    TASK_CLOSED = "task_closed"
    NOT_FOUND = "not_found"
    MANAGERS_ONLY = "managers_only"
    INVALID_OUTCOME = "invalid_outcome"
    INVALID_PURPOSE = "invalid_purpose"
    OTHER_BRANCH = "other_branch"
