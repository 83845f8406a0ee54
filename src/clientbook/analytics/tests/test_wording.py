"""Stored analysis data worded for the reader: tree and rough-set rules,
feature names, list separators; old plain-text rules shown as stored."""

from django.utils import translation

from clientbook.analytics import wording
from clientbook.analytics.engines import clusters

RULE = {
    "conditions": [
        {"feature": "recency_days", "op": ">", "threshold": 180.25},
        {"feature": "custom_member_level=金卡", "op": "<=", "threshold": 0.5},
        {"feature": "channel_online", "op": ">", "threshold": 0.5},
        {"feature": "category_茶叶", "op": "<=", "threshold": 0.1},
    ],
    "p": 0.8125,
    "n": 64,
}


def test_tree_rule_in_english():
    with translation.override("en"):
        text = wording.tree_rule(
            RULE, wording.outcome_label("lapsed"), {"member_level": "会员等级"}
        )
    assert text == (
        "if days since last order > 180.2 and 会员等级 is not 金卡"
        " and share of orders Online > 0.5 and share of spend on 茶叶 ≤ 0.1"
        " then lapses (p = 0.81, n = 64)"
    )


def test_a_leaf_without_conditions_and_a_category_target():
    rule = {"conditions": [], "p": 0.3, "n": 500}
    with translation.override("en"):
        outcome = wording.outcome_label("bought_category", "茶具")
        assert (
            wording.tree_rule(rule, outcome) == "always buys 茶具 (p = 0.30, n = 500)"
        )


def test_old_rules_stored_as_text_are_shown_as_stored():
    old = "if recency_days > 200 then yes (p=0.90, n=40)"
    assert wording.tree_rule(old, "whatever") == old


def test_rough_set_conditions_and_values():
    with translation.override("en"):
        text = wording.rough_conditions({"recency": "high", "complained": "yes"})
        assert text == "days since last order is high, complained is yes"
        assert wording.rough_value("3") == "3"  # numbered levels when bins != 3
    with translation.override("zh-hans"):
        # Chinese lists are joined with the enumeration comma once translated
        separator = translation.pgettext("list separator", ", ")
        assert wording.join(["甲", "乙"]) == f"甲{separator}乙"


def test_feature_labels_and_algorithms():
    with translation.override("en"):
        assert wording.feature_label("tenure_days") == "days as a customer"
        assert wording.feature_label("custom_tea_years", {"tea_years": "饮茶年数"}) == (
            "饮茶年数"
        )
        assert wording.feature_label("something_else") == "something_else"
        assert wording.algorithm_label("gradient_boosting") == "Gradient boosting"
        assert wording.algorithm_label("new_family") == "new_family"


def test_cluster_descriptions_use_the_list_separator():
    traits = [
        clusters.Trait("age", clusters.LOW, -1.0),
        clusters.Trait("frequency", clusters.HIGH, 1.0),
    ]
    with translation.override("en"):
        assert clusters.describe(traits) == "young, frequent"
