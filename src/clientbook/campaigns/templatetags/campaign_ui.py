from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value, digits: int = 2) -> str:
    """A share (0.0525) as a percentage ("5.25%"); "—" when unknown."""
    if value is None or value == "":
        return "—"
    shown = (Decimal(str(value)) * 100).quantize(
        Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP
    )
    return number_format(shown, int(digits)) + "%"


@register.inclusion_tag("campaigns/_customer_panel.html")
def customer_campaigns_panel(customer):
    """The customer's latest campaigns (arm, contact, response) and the
    do-not-contact entries in force: two indexed queries."""
    from clientbook.campaigns.selectors import customer_campaigns

    return customer_campaigns(customer)


@register.filter
def outcome_label(code: str) -> str:
    """A call outcome's name in the active language."""
    from clientbook.campaigns.channels.calls import OUTCOMES

    return str(OUTCOMES.get(code, code))
