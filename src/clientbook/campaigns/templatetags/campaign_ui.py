from decimal import Decimal

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value, digits: int = 2) -> str:
    """A share (0.0525) as a percentage ("5.25%"); "—" when unknown."""
    if value is None or value == "":
        return "—"
    return number_format(Decimal(str(value)) * 100, int(digits)) + "%"
