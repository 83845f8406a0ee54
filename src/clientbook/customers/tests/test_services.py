import datetime as dt
import re
import time
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from clientbook.customers.models import (
    Customer,
    CustomFieldValue,
    Identifier,
    uuid7,
    uuid7_text,
    uuid7_texts,
)
from clientbook.customers.selectors import (
    _identifier_matches,
    customer_search,
    customer_value_summary,
)
from clientbook.customers.services import (
    custom_field_define,
    customer_archive,
    customer_create,
    customer_update,
    identifier_add,
    preference_set,
)
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.ingest.pipeline import _in
from clientbook.privacy.models import AuditEntry
from clientbook.sales.services import order_create
from clientbook.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_fifteen_and_eighteen_digit_ids_are_one_identifier(source, branch, manager):
    # given a customer known by the old 15-digit number
    customer = customer_create(
        name="郑一",
        source=source,
        branch=branch,
        identifiers=[{"type": "national_id", "value": "110105491231002"}],
    )
    # when another system sends the 18-digit form for someone else
    with pytest.raises(Conflict) as err:
        customer_create(
            name="郑二",
            source=source,
            branch=branch,
            identifiers=[{"type": "national_id", "value": "11010519491231002X"}],
        )
    # then it is refused, naming the holder, and search finds the one customer both ways
    assert err.value.details["existing_customer"] == str(customer.uuid)
    for query in ("110105491231002", "11010519491231002X"):
        assert list(customer_search(user=manager, query=query)) == [customer]
    assert Customer.objects.count() == 1


def test_database_refuses_a_second_live_holder(source, branch):
    a = customer_create(
        name="甲",
        source=source,
        branch=branch,
        identifiers=[{"type": "email", "value": "a@example.com"}],
    )
    b = customer_create(name="乙", source=source, branch=branch)
    held = a.identifiers.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Identifier.objects.create(
            customer=b,
            type="email",
            value="a@example.com",
            source=source,
            first_seen=held.first_seen,
            last_seen=held.last_seen,
        )


def test_soft_identifiers_may_be_shared(source, branch):
    # A landline or a WeChat id can belong to a household or an office.
    for name in ("丙", "丁"):
        customer_create(
            name=name,
            source=source,
            branch=branch,
            identifiers=[
                {"type": "landline", "value": "010-62345678"},
                {"type": "wechat", "value": "shop_owner"},
            ],
        )
    assert Identifier.objects.filter(type="landline").count() == 2


def test_search_finds_customers_by_each_kind_of_identifier(source, branch, manager):
    customer = customer_create(
        name="戌",
        source=source,
        branch=branch,
        identifiers=[
            {"type": "mobile", "value": "13912345678"},
            {"type": "landline", "value": "010-62345678"},
            {"type": "membership", "value": "VIP-0042"},
            {"type": "wechat", "value": "xu_shop"},
            {"type": "email", "value": "Xu@Example.com"},
            {"type": "national_id", "value": "11010519491231002X"},
        ],
    )
    for query in (
        "139 1234 5678",
        "010-62345678",
        "VIP-0042",
        "xu_shop",
        "xu@example.com",
        "110105491231002",
    ):
        assert list(customer_search(user=manager, query=query)) == [customer], query


def _plan(queryset) -> str:
    if connection.vendor != "postgresql":
        return queryset.explain()
    with transaction.atomic(), connection.cursor() as cursor:
        # A table this small is read whole anyway: ask for an index, and see
        # that one can serve (else the plan reads a whole table or index).
        cursor.execute("SET LOCAL enable_seqscan TO off")
        return queryset.explain()


@pytest.mark.parametrize(
    ("lookup", "indexes"),
    [
        (
            lambda: Identifier.objects.filter(_identifier_matches("13912345678")),
            {"hard_identifier_one_live_holder", "identifier_value_not_hard"},
        ),
        (
            lambda: Identifier.objects.filter(_identifier_matches("010-62345678")),
            {"hard_identifier_one_live_holder", "identifier_value_not_hard"},
        ),
        (  # how an import looks up the holders of a chunk's mobiles
            lambda: Identifier.objects.filter(
                _in("value", ["+8613912345678"]), type="mobile", is_live=True
            ),
            {"hard_identifier_one_live_holder"},
        ),
    ],
)
def test_identifier_lookups_by_value_use_an_index(lookup, indexes, source, branch):
    customer_create(
        name="亥",
        source=source,
        branch=branch,
        identifiers=[{"type": "landline", "value": "010-62345678"}],
    )
    plan = _plan(lookup())
    if connection.vendor == "postgresql":
        used = set(re.findall(r"Index (?:Only )?Scan (?:using|on) (\w+)", plan))
        assert used == indexes, plan
        assert plan.count("Index Cond") >= plan.count("Index Scan"), plan
    else:  # one index, whole on SQLite (PartialOnPostgreSQL): searched, not scanned
        assert "SEARCH customers_identifier" in plan, plan
        assert "SCAN customers_identifier" not in plan, plan


def test_seeing_an_identifier_again_updates_last_seen(source, branch):
    customer = customer_create(
        name="戊",
        source=source,
        branch=branch,
        identifiers=[{"type": "mobile", "value": "13900139000"}],
    )
    first = customer.identifiers.get()
    again = identifier_add(
        customer=customer,
        type="mobile",
        value="+86 139 0013 9000",
        source=source,
        is_verified=True,
    )
    assert again.pk == first.pk
    assert again.is_verified and again.last_seen >= first.last_seen


def test_wrong_identifier_type_for_number(source, branch):
    with pytest.raises(ValidationFailed) as err:
        customer_create(
            name="己",
            source=source,
            branch=branch,
            identifiers=[{"type": "mobile", "value": "010-62345678"}],
        )
    assert err.value.code == "invalid_identifier"
    assert not Customer.objects.exists()


def test_bad_check_digit_is_refused_with_reason(source, branch):
    with pytest.raises(ValidationFailed) as err, translation.override("en"):
        customer_create(
            name="庚",
            source=source,
            branch=branch,
            identifiers=[{"type": "national_id", "value": "110105194912310021"}],
        )
    assert err.value.code == "invalid_identifier"
    assert (err.value.field, err.value.value) == ("national_id", "110105194912310021")
    assert "check digit" in err.value.message


@pytest.fixture
def fields(admin_user):
    return {
        "visits": custom_field_define(
            key="visits",
            label="到店次数",
            customer_kind="individual",
            field_type="integer",
            actor=admin_user,
        ),
        "budget": custom_field_define(
            key="budget",
            label="预算",
            customer_kind="individual",
            field_type="decimal",
            actor=admin_user,
        ),
        "since": custom_field_define(
            key="since",
            label="入会日期",
            customer_kind="individual",
            field_type="date",
            actor=admin_user,
        ),
        "smoker": custom_field_define(
            key="smoker",
            label="吸烟",
            customer_kind="individual",
            field_type="boolean",
            actor=admin_user,
        ),
        "room": custom_field_define(
            key="room",
            label="房型",
            customer_kind="individual",
            field_type="choice",
            choices=["大床", "双床"],
            actor=admin_user,
        ),
    }


def test_custom_values_are_typed_and_filterable(source, branch, fields):
    customer = customer_create(
        name="辛",
        source=source,
        branch=branch,
        custom_fields={
            "visits": "12",
            "budget": "3999.50",
            "since": "2020-02-29",
            "smoker": "否",
            "room": "大床",
        },
    )
    customer_create(
        name="壬", source=source, branch=branch, custom_fields={"visits": 2}
    )

    frequent = Customer.objects.filter(
        custom_values__field__key="visits", custom_values__value_integer__gte=10
    )
    assert list(frequent) == [customer]
    values = {
        v.field.key: v.value for v in CustomFieldValue.objects.filter(customer=customer)
    }
    assert values == {
        "visits": 12,
        "budget": Decimal("3999.500000"),
        "since": dt.date(2020, 2, 29),
        "smoker": False,
        "room": "大床",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("visits", "12.5"),
        ("visits", True),
        ("visits", "9223372036854775808"),  # past the column's 64 bits
        ("budget", "a lot"),
        ("budget", "99999999999999.9999995"),  # rounds to 10^14: past numeric(20,6)
        ("budget", "Infinity"),
        ("since", "2021-02-30"),
        ("smoker", "maybe"),
        ("room", "套房"),
        ("nonexistent", "x"),
    ],
)
def test_invalid_custom_value_names_field_and_value(source, branch, fields, key, value):
    with pytest.raises(ValidationFailed) as err:
        customer_create(
            name="癸", source=source, branch=branch, custom_fields={key: value}
        )
    assert err.value.field == f"custom_fields.{key}"
    assert err.value.value == value
    assert not Customer.objects.exists()


def test_required_custom_field(source, branch, admin_user):
    custom_field_define(
        key="tax_no",
        label="税号",
        customer_kind="organisation",
        field_type="text",
        is_required=True,
        actor=admin_user,
    )
    with pytest.raises(ValidationFailed) as err:
        customer_create(
            name="某某有限公司", kind="organisation", source=source, branch=branch
        )
    assert err.value.code == "required"
    # An individual does not need the organisation's field.
    customer_create(name="个人", source=source, branch=branch)


def test_update_audits_only_what_changed(source, branch, manager, fields):
    customer = customer_create(name="子", source=source, branch=branch)
    customer_update(customer=customer, actor=manager, name="子", occupation="")
    assert not AuditEntry.objects.filter(action="customer.update").exists()

    customer_update(
        customer=customer,
        actor=manager,
        name="丑",
        custom_fields={"visits": 3},
        tags=["新客"],
    )

    entry = AuditEntry.objects.get(action="customer.update")
    assert entry.before == {"name": "子", "custom_fields": {}, "tags": []}
    assert entry.after == {
        "name": "丑",
        "custom_fields": {"visits": 3},
        "tags": ["新客"],
    }
    customer.refresh_from_db()
    assert (customer.name_pinyin, customer.name_initials) == ("chou", "c")


def test_future_birth_date_refused(source, branch):
    with pytest.raises(ValidationFailed) as err:
        customer_create(
            name="寅", source=source, branch=branch, birth_date="2999-01-01"
        )
    assert err.value.field == "birth_date"


def test_branch_staff_cannot_create_in_another_branch(
    source, other_branch, branch_staff
):
    with pytest.raises(AccessDenied):
        customer_create(
            name="卯", source=source, branch=other_branch, actor=branch_staff
        )
    assert not Customer.objects.exists()


def test_archived_customers_are_kept_and_hidden_from_search(source, branch, manager):
    customer = customer_create(name="辰", source=source, branch=branch)
    customer_archive(customer=customer, actor=manager, reason="moved away")
    assert Customer.objects.filter(pk=customer.pk, archived_at__isnull=False).exists()
    assert not customer_search(user=manager, query="辰").exists()
    assert (
        AuditEntry.objects.get(action="customer.archive").after["reason"]
        == "moved away"
    )


def test_preference_replaces_same_key(source, branch):
    customer = customer_create(name="巳", source=source, branch=branch)
    preference_set(
        customer=customer, category="客房", key="楼层", value="高楼层", source=source
    )
    preference_set(
        customer=customer, category="客房", key="楼层", value="远离电梯", source=source
    )
    assert list(customer.preferences.values_list("value", flat=True)) == ["远离电梯"]


def test_value_summary_is_net_of_returns(source, branch):
    customer = customer_create(name="午", source=source, branch=branch)
    ProductFactory(sku="S1", price=Decimal("100.00"), unit_cost=Decimal("70.00"))
    t = dt.datetime(2025, 6, 18, 12, tzinfo=dt.UTC)
    order_create(
        customer=customer,
        number="O1",
        ordered_at=t,
        source=source,
        lines=[{"sku": "S1", "quantity": 3}],
    )
    order_create(
        customer=customer,
        number="O2",
        ordered_at=t + dt.timedelta(days=30),
        source=source,
        lines=[{"sku": "S1", "quantity": 1}],
    )
    order_create(
        customer=customer,
        number="O1-R",
        ordered_at=t + dt.timedelta(days=40),
        source=source,
        lines=[{"sku": "S1", "quantity": -1}],
    )

    summary = customer_value_summary(customer)

    assert summary.revenue == Decimal("300.00")
    assert summary.margin == Decimal("90.00")
    assert summary.order_count == 2
    assert summary.first_purchase == t
    assert summary.last_purchase == t + dt.timedelta(days=30)


def test_an_edit_writes_only_what_it_changes(source, branch, manager):
    customer = customer_create(name="午", source=source, branch=branch)
    stale = Customer.objects.get(pk=customer.pk)
    customer_update(customer=customer, actor=manager, occupation="教师")

    # a form loaded before that edit changes another field
    customer_update(customer=stale, actor=manager, employer="复旦大学")

    customer.refresh_from_db()
    assert (customer.occupation, customer.employer) == ("教师", "复旦大学")


def test_an_edit_of_a_copy_loaded_before_a_merge_is_refused(source, branch, manager):
    from clientbook.identity.services import customer_merge

    survivor = customer_create(name="未", source=source, branch=branch)
    duplicate = customer_create(
        name="未", source=source, branch=branch, occupation="医生"
    )
    survivor_form = Customer.objects.get(pk=survivor.pk)
    duplicate_form = Customer.objects.get(pk=duplicate.pk)
    customer_merge(survivor=survivor, duplicate=duplicate)

    # the duplicate's stale copy would write merged_into = NULL back
    with pytest.raises(ValidationFailed) as err:
        customer_update(customer=duplicate_form, actor=manager, occupation="教师")
    assert err.value.code == "not_live"
    # the survivor's stale copy keeps what the merge gave it
    customer_update(customer=survivor_form, actor=manager, employer="复旦大学")

    duplicate.refresh_from_db()
    survivor.refresh_from_db()
    assert duplicate.merged_into_id == survivor.pk
    assert (survivor.occupation, survivor.employer) == ("医生", "复旦大学")


def test_an_archived_customer_is_not_edited(source, branch, manager):
    customer = customer_create(name="申", source=source, branch=branch)
    stale = Customer.objects.get(pk=customer.pk)
    customer_archive(customer=customer, actor=manager)

    with pytest.raises(ValidationFailed):
        customer_update(customer=stale, actor=manager, occupation="教师")

    customer.refresh_from_db()
    assert customer.archived_at is not None and customer.occupation == ""


def test_customer_uuids_are_version_7_and_follow_creation_order(source, manager):
    # given customers created one after another
    made = []
    for name in ("甲", "乙", "丙"):
        made.append(customer_create(name=name, source=source, actor=manager).uuid)
        time.sleep(0.002)  # the order is by millisecond
    # then: RFC 9562 version 7, sorted as created (the unique index appends)
    assert [u.version for u in made] == [7, 7, 7]
    assert {u.variant for u in made} == {uuid.RFC_4122}
    assert made == sorted(made)
    assert len({uuid7() for _ in range(10_000)}) == 10_000


def test_uuids_made_as_text_many_at_once_are_version_7_of_now():
    # given: a chunk's worth made at once, and one made after them
    before = time.time_ns() // 1_000_000
    made = [uuid.UUID(text) for text in uuid7_texts(10_000)]
    later = uuid.UUID(uuid7_text())
    # then: version 7, all different, stamped with the time they were made
    assert {u.version for u in made} == {7} and {u.variant for u in made} == {
        uuid.RFC_4122
    }
    assert len(set(made)) == 10_000 and str(made[0]) == str(made[0]).lower()
    stamps = {u.int >> 80 for u in made}
    assert len(stamps) == 1 and before <= stamps.pop() <= later.int >> 80
    # and the two random bits beside the variant take every value
    assert {str(u)[19] for u in made} == set("89ab")
