from django.db import models


class ErrorCode(models.TextChoices):
    SAME_CUSTOMER = "same_customer"
    KIND_MISMATCH = "kind_mismatch"
    NOT_LIVE = "not_live"
    NOT_FOUND = "not_found"
    ALREADY_UNDONE = "already_undone"
    SURVIVOR_MERGED = "survivor_merged"
    IDENTIFIER_TAKEN = "identifier_taken"
    PAIR_DECIDED = "pair_decided"
    INVALID_THRESHOLD = "invalid_threshold"
    INVALID_BACKEND = "invalid_backend"
    INVALID_MEMORY_LIMIT = "invalid_memory_limit"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    RUN_ACTIVE = "run_active"
    RUN_NOT_ALLOWED = "run_not_allowed"
