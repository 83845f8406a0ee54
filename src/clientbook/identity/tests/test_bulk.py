"""The bulk merge path of a run's automatic merges does what `customer_merge`
does one pair at a time, and each of its merges undoes exactly."""

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from clientbook.customers.services import customer_archive
from clientbook.identity import bulk, services
from clientbook.identity.models import DuplicatePair, Merge, PairStatus
from clientbook.identity.services import customer_merge, customer_unmerge
from clientbook.identity.tests import test_merge
from clientbook.identity.tests.test_merge import _rich, full_snapshot
from clientbook.privacy.models import AuditEntry
from clientbook.tests.concurrency import other_connection
from clientbook.tests.factories import SourceFactory

pytestmark = pytest.mark.django_db

# The fixtures of the one-pair merge tests, shared.
trusted, weak, pair_of_records = (
    test_merge.trusted,
    test_merge.weak,
    test_merge.pair_of_records,
)


def _values(survivor: int, duplicate: int) -> dict:
    return {"probability": 0.999, "match_weight": 14.0, "evidence": []}


def _comparable(record: dict) -> dict:
    """A merge record without its time and pair id, row ids in order (the
    order rows were read in means nothing)."""
    found = {k: v for k, v in record.items() if k not in ("updated_at", "pair")}
    for key in ("moved", "moved_back"):
        found[key] = {label: sorted(ids) for label, ids in found[key].items()}
    return found


def _state(*customers) -> dict:
    """Both records, the merge record and the audit entries, without what
    differs between two runs of the same merge (times, new ids, uuids)."""
    snapshots = [full_snapshot(c) for c in customers]
    for snapshot in snapshots:
        snapshot["fields"].pop("updated_at")
    records = [_comparable(m.record) for m in Merge.objects.order_by("pk")]
    audit = [
        (
            e.action,
            e.entity_id,
            e.before,
            {k: v for k, v in e.after.items() if k != "merge"},
        )
        for e in AuditEntry.objects.filter(
            action__startswith="customer.merge"
        ).order_by("pk")
    ]
    return {"customers": snapshots, "merges": records, "audit": audit}


def test_bulk_merge_does_what_customer_merge_does(pair_of_records):
    survivor, duplicate = pair_of_records
    with transaction.atomic():
        customer_merge(survivor=survivor, duplicate=duplicate)
        one_at_a_time = _state(survivor, duplicate)
        transaction.set_rollback(True)
    assert not Merge.objects.exists()

    # the weaker record first: the bulk path picks the survivor itself
    (merge,) = bulk.merge_clusters(
        clusters=[[duplicate.pk, survivor.pk]], values_for=_values
    )

    assert (merge.survivor_id, merge.duplicate_id) == (survivor.pk, duplicate.pk)
    assert _state(survivor, duplicate) == one_at_a_time
    pair = DuplicatePair.objects.get()
    assert (pair.status, pair.merge, pair.probability) == (
        PairStatus.MERGED,
        merge,
        0.999,
    )
    assert merge.record["pair"] == pair.pk


def test_a_cluster_merges_into_its_best_record_and_each_merge_undoes(
    pair_of_records, weak, admin_user
):
    survivor, duplicate = pair_of_records
    third = _rich("张叁", weak, mobile="13700137000", tags=["新客"])
    # an open pair of the third record is superseded, and reopened on undo
    other = _rich("李四", weak, mobile="13600136000")
    open_pair = DuplicatePair.objects.create(
        customer_a=third, customer_b=other, probability=0.9, match_weight=3.0
    )
    before = [full_snapshot(c) for c in (survivor, duplicate, third)]

    merges = bulk.merge_clusters(
        clusters=[[third.pk, duplicate.pk, survivor.pk]], values_for=_values
    )

    assert {(m.survivor_id, m.duplicate_id) for m in merges} == {
        (survivor.pk, duplicate.pk),
        (survivor.pk, third.pk),
    }
    assert set(survivor.tags.values_list("name", flat=True)) == {"VIP", "茶客", "新客"}
    assert survivor.identifiers.filter(type="mobile", is_live=True).count() == 3
    assert AuditEntry.objects.filter(action="customer.merged_into").count() == 2
    open_pair.refresh_from_db()
    assert open_pair.status == PairStatus.SUPERSEDED

    for merge in reversed(merges):
        customer_unmerge(merge=merge, actor=admin_user)

    assert [full_snapshot(c) for c in (survivor, duplicate, third)] == before
    open_pair.refresh_from_db()
    assert open_pair.status == PairStatus.PENDING


def test_a_rejected_pair_is_not_merged_through_a_chain(pair_of_records, weak):
    survivor, duplicate = pair_of_records
    third = _rich("张叁", weak, mobile="13700137000")
    DuplicatePair.objects.create(
        customer_a=survivor,
        customer_b=third,
        probability=0.9,
        match_weight=3.0,
        status=PairStatus.REJECTED,
    )

    (merge,) = bulk.merge_clusters(
        clusters=[[survivor.pk, duplicate.pk, third.pk]], values_for=_values
    )

    assert merge.duplicate_id == duplicate.pk
    third.refresh_from_db()
    assert third.is_live


def test_customers_no_longer_live_are_left_out(pair_of_records):
    survivor, duplicate = pair_of_records
    customer_merge(survivor=survivor, duplicate=duplicate)

    merges = bulk.merge_clusters(
        clusters=[[survivor.pk, duplicate.pk]], values_for=_values
    )

    assert merges == []
    assert Merge.objects.count() == 1


def _rejected(a, b) -> DuplicatePair:
    return DuplicatePair.objects.create(
        customer_a=min(a, b, key=lambda c: c.pk),
        customer_b=max(a, b, key=lambda c: c.pk),
        probability=0.9,
        match_weight=3.0,
        status=PairStatus.REJECTED,
    )


def test_two_rejected_with_each_other_do_not_both_merge_into_the_survivor(
    pair_of_records, weak
):
    survivor, duplicate = pair_of_records
    third = _rich("张叁", weak, mobile="13700137000")
    # sure pairs survivor~duplicate and survivor~third; a person said the
    # duplicate and the third are two people
    rejected = _rejected(duplicate, third)

    (merge,) = bulk.merge_clusters(
        clusters=[[survivor.pk, duplicate.pk, third.pk]], values_for=_values
    )

    assert (merge.survivor_id, merge.duplicate_id) == (survivor.pk, duplicate.pk)
    third.refresh_from_db()
    rejected.refresh_from_db()
    assert third.is_live and rejected.status == PairStatus.REJECTED


def test_one_at_a_time_merges_as_the_batch_would(pair_of_records, weak):
    """The fallback of a failed batch: the best live record survives, and
    what is rejected, gone or no longer live is left out."""
    survivor, duplicate = pair_of_records
    third = _rich("张叁", weak, mobile="13700137000")
    rejected = _rejected(duplicate, third)
    # the best record of all, but archived
    archived = _rich("张三", SourceFactory(code="crm", trust=99), mobile="13600136000")
    customer_archive(customer=archived)
    gone = 10**9

    merges = services._merge_one_by_one(
        [[archived.pk, third.pk, duplicate.pk, gone, survivor.pk]], _values, None
    )

    assert [(m.survivor_id, m.duplicate_id) for m in merges] == [
        (survivor.pk, duplicate.pk)
    ]
    for customer in (third, archived):
        customer.refresh_from_db()
        assert customer.merged_into_id is None
    rejected.refresh_from_db()
    assert rejected.status == PairStatus.REJECTED
    pair = DuplicatePair.objects.get(merge=merges[0])
    assert (pair.status, pair.probability) == (PairStatus.MERGED, 0.999)


def test_one_at_a_time_never_merges_a_rejected_pair_through_a_chain(
    pair_of_records, weak
):
    survivor, duplicate = pair_of_records
    third = _rich("张叁", weak, mobile="13700137000")
    rejected = _rejected(survivor, third)

    merges = services._merge_one_by_one(
        [[survivor.pk, duplicate.pk, third.pk]], _values, None
    )

    assert [m.duplicate_id for m in merges] == [duplicate.pk]
    third.refresh_from_db()
    rejected.refresh_from_db()
    assert third.is_live and rejected.status == PairStatus.REJECTED


def test_a_pair_rejected_after_the_batch_read_rolls_the_batch_back(
    pair_of_records, monkeypatch
):
    survivor, duplicate = pair_of_records
    pair = DuplicatePair.objects.create(
        customer_a=survivor, customer_b=duplicate, probability=0.9, match_weight=3.0
    )
    read = bulk._read

    def read_then_reject(ids):
        batch = read(ids)
        DuplicatePair.objects.filter(pk=pair.pk).update(status=PairStatus.REJECTED)
        return batch

    monkeypatch.setattr(bulk, "_read", read_then_reject)

    with pytest.raises(bulk.Changed):
        bulk.merge_clusters(clusters=[[survivor.pk, duplicate.pk]], values_for=_values)

    assert not Merge.objects.exists()


def test_the_batch_locks_only_customer_rows_in_id_order(pair_of_records):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks")
    survivor, duplicate = pair_of_records

    with CaptureQueriesContext(connection) as queries:
        bulk.merge_clusters(clusters=[[survivor.pk, duplicate.pk]], values_for=_values)

    locking = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]
    customers = [sql for sql in locking if 'FROM "customers_customer"' in sql]
    assert customers and all(
        sql.endswith(
            'ORDER BY "customers_customer"."id" ASC FOR UPDATE OF "customers_customer"'
        )
        for sql in customers
    ), customers


@pytest.mark.django_db(transaction=True)
def test_a_rejection_committing_while_the_batch_runs_is_kept(pair_of_records):
    """PostgreSQL runs writers concurrently: a person rejecting the pair
    while the batch reads it wins, and the batch does not merge the two."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers")
    survivor, duplicate = pair_of_records
    pair = DuplicatePair.objects.create(
        customer_a=survivor, customer_b=duplicate, probability=0.9, match_weight=3.0
    )
    with other_connection() as rejecting:
        rejecting.execute(
            "UPDATE identity_duplicatepair SET status = 'rejected' WHERE id = %s",
            [pair.pk],
        )
        # the batch waits for the rejection's commit
        commit = threading.Timer(0.5, rejecting.commit)
        commit.start()
        merges = bulk.merge_clusters(
            clusters=[[survivor.pk, duplicate.pk]], values_for=_values
        )
        commit.join()

    assert merges == []
    pair.refresh_from_db()
    duplicate.refresh_from_db()
    assert pair.status == PairStatus.REJECTED and duplicate.is_live
