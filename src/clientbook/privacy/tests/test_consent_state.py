"""The current-consent table is kept by database triggers: every way the
ledger changes (services, bulk inserts, merges moving entries, unmerges,
deletions) leaves it equal to the latest entry per customer, channel and
purpose."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection

from clientbook.customers.services import customer_create
from clientbook.identity.services import customer_merge, customer_unmerge
from clientbook.privacy.models import Consent, ConsentState
from clientbook.privacy.services import consent_record
from clientbook.tests.concurrency import other_connection

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _state() -> dict:
    """(customer, channel, purpose) → (status, entry id), from the table."""
    return {
        (s.customer_id, s.channel, s.purpose): (s.status, s.entry_id)
        for s in ConsentState.objects.all()
    }


def _from_ledger() -> dict:
    """The same, worked out from the ledger by the ORM."""
    latest = {}
    for entry in Consent.objects.order_by("occurred_at", "id"):
        key = (entry.customer_id, entry.channel, entry.purpose)
        latest[key] = (entry.status, entry.pk)
    return latest


def _fields(customer, status, days, channel="sms", purpose="marketing") -> dict:
    return {
        "customer": customer,
        "channel": channel,
        "purpose": purpose,
        "status": status,
        "occurred_at": T0 + dt.timedelta(days=days),
    }


def _entry(customer, source, status, days, channel="sms", purpose="marketing"):
    return Consent(**_fields(customer, status, days, channel, purpose), source=source)


@pytest.fixture
def people(source, branch):
    return [customer_create(name=n, source=source, branch=branch) for n in "甲乙"]


def test_the_latest_entry_is_the_state_whatever_order_entries_arrive_in(people, source):
    a, b = people
    consent_record(
        customer=a,
        channel="sms",
        purpose="marketing",
        status="granted",
        source=source,
        occurred_at=T0 + dt.timedelta(days=5),
    )
    # An older entry recorded later (a paper form typed in) does not win.
    consent_record(
        customer=a,
        channel="sms",
        purpose="marketing",
        status="withdrawn",
        source=source,
        occurred_at=T0,
    )
    assert _state()[(a.pk, "sms", "marketing")][0] == "granted"
    # In one bulk insert: the latest of the batch wins, ties go to the
    # higher id, and other channels and purposes are their own keys.
    Consent.objects.bulk_create(
        [
            _entry(b, source, "granted", 1),
            _entry(b, source, "withdrawn", 3),
            _entry(b, source, "granted", 2),
            _entry(b, source, "granted", 3, channel="email"),
            _entry(b, source, "withdrawn", 3, channel="email"),
            _entry(a, source, "withdrawn", 9, purpose="service"),
        ]
    )
    assert _state() == _from_ledger()
    assert _state()[(b.pk, "sms", "marketing")][0] == "withdrawn"
    assert _state()[(b.pk, "email", "marketing")][0] == "withdrawn"
    assert len(_state()) == 4


def test_merge_and_unmerge_move_the_state_with_the_entries(people, source):
    a, b = people
    Consent.objects.bulk_create(
        [
            _entry(a, source, "granted", 1),
            _entry(b, source, "withdrawn", 2),
            _entry(b, source, "granted", 2, channel="mail"),
        ]
    )
    merge = customer_merge(survivor=a, duplicate=b)
    state = _state()
    assert state == _from_ledger()
    # The duplicate's later withdrawal is now the survivor's state.
    assert state[(a.pk, "sms", "marketing")][0] == "withdrawn"
    assert state[(a.pk, "mail", "marketing")][0] == "granted"
    assert not [key for key in state if key[0] == b.pk]
    customer_unmerge(merge=merge)
    state = _state()
    assert state == _from_ledger()
    assert state[(a.pk, "sms", "marketing")][0] == "granted"
    assert state[(b.pk, "sms", "marketing")][0] == "withdrawn"


def test_deleting_entries_recomputes_or_removes_the_state(people, source):
    a, _b = people
    first, second = Consent.objects.bulk_create(
        [_entry(a, source, "granted", 1), _entry(a, source, "withdrawn", 2)]
    )
    Consent.objects.filter(pk=second.pk).delete()
    assert _state() == {(a.pk, "sms", "marketing"): ("granted", first.pk)}
    Consent.objects.filter(pk=first.pk).delete()
    assert _state() == {}


def test_raw_sql_writers_keep_it_too(people, source):
    """COPY and INSERT … SELECT (bench generator, imports) bypass the ORM."""
    a, b = people
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO privacy_consent (customer_id, channel, purpose, status,"
            " occurred_at, source_id, evidence, recorded_at)"
            " SELECT id, 'email', 'marketing', 'granted', %s, %s, '', %s"
            " FROM customers_customer",
            [T0, source.pk, T0],
        )
    assert _state() == _from_ledger()
    assert {key[0] for key in _state()} == {a.pk, b.pk}


@pytest.mark.django_db(transaction=True)
def test_a_merge_racing_a_withdrawal_keeps_the_withdrawal(source, branch):
    """PostgreSQL runs writers concurrently: a merge moving an older grant
    to a customer must not overwrite a withdrawal that another transaction
    is committing for that customer at the same time."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers")
    survivor, duplicate = (
        customer_create(name=n, source=source, branch=branch) for n in "甲乙"
    )
    old = Consent.objects.create(**_fields(duplicate, "granted", 0), source=source)
    Consent.objects.create(**_fields(survivor, "granted", 1), source=source)
    with other_connection() as merging, other_connection() as withdrawing:
        withdrawing.execute(
            "INSERT INTO privacy_consent (customer_id, channel, purpose, status,"
            " occurred_at, source_id, evidence, recorded_at)"
            " VALUES (%s, 'sms', 'marketing', 'withdrawn', %s, %s, '', now())",
            [survivor.pk, T0 + dt.timedelta(days=2), source.pk],
        )
        move = threading.Thread(
            target=merging.execute,
            args=(
                "UPDATE privacy_consent SET customer_id = %s WHERE id = %s",
                [survivor.pk, old.pk],
            ),
        )
        move.start()
        time.sleep(0.5)  # the move now waits for the withdrawal's commit
        withdrawing.commit()
        move.join()
        merging.commit()
    state = ConsentState.objects.get(customer=survivor, channel="sms")
    assert state.status == "withdrawn"
    assert _state() == _from_ledger()
