"""The bulk computation on hand-built customers: what each row holds, where
freshness and usage come from, and that it costs no query per customer."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clientbook.activity.services import interaction_record
from clientbook.customers.services import (
    address_add,
    customer_archive,
    customer_update,
    identifier_add,
)
from clientbook.privacy.models import AuditEntry
from clientbook.quality.models import (
    CustomerQuality,
    CustomerSelection,
    QualityIssue,
    QualitySnapshot,
)
from clientbook.quality.services import quality_compute, selection_record
from clientbook.quality.tests.helpers import (
    NATIONAL_ID,
    audit_at,
    bare,
    days_ago,
    person,
)
from clientbook.sales.services import order_create
from clientbook.tests.factories import ProductFactory


def row(customer) -> CustomerQuality:
    return CustomerQuality.objects.get(customer=customer)


def test_compute_stores_completeness_issues_and_grade(source, branch):
    # given: a rich record whose ID disagrees with its gender, and a bare one
    rich = person(
        source,
        branch,
        identifiers=[("national_id", NATIONAL_ID), ("mobile", "13912345678")],
        addresses=[{"province": "上海市", "street": "南京路1号"}],
        gender="M",
        birth_date=dt.date(1949, 12, 31),
        occupation="教师",
    )
    empty = bare(source, branch)
    # when
    result = quality_compute()
    # then
    assert result["customers"] == 2
    r = row(rich)
    assert r.completeness == pytest.approx(0.7)
    assert r.missing == ["email", "employer", "income_band"]
    assert r.issue_count == 2
    assert set(
        QualityIssue.objects.filter(customer=rich).values_list("field", "code")
    ) == {
        ("national_id", "gender_mismatch"),
        ("address", "no_city"),
    }
    assert row(empty).completeness == pytest.approx(0.1)
    assert row(empty).issue_count == 0
    # creation alone is not maintenance: both are grade 4 with no usage
    assert (r.grade, row(empty).grade) == (4, 4)
    assert AuditEntry.objects.filter(action="quality.compute").count() == 1


def test_freshness_comes_from_maintenance_audit_entries(source, branch, manager):
    customer = bare(source, branch)
    other = bare(source, branch, name="王五")
    old = audit_at(other, "customer.import_update", days_ago(400))
    # a staff change now, and a non-maintenance entry later still
    customer_update(customer=customer, actor=manager, occupation="医生")
    audit_at(customer, "customer.create", days_ago(-1))
    quality_compute()
    r = row(customer)
    latest = AuditEntry.objects.get(customer=customer, action="customer.update")
    assert r.last_maintained_at == latest.at
    assert r.grade == 2
    old.refresh_from_db()
    assert row(other).last_maintained_at == old.at
    assert row(other).grade == 4


@pytest.mark.parametrize(
    "action",
    [
        "customer.update",
        "customer.import_update",
        "identifier.add",
        "identifier.verify",
        "address.add",
        "address.update",
        "preference.set",
        "key_date.add",
        "consent.record",
        "customer.verify",
    ],
)
def test_each_maintenance_action_counts(source, branch, action):
    customer = bare(source, branch)
    audit_at(customer, action, days_ago(30))
    quality_compute()
    assert row(customer).grade == 2


def test_services_that_change_a_record_count_as_maintenance(source, branch, manager):
    a, b = bare(source, branch, name="甲"), bare(source, branch, name="乙")
    identifier_add(
        customer=a, type="mobile", value="13812345678", source=source, actor=manager
    )
    address_add(customer=b, source=source, actor=manager, city="杭州市")
    quality_compute()
    assert row(a).last_maintained_at is not None
    assert row(b).last_maintained_at is not None


def test_usage_counts_selections_in_the_window_only(source, branch, marketer):
    customer = bare(source, branch)
    for days in (10, 100, 200, 400):
        selection_record(
            customers=[customer], purpose="春节营销", actor=marketer, at=days_ago(days)
        )
    quality_compute()
    r = row(customer)
    assert (r.selections_recent, r.selections_total) == (3, 4)
    assert r.grade == 2  # selected, but not maintained: grade 1 needs both
    audit_at(customer, "customer.update", days_ago(5))
    quality_compute()
    assert row(customer).grade == 1


def test_past_orders_or_interactions_make_grade_3(source, branch, manager):
    ordered, contacted, idle = (
        bare(source, branch, name=n) for n in ("甲", "乙", "丙")
    )
    product = ProductFactory()
    order_create(
        customer=ordered,
        number="A-1",
        source=source,
        ordered_at=days_ago(800),
        lines=[{"sku": product.sku, "quantity": 1}],
        actor=manager,
    )
    interaction_record(
        customer=contacted,
        channel="phone",
        direction="out",
        type="call",
        occurred_at=days_ago(700),
        source=source,
        actor=manager,
    )
    quality_compute()
    assert [row(c).grade for c in (ordered, contacted, idle)] == [3, 3, 4]
    assert row(ordered).has_past_usage and not row(idle).has_past_usage


def test_archived_customers_leave_the_table(source, branch, manager):
    kept, gone = bare(source, branch, name="甲"), bare(source, branch, name="乙")
    quality_compute()
    customer_archive(customer=gone, actor=manager)
    quality_compute()
    assert list(CustomerQuality.objects.values_list("customer_id", flat=True)) == [
        kept.pk
    ]


def test_compute_costs_the_same_queries_for_more_customers(source, branch, settings):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "QUALITY": {"CHUNK_SIZE": 1000}}

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            quality_compute()
        return len(ctx.captured_queries)

    for i in range(3):
        person(
            source, branch, name=f"甲{i}", identifiers=[("mobile", f"1391234560{i}")]
        )
    few = queries()
    for i in range(3, 30):
        person(
            source, branch, name=f"甲{i}", identifiers=[("mobile", f"139123456{i:02d}")]
        )
    assert queries() == few
    assert CustomerQuality.objects.count() == 30


def test_snapshot_per_branch_and_in_total(source, branch, other_branch):
    bare(source, branch, name="甲")
    bare(source, other_branch, name="乙")
    bare(source, None, name="丙")
    quality_compute()
    quality_compute()  # the day's snapshot is replaced, not added
    snaps = {s.branch_id: s for s in QualitySnapshot.objects.all()}
    assert set(snaps) == {branch.pk, other_branch.pk, None}
    assert snaps[None].customers == 3 and snaps[branch.pk].customers == 1
    assert snaps[None].grade_4 == 3
    assert snaps[None].richness == pytest.approx(0.1)


def test_selection_record_is_bulk_and_audited(source, branch, other_branch, marketer):
    customers = [bare(source, branch, name=f"甲{i}") for i in range(5)]
    from clientbook.customers.models import Customer

    run = selection_record(
        customers=Customer.objects.all(),
        purpose="  短信 营销 ",
        channel="sms",
        actor=marketer,
    )
    assert run.count == 5 and run.purpose == "短信 营销"
    assert CustomerSelection.objects.filter(run=run).count() == 5
    entry = AuditEntry.objects.get(action="selection.record")
    assert entry.actor == marketer
    assert entry.after == {"purpose": "短信 营销", "channel": "sms", "count": 5}
    assert customers


def test_selection_needs_a_purpose_and_a_writer(source, branch, marketer, auditor):
    from clientbook.errors import AccessDenied, ValidationFailed

    customer = bare(source, branch)
    with pytest.raises(ValidationFailed) as exc:
        selection_record(customers=[customer], purpose=" ", actor=marketer)
    assert exc.value.code == "invalid_purpose"
    with pytest.raises(AccessDenied) as exc:
        selection_record(customers=[customer], purpose="x", actor=auditor)
    assert exc.value.code == "read_only"
    assert not CustomerSelection.objects.exists()


def test_branch_staff_select_only_their_branch(
    source, branch, other_branch, branch_staff
):
    from clientbook.errors import AccessDenied

    mine, theirs = (
        bare(source, branch, name="甲"),
        bare(source, other_branch, name="乙"),
    )
    selection_record(customers=[mine], purpose="本店", actor=branch_staff)
    with pytest.raises(AccessDenied) as exc:
        selection_record(customers=[mine, theirs], purpose="越界", actor=branch_staff)
    assert exc.value.code == "other_branch"
    assert CustomerSelection.objects.count() == 1
