"""Each kind of condition on hand-built data, nesting, and the one-query rule."""

import datetime as dt

import pytest
from django.utils import timezone

from clientbook.activity.models import Interaction
from clientbook.customers.services import custom_field_define, customer_create
from clientbook.quality.services import selection_record
from clientbook.segments.compiler import customers_matching
from clientbook.segments.language import validate
from clientbook.segments.services import segment_create
from clientbook.segments.tests.helpers import consent, days_ago, order, quality, score


def match(*conditions, how: str = "all") -> set[str]:
    definition = validate({"version": 1, "match": how, "conditions": list(conditions)})
    return set(customers_matching(definition).values_list("name", flat=True))


@pytest.fixture
def people(db, source, branch, other_branch):
    """Four customers with distinct profiles."""
    today = timezone.localdate()
    return {
        "ann": customer_create(
            name="Ann",
            source=source,
            gender="F",
            branch=branch,
            birth_date=today.replace(year=today.year - 30) - dt.timedelta(days=1),
            occupation="教师",
            income_band="middle",
            lifecycle_stage="active",
            identifiers=[{"type": "mobile", "value": "13800138000"}],
            addresses=[
                {
                    "province": "上海市",
                    "city": "上海市",
                    "district": "黄浦区",
                    "postcode": "200001",
                }
            ],
            tags=["VIP"],
        ),
        "bob": customer_create(
            name="Bob",
            source=source,
            gender="M",
            branch=other_branch,
            birth_date=today.replace(year=today.year - 50),
            occupation="工程师",
            income_band="high",
            lifecycle_stage="lapsed",
            identifiers=[{"type": "email", "value": "bob@example.com"}],
            addresses=[{"province": "北京市", "city": "北京市", "postcode": "100001"}],
            tags=["车主", "VIP"],
        ),
        "cat": customer_create(
            name="Cat",
            source=source,
            gender="F",
            branch=other_branch,
            kind="organisation",
            lifecycle_stage="prospect",
        ),
        "dan": customer_create(name="Dan", source=source, gender="M"),
    }


def test_profile_fields(people):
    assert match({"field": "gender", "op": "eq", "value": "F"}) == {"Ann", "Cat"}
    assert match({"field": "kind", "op": "eq", "value": "organisation"}) == {"Cat"}
    assert match({"field": "income_band", "op": "in", "value": ["high", "top"]}) == {
        "Bob"
    }
    assert match({"field": "lifecycle_stage", "op": "eq", "value": "lapsed"}) == {"Bob"}
    assert match({"field": "occupation", "op": "contains", "value": "工程"}) == {"Bob"}
    assert match({"field": "occupation", "op": "not_set"}) == {"Cat", "Dan"}
    assert match({"field": "birth_date", "op": "is_set"}) == {"Ann", "Bob"}
    today = timezone.localdate().isoformat()
    assert match({"field": "created", "op": "eq", "value": today}) == {
        "Ann",
        "Bob",
        "Cat",
        "Dan",
    }
    assert match({"field": "created", "op": "lte", "value": "2000-01-01"}) == set()


def test_age_in_whole_years(people):
    assert match({"field": "age", "op": "eq", "value": 30}) == {"Ann"}
    assert match({"field": "age", "op": "gte", "value": 31}) == {"Bob"}
    assert match({"field": "age", "op": "between", "value": [30, 50]}) == {"Ann", "Bob"}
    assert match({"field": "age", "op": "lte", "value": 49}) == {"Ann"}
    assert match({"field": "age", "op": "in", "value": [50, 70]}) == {"Bob"}


def test_custom_fields_typed(people, source):
    custom_field_define(
        key="vip_level", label="VIP", customer_kind="individual", field_type="integer"
    )
    custom_field_define(
        key="pet", label="Pet", customer_kind="individual", field_type="text"
    )
    from clientbook.customers.services import customer_update

    customer_update(customer=people["ann"], custom_fields={"vip_level": 3})
    customer_update(customer=people["bob"], custom_fields={"vip_level": 1, "pet": "猫"})
    assert match({"field": "custom", "key": "vip_level", "op": "gte", "value": 2}) == {
        "Ann"
    }
    assert match(
        {"field": "custom", "key": "vip_level", "op": "between", "value": [1, 3]}
    ) == {"Ann", "Bob"}
    assert match({"field": "custom", "key": "pet", "op": "eq", "value": "猫"}) == {
        "Bob"
    }
    assert match({"field": "custom", "key": "pet", "op": "not_set"}) == {
        "Ann",
        "Cat",
        "Dan",
    }


def test_tags_and_identifiers(people):
    assert match({"field": "tag", "op": "eq", "value": "VIP"}) == {"Ann", "Bob"}
    assert match({"field": "tag", "op": "in", "value": ["车主", "无"]}) == {"Bob"}
    assert match({"field": "tag", "op": "not_set"}) == {"Cat", "Dan"}
    assert match({"field": "identifier", "type": "mobile", "op": "exists"}) == {"Ann"}
    assert match(
        {"field": "identifier", "type": "email", "op": "exists", "negate": True}
    ) == {"Ann", "Cat", "Dan"}


def test_geography_and_branch(people):
    assert match({"field": "city", "op": "eq", "value": "上海市"}) == {"Ann"}
    assert match({"field": "province", "op": "in", "value": ["北京市", "天津市"]}) == {
        "Bob"
    }
    assert match({"field": "district", "op": "is_set"}) == {"Ann"}
    assert match({"field": "postcode", "op": "startswith", "value": "10"}) == {"Bob"}
    assert match({"field": "postcode", "op": "not_set"}) == {"Cat", "Dan"}
    assert match({"field": "branch", "op": "eq", "value": "SH01"}) == {"Ann"}
    assert match({"field": "branch_region", "op": "eq", "value": "华北"}) == {
        "Bob",
        "Cat",
    }
    assert match({"field": "branch", "op": "not_set"}) == {"Dan"}


def test_consent_is_the_latest_ledger_entry(people):
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    consent(ann, status="withdrawn", days=10)
    consent(ann, status="granted", days=2)  # latest: granted
    consent(bob, status="granted", days=10)
    consent(bob, status="withdrawn", days=1)  # latest: withdrawn
    # two entries at the same moment: the later id wins
    same = days_ago(5)
    first = consent(cat, status="withdrawn", days=5)
    second = consent(cat, status="granted", days=5)
    for entry in (first, second):
        entry.occurred_at = same
        entry.save()
    consent(bob, status="granted", days=1, channel="email")
    granted = {
        "field": "consent",
        "channel": "sms",
        "purpose": "marketing",
        "op": "eq",
        "value": "granted",
    }
    assert match(granted) == {"Ann", "Cat"}
    assert match({**granted, "value": "withdrawn"}) == {"Bob"}
    assert match({**granted, "value": "unknown"}) == {"Dan"}
    assert match({**granted, "op": "not_set", "value": None}) == {"Dan"}
    assert match({**granted, "channel": "email"}) == {"Bob"}


def test_scores_and_quality(people):
    score(
        people["ann"],
        rfm_cell="champions",
        value_tier="gold",
        cluster=2,
        churn_score=0.1,
        response_score=0.8,
        lookalike_score=0.05,
        clv="1200.50",
        p_alive=0.9,
        rfm_r=5,
    )
    score(
        people["bob"],
        rfm_cell="at_risk",
        value_tier="silver",
        cluster=1,
        churn_score=0.75,
        response_score=0.2,
        lookalike_score=0.9,
        clv="80.00",
        p_alive=0.3,
        rfm_r=1,
    )
    quality(people["ann"], 1)
    quality(people["bob"], 3)
    assert match({"field": "rfm_cell", "op": "eq", "value": "champions"}) == {"Ann"}
    assert match({"field": "value_tier", "op": "in", "value": ["gold", "x"]}) == {"Ann"}
    assert match({"field": "cluster", "op": "eq", "value": 1}) == {"Bob"}
    assert match({"field": "churn_score", "op": "gte", "value": 0.7}) == {"Bob"}
    assert match({"field": "response_score", "op": "gte", "value": 0.5}) == {"Ann"}
    assert match({"field": "lookalike_score", "op": "gte", "value": 0.5}) == {"Bob"}
    assert match({"field": "clv", "op": "gte", "value": "1000"}) == {"Ann"}
    assert match({"field": "p_alive", "op": "lte", "value": 0.5}) == {"Bob"}
    assert match({"field": "rfm_r", "op": "between", "value": [4, 5]}) == {"Ann"}
    assert match({"field": "quality_grade", "op": "lte", "value": 2}) == {"Ann"}
    assert match({"field": "quality_grade", "op": "not_set"}) == {"Cat", "Dan"}
    assert match(
        {"field": "rfm_cell", "op": "eq", "value": "champions", "negate": True}
    ) == {"Bob", "Cat", "Dan"}


def test_purchases(people):
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    order(ann, days=10, amount="300", sku="TEA", category="饮品")
    order(ann, days=5, amount="-100", sku="TEA", category="饮品")  # a return
    order(bob, days=200, amount="500", sku="CAKE", category="糕点")
    order(bob, days=20, amount="50", sku="CAKE", category="糕点", channel="online")
    order(cat, days=400, amount="80", sku="TEA", category="饮品")
    bought = {"field": "bought", "op": "exists", "category": ["饮品"]}
    assert match(bought) == {"Ann", "Cat"}
    assert match({**bought, "window": {"last_days": 30}}) == {"Ann"}
    assert match({"field": "bought", "product": "CAKE"}) == {"Bob"}
    last_year = (timezone.localdate() - dt.timedelta(days=400)).isoformat()
    assert match({**bought, "window": {"from": last_year, "to": last_year}}) == {"Cat"}
    assert match({**bought, "negate": True}) == {"Bob", "Dan"}
    # net of returns: Ann 300 - 100 = 200
    assert match({"field": "spent", "op": "gte", "value": 200}) == {"Ann", "Bob"}
    assert (
        match(
            {"field": "spent", "op": "gte", "value": 201, "window": {"last_days": 30}}
        )
        == set()
    )
    assert match({"field": "spent", "op": "eq", "value": 0}) == {"Dan"}
    assert match(
        {
            "field": "spent",
            "op": "between",
            "value": [50, 100],
            "window": {"last_days": 30},
        }
    ) == {"Bob"}
    assert match({"field": "order_count", "op": "gte", "value": 2}) == {"Bob"}
    assert match(
        {"field": "order_count", "op": "eq", "value": 1, "window": {"last_days": 30}}
    ) == {"Ann", "Bob"}
    assert match(
        {"field": "order_count", "op": "gte", "value": 1, "channel": ["online"]}
    ) == {"Bob"}
    assert match({"field": "order_count", "op": "lte", "value": 0}) == {"Dan"}
    assert match({"field": "days_since_purchase", "op": "gte", "value": 30}) == {"Cat"}
    assert match({"field": "days_since_purchase", "op": "lte", "value": 15}) == {"Ann"}
    assert match(
        {"field": "days_since_purchase", "op": "between", "value": [15, 100]}
    ) == {"Bob"}
    assert match({"field": "days_since_purchase", "op": "eq", "value": 10}) == {"Ann"}
    assert match({"field": "days_since_purchase", "op": "not_set"}) == {"Dan"}


def test_interactions(people, source):
    ann, bob, cat = people["ann"], people["bob"], people["cat"]

    def touch(customer, channel, direction, type_, days):
        Interaction.objects.create(
            customer=customer,
            channel=channel,
            direction=direction,
            type=type_,
            occurred_at=days_ago(days),
            source=source,
        )

    touch(ann, "email", "out", "email", 3)
    touch(bob, "email", "in", "email", 3)
    touch(bob, "phone", "in", "complaint", 40)
    touch(cat, "sms", "out", "sms", 100)
    assert match({"field": "contacted", "channel": ["email"]}) == {"Ann"}
    assert match({"field": "contacted", "window": {"last_days": 30}}) == {"Ann"}
    assert match({"field": "responded", "channel": ["email"]}) == {"Bob"}
    assert match({"field": "complained"}) == {"Bob"}
    assert match({"field": "complained", "window": {"last_days": 30}}) == set()
    assert match({"field": "interaction", "type": ["sms"], "direction": "out"}) == {
        "Cat"
    }


def test_selection_log(people):
    selection_record(
        customers=[people["ann"].pk], purpose="春季促销", actor=None, at=days_ago(10)
    )
    selection_record(
        customers=[people["bob"].pk], purpose="秋季回馈", actor=None, at=days_ago(100)
    )
    assert match({"field": "selected"}) == {"Ann", "Bob"}
    assert match({"field": "selected", "purpose": "春季"}) == {"Ann"}
    assert match({"field": "selected", "window": {"last_days": 30}}) == {"Ann"}
    assert match(
        {"field": "selected", "negate": True, "window": {"last_days": 30}}
    ) == {"Bob", "Cat", "Dan"}


def test_member_of_another_segment(people, marketer):
    women = segment_create(
        name="Women",
        actor=marketer,
        definition={"conditions": [{"field": "gender", "op": "eq", "value": "F"}]},
    )
    frozen = segment_create(
        name="Frozen VIP",
        actor=marketer,
        kind="static",
        definition={"conditions": [{"field": "tag", "op": "eq", "value": "VIP"}]},
    )
    assert match({"field": "segment", "segment": str(women.uuid)}) == {"Ann", "Cat"}
    assert match(
        {"field": "segment", "segment": "Women"},
        {"field": "segment", "segment": "Frozen VIP"},
    ) == {"Ann"}
    assert match({"field": "segment", "segment": str(frozen.uuid), "negate": True}) == {
        "Cat",
        "Dan",
    }


def test_nesting_and_or_not(people):
    # (F and not organisation) or (M and lapsed)
    definition = {
        "version": 1,
        "match": "any",
        "conditions": [
            {
                "match": "all",
                "conditions": [
                    {"field": "gender", "op": "eq", "value": "F"},
                    {
                        "field": "kind",
                        "op": "eq",
                        "value": "organisation",
                        "negate": True,
                    },
                ],
            },
            {
                "match": "all",
                "conditions": [
                    {"field": "gender", "op": "eq", "value": "M"},
                    {"field": "lifecycle_stage", "op": "eq", "value": "lapsed"},
                ],
            },
        ],
    }
    found = customers_matching(validate(definition)).values_list("name", flat=True)
    assert set(found) == {"Ann", "Bob"}
    definition["negate"] = True
    found = customers_matching(validate(definition)).values_list("name", flat=True)
    assert set(found) == {"Cat", "Dan"}
    nested_not = {
        "conditions": [
            {
                "match": "any",
                "negate": True,
                "conditions": [
                    {"field": "tag", "op": "eq", "value": "VIP"},
                    {"field": "kind", "op": "eq", "value": "organisation"},
                ],
            }
        ]
    }
    found = customers_matching(validate(nested_not)).values_list("name", flat=True)
    assert set(found) == {"Dan"}


def test_empty_definition_matches_live_customers_only(people, source):
    from clientbook.customers.services import customer_archive

    customer_archive(customer=people["dan"])
    merged = customer_create(name="Eve", source=source)
    merged.merged_into = people["ann"]
    merged.save()
    found = customers_matching(validate({"conditions": []}))
    assert set(found.values_list("name", flat=True)) == {"Ann", "Bob", "Cat"}


def test_five_conditions_compile_to_one_query(people, django_assert_num_queries):
    definition = validate(
        {
            "version": 1,
            "match": "all",
            "conditions": [
                {"field": "gender", "op": "eq", "value": "F"},
                {"field": "age", "op": "between", "value": [20, 60]},
                {
                    "field": "consent",
                    "channel": "sms",
                    "purpose": "marketing",
                    "op": "eq",
                    "value": "granted",
                },
                {"field": "bought", "category": ["饮品"], "window": {"last_days": 90}},
                {
                    "match": "any",
                    "conditions": [
                        {"field": "spent", "op": "gte", "value": 100},
                        {"field": "rfm_cell", "op": "in", "value": ["champions"]},
                    ],
                },
            ],
        }
    )
    consent(people["ann"], status="granted", days=1)
    order(people["ann"], days=3, amount="150")
    queryset = customers_matching(definition)
    with django_assert_num_queries(1):
        assert queryset.count() == 1
