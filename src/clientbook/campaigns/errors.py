"""Every error code of the campaigns app, so the API, the UI and tests agree."""

from django.db import models


class ErrorCode(models.TextChoices):
    NOT_FOUND = "not_found"
    NAME_REQUIRED = "name_required"
    NAME_TAKEN = "name_taken"
    INVALID_VALUE = "invalid_value"
    INVALID_CHANNEL = "invalid_channel"
    INVALID_STAGE = "invalid_stage"
    INVALID_SELECTION = "invalid_selection"
    UNKNOWN_SEGMENT = "unknown_segment"
    NO_VARIANT = "no_variant"
    VARIANT_TAKEN = "variant_taken"
    FROZEN = "frozen"
    NOT_SELECTED = "not_selected"
    NOT_ASSIGNED = "not_assigned"
    NO_TEST = "no_test"
    NO_WINNER = "no_winner"
    TEMPLATE_ERROR = "template_error"
    SMS_TOO_LONG = "sms_too_long"
    SMS_NO_OPT_OUT = "sms_no_opt_out"
    UNKNOWN_CODE = "unknown_code"
    NOT_YOURS = "not_yours"
    BAD_SIGNATURE = "bad_signature"
    INVALID_FILE = "invalid_file"
    DO_NOT_CALL = "do_not_call"
