"""Words for what the analyses store as data: feature names, algorithms, tree
and rough-set rules, offer scores. Worded when shown, in the reader's
language; runs stored before the data form (plain English strings) are
shown as they were stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

#: Columns of the feature table (``engines/features.py``) and model matrix.
FEATURE_LABELS = {
    "age": gettext_lazy("age"),
    "tenure_days": gettext_lazy("days as a customer"),
    "frequency": gettext_lazy("orders"),
    "monetary": gettext_lazy("net sales"),
    "margin": gettext_lazy("margin"),
    "average_basket": gettext_lazy("average basket"),
    "recency_days": gettext_lazy("days since last order"),
    "interactions": gettext_lazy("contacts"),
    "complaints": gettext_lazy("complaints"),
    "days_since_contact": gettext_lazy("days since last contact"),
    "is_female": gettext_lazy("female"),
}

ALGORITHM_LABELS = {
    "entropy_tree": gettext_lazy("Decision tree (entropy, ID3 family)"),
    "neural_network": gettext_lazy("Neural network (MLP)"),
    "gradient_boosting": gettext_lazy("Gradient boosting"),
}

#: Condition attributes of the rough-set retention table and their levels.
ROUGH_ATTRIBUTES = {
    "recency": gettext_lazy("days since last order"),
    "frequency": gettext_lazy("orders"),
    "monetary": gettext_lazy("net sales"),
    "tenure": gettext_lazy("days as a customer"),
    "online_share": gettext_lazy("share of orders online"),
    "complained": gettext_lazy("complained"),
    "lapsed": gettext_lazy("lapsed"),
}
ROUGH_VALUES = {
    "low": pgettext_lazy("level", "low"),
    "mid": pgettext_lazy("level", "middle"),
    "high": pgettext_lazy("level", "high"),
    "yes": pgettext_lazy("answer", "yes"),
    "no": pgettext_lazy("answer", "no"),
}

#: Where an offer allocation takes each customer's chance of responding.
OFFER_SCORES = {
    "rules": gettext_lazy("Confidence of the next-best-product rule for the offer"),
    "response": gettext_lazy("Response score of the chosen model"),
    "lookalike": gettext_lazy("Look-alike score"),
}


def join(parts: Iterable[str]) -> str:
    """A list in the active language ("a, b, c"; "甲、乙、丙")."""
    return pgettext("list separator", ", ").join(str(p) for p in parts)


def _channel_label(code: str) -> str:
    from clientbook.sales.models import SalesChannel

    try:
        return str(SalesChannel(code).label)
    except ValueError:
        return code


def feature_label(name: str, custom_labels: dict[str, str] | None = None) -> str:
    """The reader's name of a feature-table or model-matrix column."""
    if name in FEATURE_LABELS:
        return str(FEATURE_LABELS[name])
    prefix, _sep, rest = name.partition("_")
    if prefix == "channel":
        return _("share of orders %(channel)s") % {"channel": _channel_label(rest)}
    if prefix == "category":
        return _("share of spend on %(category)s") % {"category": rest}
    if prefix == "custom":
        key, _eq, value = rest.partition("=")
        field = (custom_labels or {}).get(key, key)
        if value:
            return _("%(field)s is %(value)s") % {"field": field, "value": value}
        return field
    return name


def custom_field_labels() -> dict[str, str]:
    """Custom field keys and their labels (one query)."""
    from clientbook.customers.models import CustomField

    return dict(CustomField.objects.values_list("key", "label"))


def algorithm_label(name: str) -> str:
    return str(ALGORITHM_LABELS.get(name, name))


def _number(value: float) -> str:
    return f"{value:.4g}"


def tree_condition(condition: dict[str, Any], custom_labels=None) -> str:
    """One test of a tree path; a 0/1 column reads as "is" or "is not"."""
    feature, op, threshold = (
        condition["feature"],
        condition["op"],
        condition["threshold"],
    )
    if feature.startswith("custom_") and "=" in feature and threshold == 0.5:
        key, _eq, value = feature.removeprefix("custom_").partition("=")
        values = {"field": (custom_labels or {}).get(key, key), "value": value}
        if op == ">":
            return _("%(field)s is %(value)s") % values
        return _("%(field)s is not %(value)s") % values
    label = feature_label(feature, custom_labels)
    if feature == "is_female" and threshold == 0.5:
        if op == ">":
            return label
        return pgettext("tree rule condition", "not %(feature)s") % {"feature": label}
    template = (
        pgettext("tree rule condition", "%(feature)s ≤ %(value)s")
        if op == "<="
        else pgettext("tree rule condition", "%(feature)s > %(value)s")
    )
    return template % {"feature": label, "value": _number(threshold)}


def outcome_label(target: str, category: str = "") -> str:
    """What the positive class of a model target means, as a short phrase."""
    if target == "lapsed":
        return _("lapses")
    if target == "bought_category":
        return _("buys %(category)s") % {"category": category}
    return _("responds")


def tree_rule(rule: dict[str, Any] | str, outcome: str, custom_labels=None) -> str:
    """A tree rule in the active language; an old stored string as it is."""
    if isinstance(rule, str):
        return rule
    values = {
        "outcome": outcome,
        "p": f"{rule['p']:.2f}",
        "n": rule["n"],
    }
    conditions = [tree_condition(c, custom_labels) for c in rule["conditions"]]
    if not conditions:
        return _("always %(outcome)s (p = %(p)s, n = %(n)s)") % values
    text = conditions[0]
    for condition in conditions[1:]:
        text = pgettext("joining conditions", "%(conditions)s and %(condition)s") % {
            "conditions": text,
            "condition": condition,
        }
    return _("if %(conditions)s then %(outcome)s (p = %(p)s, n = %(n)s)") % {
        **values,
        "conditions": text,
    }


def rough_attribute(name: str) -> str:
    return str(ROUGH_ATTRIBUTES.get(name, name))


def rough_value(value: str) -> str:
    """A discretised level or a yes/no; numbered levels (bins != 3) as they are."""
    return str(ROUGH_VALUES.get(value, value))


def rough_conditions(conditions: dict[str, str]) -> str:
    return join(
        pgettext("rough-set condition", "%(attribute)s is %(value)s")
        % {"attribute": rough_attribute(a), "value": rough_value(v)}
        for a, v in conditions.items()
    )


def offer_score_label(name: str) -> str:
    return str(OFFER_SCORES.get(name, name))
