import datetime as dt

import pytest
from django.apps import apps
from django.db import IntegrityError
from django.utils import timezone

from clientbook.customers.models import Customer, Identifier
from clientbook.customers.services import (
    address_add,
    custom_field_define,
    customer_create,
    customer_update,
    identifier_add,
    key_date_add,
    preference_set,
)
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.identity import merging
from clientbook.identity.models import DuplicatePair, Merge, PairStatus
from clientbook.identity.services import (
    customer_merge,
    customer_unmerge,
    duplicate_pair_accept,
    duplicate_pair_reject,
    duplicate_pairs_decide,
    survivor_choose,
)
from clientbook.ingest.models import SourceRecord
from clientbook.privacy.models import AuditEntry
from clientbook.privacy.services import consent_record
from clientbook.sales.services import order_create
from clientbook.tests.factories import (
    InteractionFactory,
    ProductFactory,
    SourceFactory,
)


@pytest.fixture
def trusted(db):
    return SourceFactory(code="branch-desk", trust=90)


@pytest.fixture
def weak(db):
    return SourceFactory(code="purchased-list", trust=20)


def _rich(name, source, *, mobile, nid=None, tags=(), **profile):
    ids = [{"type": "mobile", "value": mobile}]
    if nid:
        ids.append({"type": "national_id", "value": nid, "is_verified": True})
    ids.append({"type": "landline", "value": "021-62345678"})
    customer = customer_create(
        name=name,
        source=source,
        identifiers=ids,
        addresses=[{"province": "上海市", "city": "上海市", "street": "南京东路1号"}],
        tags=tags,
        **profile,
    )
    return customer


@pytest.fixture
def pair_of_records(db, trusted, weak, branch):
    ProductFactory(sku="TEA")
    custom_field_define(
        key="shoe_size", label="鞋码", customer_kind="individual", field_type="text"
    )
    custom_field_define(
        key="hobby", label="爱好", customer_kind="individual", field_type="text"
    )
    survivor = _rich(
        "张三",
        trusted,
        mobile="13800138000",
        nid="11010519491231002X",
        tags=["VIP"],
        gender="F",
        birth_date="1949-12-31",
        occupation="教师",
        lifecycle_stage="prospect",
        branch=branch,
        notes="喜欢安静",
        custom_fields={"shoe_size": "37"},
    )
    duplicate = _rich(
        "Zhang San",
        weak,
        mobile="13900139000",
        tags=["VIP", "茶客"],
        birth_date="1950-01-01",
        employer="上海银行",
        lifecycle_stage="active",
        notes="周末来店",
        custom_fields={"shoe_size": "38", "hobby": "茶"},
    )
    address_add(customer=duplicate, source=weak, province="浙江省", street="西湖路9号")
    preference_set(customer=survivor, key="饮品", value="绿茶", source=trusted)
    preference_set(customer=duplicate, key="饮品", value="红茶", source=weak)
    preference_set(customer=duplicate, key="楼层", value="高楼层", source=weak)
    key_date_add(customer=duplicate, kind="anniversary", date="2010-05-01", source=weak)
    consent_record(
        customer=duplicate,
        channel="sms",
        purpose="marketing",
        status="withdrawn",
        source=weak,
    )
    order_create(
        customer=duplicate,
        number="A-1",
        ordered_at=timezone.now() - dt.timedelta(days=3),
        lines=[{"sku": "TEA", "quantity": 1}],
        source=weak,
    )
    InteractionFactory(customer=duplicate, source=weak)
    SourceRecord.objects.create(
        source=weak, key="id:77", customer=duplicate, content_hashes="x"
    )
    return survivor, duplicate


# Tables that database triggers rewrite (a moved ledger entry makes a new
# current-state row): compared by what they hold, not by row id.
BY_CONTENT = {
    "privacy.consentstate": ("channel", "purpose", "status", "occurred_at", "entry_id")
}


def full_snapshot(customer: Customer) -> dict:
    """Everything a merge may touch, for one customer, by row id."""
    customer = Customer.objects.get(pk=customer.pk)
    fields = {
        f.attname: getattr(customer, f.attname) for f in Customer._meta.concrete_fields
    }
    rows = {}
    for (label, fk), _rule in merging.RELATIONS.items():
        model = merging._model(label)
        # The audit log and the merge history grow; that is the point.
        if model is None or label.startswith(("privacy.auditentry", "identity.")):
            continue
        held = model._default_manager.filter(**{f"{fk}_id": customer.pk})
        rows[label] = sorted(held.values_list(*BY_CONTENT.get(label, ("pk",))))
    live = sorted(customer.identifiers.values_list("pk", "is_live"))
    tags = sorted(customer.tags.values_list("name", flat=True))
    return {"fields": fields, "rows": rows, "live": live, "tags": tags}


def test_merge_applies_survivorship_per_field(pair_of_records, admin_user):
    survivor, duplicate = pair_of_records

    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)

    survivor.refresh_from_db()
    # more trusted source; Han characters
    assert survivor.name == "张三"
    # the verified national ID says 1949-12-31, female
    assert survivor.birth_date == dt.date(1949, 12, 31)
    assert survivor.gender == "F"
    # most recent set value; the survivor's own fills where the other is empty
    assert survivor.employer == "上海银行"
    assert survivor.occupation == "教师"
    assert survivor.lifecycle_stage == "active"  # most engaged
    assert survivor.notes == "喜欢安静\n\n周末来店"  # both kept
    assert survivor.branch_id is not None
    assert survivor.source.code == "branch-desk"  # created first
    assert merge.record["survivor_before"] == {
        "employer": "",
        "lifecycle_stage": "prospect",
        "notes": "喜欢安静",
    }


def test_merge_moves_everything_and_keeps_the_duplicate(pair_of_records, admin_user):
    survivor, duplicate = pair_of_records
    dup_ids = set(duplicate.identifiers.values_list("pk", flat=True))

    customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)

    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == survivor.pk
    assert not duplicate.is_live
    assert survivor.orders.count() == 1
    assert survivor.interactions.count() == 1
    assert survivor.consents.get().status == "withdrawn"
    assert survivor.source_records.get().key == "id:77"
    assert survivor.key_dates.filter(kind="anniversary").exists()
    assert {a.street for a in survivor.addresses.all()} == {"南京东路1号", "西湖路9号"}
    assert set(survivor.tags.values_list("name", flat=True)) == {"VIP", "茶客"}
    # newer preference wins; the older one stays with the duplicate
    assert dict(survivor.preferences.values_list("key", "value")) == {
        "饮品": "红茶",
        "楼层": "高楼层",
    }
    assert duplicate.preferences.get().value == "绿茶"
    # the survivor's custom value stays, the missing one comes over
    values = {v.field.key: v.value for v in survivor.custom_values.all()}
    assert values == {"shoe_size": "37", "hobby": "茶"}
    # mobile moved and still live; shared landline stays behind, not live
    mobiles = set(survivor.identifiers.filter(type="mobile").values_list("value"))
    assert mobiles == {("+8613800138000",), ("+8613900139000",)}
    left = Identifier.objects.filter(pk__in=dup_ids, customer=duplicate)
    assert [(i.type, i.is_live) for i in left] == [("landline", False)]
    assert not Customer.objects.filter(pk=duplicate.pk, merged_into=None).exists()


def test_unmerge_restores_both_records_exactly(pair_of_records, admin_user):
    survivor, duplicate = pair_of_records
    before = (full_snapshot(survivor), full_snapshot(duplicate))

    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    assert full_snapshot(survivor) != before[0]
    customer_unmerge(merge=merge, actor=admin_user)

    assert (full_snapshot(survivor), full_snapshot(duplicate)) == before
    merge.refresh_from_db()
    assert merge.undone_at is not None and merge.undone_by == admin_user
    # the two are now known to be different people
    pair = DuplicatePair.objects.get()
    assert pair.status == PairStatus.REJECTED


def test_unmerge_keeps_later_changes_to_the_survivor(pair_of_records, admin_user):
    survivor, duplicate = pair_of_records
    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    customer_update(customer=survivor, employer="复旦大学", actor=admin_user)

    customer_unmerge(merge=merge, actor=admin_user)

    survivor.refresh_from_db()
    assert survivor.employer == "复旦大学"
    assert survivor.lifecycle_stage == "prospect"


def test_merge_and_unmerge_are_audited_for_both(pair_of_records, admin_user):
    survivor, duplicate = pair_of_records
    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    customer_unmerge(merge=merge, actor=admin_user)

    entries = AuditEntry.objects.filter(action__startswith="customer.").exclude(
        action__in=["customer.create", "customer.update"]
    )
    got = sorted((e.action, e.customer_id, e.actor_id) for e in entries)
    assert got == sorted(
        [
            ("customer.merge", survivor.pk, admin_user.pk),
            ("customer.merged_into", duplicate.pk, admin_user.pk),
            ("customer.unmerge", survivor.pk, admin_user.pk),
            ("customer.unmerge", duplicate.pk, admin_user.pk),
        ]
    )
    entry = entries.get(action="customer.merge")
    assert entry.after["merged_from"] == str(duplicate.uuid)
    assert entry.before["lifecycle_stage"] == "prospect"


def test_branch_staff_merge_only_their_branch(pair_of_records, branch_staff, branch):
    survivor, duplicate = pair_of_records  # the duplicate has no branch

    with pytest.raises(AccessDenied) as exc:
        customer_merge(survivor=survivor, duplicate=duplicate, actor=branch_staff)

    assert exc.value.code == "other_branch"
    assert not Merge.objects.exists()
    assert Customer.objects.get(pk=duplicate.pk).merged_into_id is None
    Customer.objects.filter(pk=duplicate.pk).update(branch=branch)
    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=branch_staff)
    assert merge.merged_by == branch_staff


def test_auditor_may_not_merge_or_unmerge(pair_of_records, auditor, admin_user):
    survivor, duplicate = pair_of_records
    with pytest.raises(AccessDenied) as exc:
        customer_merge(survivor=survivor, duplicate=duplicate, actor=auditor)
    assert exc.value.code == "read_only"
    assert not Merge.objects.exists()

    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    with pytest.raises(AccessDenied):
        customer_unmerge(merge=merge, actor=auditor)
    assert Merge.objects.get().undone_at is None


def test_merge_refuses_itself_and_merged_customers(pair_of_records, admin_user):
    survivor, duplicate = pair_of_records
    with pytest.raises(ValidationFailed) as exc:
        customer_merge(survivor=survivor, duplicate=survivor, actor=admin_user)
    assert exc.value.code == "same_customer"

    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    with pytest.raises(ValidationFailed) as exc:
        customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    assert exc.value.code == "not_live"
    customer_unmerge(merge=merge, actor=admin_user)
    with pytest.raises(ValidationFailed) as exc:
        customer_unmerge(merge=merge, actor=admin_user)
    assert exc.value.code == "already_undone"


def test_unmerge_refused_while_the_survivor_is_merged_on(
    pair_of_records, admin_user, trusted
):
    survivor, duplicate = pair_of_records
    third = customer_create(name="张叁", source=trusted)
    first = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    second = customer_merge(survivor=third, duplicate=survivor, actor=admin_user)

    with pytest.raises(ValidationFailed) as exc:
        customer_unmerge(merge=first, actor=admin_user)

    assert exc.value.code == "survivor_merged"
    customer_unmerge(merge=second, actor=admin_user)
    customer_unmerge(merge=first, actor=admin_user)
    assert Customer.objects.filter(merged_into__isnull=False).count() == 0


def test_unmerge_refused_when_an_identifier_was_taken(
    pair_of_records, admin_user, trusted
):
    survivor, duplicate = pair_of_records
    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)
    # the moved mobile is given up by the survivor and taken by someone else
    Identifier.objects.filter(value="+8613900139000").delete()
    other = customer_create(name="李四", source=trusted)
    identifier_add(customer=other, type="mobile", value="13900139000", source=trusted)
    Identifier.objects.filter(customer=duplicate, type="landline").update(
        type="mobile", value="+8613900139000"
    )

    with pytest.raises(Conflict) as exc:
        customer_unmerge(merge=merge, actor=admin_user)

    assert exc.value.code == "identifier_taken"
    assert Merge.objects.get().undone_at is None


def test_nothing_half_written_when_a_merge_fails(
    pair_of_records, admin_user, monkeypatch
):
    survivor, duplicate = pair_of_records
    before = (full_snapshot(survivor), full_snapshot(duplicate))
    audits = AuditEntry.objects.count()

    def broken(*args, **kwargs):
        raise IntegrityError("boom")

    monkeypatch.setattr("clientbook.identity.services._audit_merge", broken)
    with pytest.raises(IntegrityError):
        customer_merge(survivor=survivor, duplicate=duplicate, actor=admin_user)

    assert (full_snapshot(survivor), full_snapshot(duplicate)) == before
    assert not Merge.objects.exists()
    assert AuditEntry.objects.count() == audits


def test_survivor_is_the_more_trusted_record(pair_of_records):
    survivor, duplicate = pair_of_records
    assert survivor_choose(a=duplicate, b=survivor) == (survivor, duplicate)


def _pair(a, b, probability=0.9):
    a, b = sorted([a, b], key=lambda c: c.pk)
    return DuplicatePair.objects.create(
        customer_a=a, customer_b=b, probability=probability, match_weight=3.0
    )


def test_accepting_a_pair_merges_and_rejecting_remembers(
    pair_of_records, admin_user, trusted
):
    survivor, duplicate = pair_of_records
    third = customer_create(name="张珊", source=trusted)
    accepted, other = _pair(survivor, duplicate), _pair(duplicate, third)

    merge = duplicate_pair_accept(pair=accepted, actor=admin_user)

    assert (merge.survivor, merge.duplicate) == (survivor, duplicate)
    accepted.refresh_from_db()
    other.refresh_from_db()
    assert (accepted.status, accepted.merge, accepted.decided_by) == (
        PairStatus.MERGED,
        merge,
        admin_user,
    )
    assert other.status == PairStatus.SUPERSEDED
    with pytest.raises(ValidationFailed) as exc:
        duplicate_pair_reject(pair=other, actor=admin_user)
    assert exc.value.code == "pair_decided"

    customer_unmerge(merge=merge, actor=admin_user)
    other.refresh_from_db()
    assert other.status == PairStatus.PENDING
    duplicate_pair_reject(pair=other, actor=admin_user)
    other.refresh_from_db()
    assert other.status == PairStatus.REJECTED
    assert AuditEntry.objects.filter(
        action="duplicate_pair.reject", customer=third
    ).exists()


def test_bulk_decisions_go_on_past_a_refused_pair(
    pair_of_records, branch_staff, trusted, branch
):
    survivor, duplicate = pair_of_records  # the duplicate is in no branch
    one = customer_create(name="王五", source=trusted, branch=branch)
    two = customer_create(name="王伍", source=trusted, branch=branch)
    refused, fine = _pair(survivor, duplicate), _pair(one, two)

    counts = duplicate_pairs_decide(
        pairs=[refused, fine], accept=False, actor=branch_staff
    )

    assert counts == {"done": 1, "failed": 1}
    refused.refresh_from_db()
    fine.refresh_from_db()
    assert (refused.status, fine.status) == (PairStatus.PENDING, PairStatus.REJECTED)


def test_every_customer_relation_is_decided():
    """A table pointing at customers must say what a merge does to it."""
    found = {
        (model._meta.label_lower, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.concrete
        and field.is_relation
        and field.related_model is Customer
        and not field.many_to_many
    }
    assert found <= set(merging.RELATIONS), found - set(merging.RELATIONS)
