"""Masks for personal data shown to users without `view_pii`."""


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
        return mask(value, keep_start=len(value) - 8, keep_end=4)
    if type_ == "passport":
        return mask(value, keep_start=1, keep_end=3)
    return value


def show_identifier(user, type_: str, value: str) -> str:
    from clientbook.org.access import can_view_pii

    return value if can_view_pii(user) else mask_identifier(type_, value)
