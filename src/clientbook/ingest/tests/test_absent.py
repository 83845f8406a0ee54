"""A big import looks up only the keys the database may hold, and still
finds a customer someone created after it loaded them."""

import numpy as np
import pytest

from clientbook.customers.models import Customer, Identifier
from clientbook.customers.services import customer_archive, customer_create
from clientbook.ingest import absent, hashes
from clientbook.ingest.hashes import Hashes, KeySet, hashed
from clientbook.ingest.models import SourceRecord
from clientbook.ingest.tests.test_import_customers import run, write_csv
from clientbook.tests.factories import SourceFactory


def test_sift_lets_through_what_was_loaded_or_sifted_before():
    # given: hashes loaded from the database
    held = absent.Absent(np.array([hash(("mobile", "+8613800138000"))], np.int64))
    # when: a chunk's keys are sifted, then the next chunk's
    first = held.sift([("mobile", "+8613800138000"), ("mobile", "+8613900139000")])
    second = held.sift(
        [("mobile", "+8613900139000"), "id:A1", ("email", "a@example.com")]
    )
    # then: what was loaded, then what the chunk before brought, may be there
    assert first == [("mobile", "+8613800138000")]
    assert second == [("mobile", "+8613900139000")]
    assert held.sift(["id:A1", "id:B2"]) == ["id:A1"]  # in no order: sets


def test_sift_keeps_every_key_across_many_chunks():
    # given: keys sifted chunk by chunk, the arrays merging as they grow
    held = absent.Absent(np.array([], np.int64))
    chunks = [[f"id:{c}-{i}" for i in range(300)] for c in range(40)]
    # when / then: none was there before its chunk, all are after
    assert all(held.sift(chunk) == [] for chunk in chunks)
    every = [key for chunk in chunks for key in chunk]
    assert sorted(held.sift(every)) == sorted(every)
    assert held.sift(["id:new"]) == []


def test_past_its_limit_every_key_is_looked_up(monkeypatch):
    # given: room for five hashes, four of them taken
    monkeypatch.setattr(absent, "MAX_KEYS", 5)
    held = absent.Absent(np.array([hash(f"id:{i}") for i in range(4)], np.int64))
    # when: a chunk brings two more
    assert held.sift(["id:0", "id:9"]) == ["id:0"]
    # then: the hashes are dropped and every key is looked up from then on
    assert held.sift(["id:7", "id:8"]) == ["id:7", "id:8"]
    assert not len(held._hashes)


@pytest.mark.django_db
def test_load_takes_live_hard_identifiers_and_the_sources_keys(source):
    # given: a live customer, an archived one, and another source's record
    live = customer_create(
        name="甲",
        source=source,
        identifiers=[
            {"type": "mobile", "value": "13800138000"},
            {"type": "wechat", "value": "wx-jia"},
        ],
    )
    gone = customer_create(
        name="乙",
        source=source,
        identifiers=[{"type": "mobile", "value": "13900139000"}],
    )
    customer_archive(customer=gone, reason="test")
    other = SourceFactory(code="fair", kind="event", legal_basis="consent")
    SourceRecord.objects.create(source=source, key="id:1", customer=live)
    SourceRecord.objects.create(source=other, key="id:2", customer=live)
    # when
    held = absent.load(source.pk, rows=100)
    # then: only what an import of this source could match is there
    asked = [
        ("mobile", "+8613800138000"),
        ("mobile", "+8613900139000"),
        ("wechat", "wx-jia"),
        "id:1",
        "id:2",
    ]
    assert set(held.sift(asked)) == {("mobile", "+8613800138000"), "id:1"}


@pytest.mark.django_db
def test_load_gives_up_on_a_database_many_times_the_file(source):
    # given: four customers with a mobile each
    for i in range(4):
        customer_create(
            name=f"客户{i}",
            source=source,
            identifiers=[{"type": "mobile", "value": f"1380013800{i}"}],
        )
    # when / then: a file of fewer rows than the keys there loads none
    assert absent.load(source.pk, rows=3) is None
    assert absent.load(source.pk, rows=4) is not None


@pytest.mark.django_db
def test_a_customer_created_after_the_load_is_found_not_doubled(
    tmp_path, source, monkeypatch
):
    # given: someone creates a customer right after the import loaded keys
    loaded = absent.load

    def load_then_create(source_id, rows):
        held = loaded(source_id, rows)
        customer_create(
            name="张三",
            source=source,
            identifiers=[{"type": "mobile", "value": "13800138000"}],
        )
        return held

    monkeypatch.setattr(absent, "load", load_then_create)
    path = write_csv(
        tmp_path / "c.csv",
        ["姓名", "手机"],
        [["张三", "138 0013 8000"], ["李四", "13900139000"]],
    )
    # when
    job = run(path, source)
    # then: the row goes to the customer the load missed; the other is new
    assert (job.created, job.rejected) == (1, 0)
    assert Customer.objects.count() == 2
    assert Identifier.objects.filter(value="+8613800138000").count() == 1


def test_hashes_find_what_was_added_over_many_merges():
    # given: 40 batches of keys added, so arrays of many sizes merge
    store, added = Hashes(), []
    for batch in range(40):
        keys = [f"k{batch}-{i}" for i in range(batch * 7 % 50 + 1)]
        store.add(hashed(keys))
        added += keys
    # then: every key added is found, in any order, and no other
    probe = added[::-1] + [f"missing-{i}" for i in range(500)]
    found = store.has(hashed(probe))
    assert found.tolist() == [True] * len(added) + [False] * 500
    assert len(store) == len(added)


def test_a_key_set_finds_keys_buffered_and_stored(monkeypatch):
    # given: a key set that moves its keys into arrays every 3 keys
    monkeypatch.setattr(hashes, "BUFFERED", 3)
    keys = KeySet()
    for i in range(10):
        keys.add(f"id:{i}")
    # then: those in the buffer and those in the arrays are found
    assert keys._older and keys._recent
    assert keys.among(["id:0", "id:9", "id:5", "id:10", "x"]) == {
        "id:0",
        "id:9",
        "id:5",
    }
    assert len(keys) == 10
