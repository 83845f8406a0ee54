"""Masks for personal data shown to users without `view_pii`."""

import re
from typing import Any

_NATIONAL_ID = re.compile(r"^\d{17}[\dX]$|^\d{15}$")
_PHONE = re.compile(r"^\+\d{7,15}$")


def mask(value: str, *, keep_start: int, keep_end: int) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end :]


def mask_identifier(type_: str, value: str) -> str:
    """110105194912310021 → 110************0021; +8613800138000 → +86138****8000."""
    if type_ == "national_id":
        return mask(value, keep_start=3, keep_end=4)
    if type_ in ("mobile", "landline"):
        # Country and area code stay; a value too short to have them is hidden.
        return mask(value, keep_start=max(len(value) - 8, 0), keep_end=4)
    if type_ == "passport":
        return mask(value, keep_start=1, keep_end=3)
    return value


def show_identifier(user, type_: str, value: str) -> str:
    from clientbook.org.access import can_view_pii

    return value if can_view_pii(user) else mask_identifier(type_, value)


def mask_audit_data(data: Any) -> Any:
    """A copy of an audit payload with identifier values masked.

    Payloads are free-form JSON written by many services, so two rules apply:
    a dict holding an identifier (`type` + `value`) is masked by its type, and
    any other string shaped like a national ID or a phone number is masked too,
    so a new service cannot leak one by accident."""
    if isinstance(data, dict):
        type_ = data.get("type")
        masked = {}
        for key, value in data.items():
            if key == "value" and isinstance(type_, str) and isinstance(value, str):
                masked[key] = mask_identifier(type_, value)
            else:
                masked[key] = mask_audit_data(value)
        return masked
    if isinstance(data, list):
        return [mask_audit_data(v) for v in data]
    if isinstance(data, str):
        if _NATIONAL_ID.match(data):
            return mask_identifier("national_id", data)
        if _PHONE.match(data):
            return mask_identifier("mobile", data)
    return data
