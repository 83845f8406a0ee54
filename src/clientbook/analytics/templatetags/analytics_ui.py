"""Template helpers of the analytics pages and the 360 page's analytics panel."""

from django import template

from clientbook.analytics import selectors, wording
from clientbook.analytics.engines.rfm import CELL_LABELS
from clientbook.analytics.engines.value import TIER_LABELS

register = template.Library()


@register.filter
def cell_label(code: str) -> str:
    """The RFM cell's name in the active language."""
    return str(CELL_LABELS.get(code, code or "—"))


@register.filter
def tier_label(code: str) -> str:
    """The value tier's name in the active language."""
    return str(TIER_LABELS.get(code, code or "—"))


@register.filter
def algorithm_label(name: str) -> str:
    """A model family's name in the active language."""
    return wording.algorithm_label(name)


@register.filter
def rough_value(value: str) -> str:
    """A rough-set level or yes/no in the active language."""
    return wording.rough_value(value)


@register.filter
def join_words(values) -> str:
    """A list joined the way the active language lists things."""
    return wording.join(values)


@register.inclusion_tag("analytics/_customer_panel.html")
def customer_analytics_panel(customer):
    """RFM cell, tier, CLV, P(alive), scores and next best products (2 queries)."""
    return selectors.customer_analytics(customer)
