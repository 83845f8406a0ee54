"""Template helpers shared by every page: money, masked identifiers, audit values."""

from decimal import Decimal, InvalidOperation

from django import template

from clientbook.org.access import can_write
from clientbook.privacy.masking import show_identifier
from clientbook.web.audit import audit_format

register = template.Library()


@register.filter
def money(value) -> str:
    """¥1,234.50; "-¥3.00" for a net return; empty for no value."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    text = f"{abs(amount):,.2f}"
    return f"-¥{text}" if amount < 0 else f"¥{text}"


@register.simple_tag(takes_context=True)
def identifier_display(context, type_: str, value: str) -> str:
    """The identifier as the current user may see it."""
    return show_identifier(context["request"].user, type_, value)


@register.filter
def audit_text(value) -> str:
    return audit_format(value)


@register.filter
def may_write(user) -> bool:
    """Whether the user's role may change data (auditors may not)."""
    return can_write(user)
