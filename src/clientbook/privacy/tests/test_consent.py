import datetime as dt

import pytest

from clientbook.customers.services import customer_create
from clientbook.errors import AccessDenied, ValidationFailed
from clientbook.privacy.models import AuditEntry, Consent
from clientbook.privacy.selectors import consent_current, consent_status
from clientbook.privacy.services import consent_record
from clientbook.tests.api import ApiClient
from clientbook.tests.factories import SourceFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def customer(source, branch):
    return customer_create(name="周九", source=source, branch=branch)


def test_current_state_is_the_latest_entry_and_history_is_kept(
    customer, source, manager
):
    web = SourceFactory(code="website", kind="website", legal_basis="consent")
    consent_record(
        customer=customer,
        channel="sms",
        purpose="marketing",
        status="granted",
        source=web,
        occurred_at=T0,
        evidence="form #1",
        actor=manager,
    )
    consent_record(
        customer=customer,
        channel="sms",
        purpose="marketing",
        status="withdrawn",
        source=source,
        occurred_at=T0 + dt.timedelta(days=9),
        evidence="replied TD",
        actor=manager,
    )
    # Recorded later, but it happened earlier: it does not override the withdrawal.
    consent_record(
        customer=customer,
        channel="sms",
        purpose="marketing",
        status="granted",
        source=web,
        occurred_at=T0 + dt.timedelta(days=3),
        actor=manager,
    )

    assert consent_status(customer, channel="sms", purpose="marketing") == "withdrawn"
    assert consent_status(customer, channel="email", purpose="marketing") == "unknown"
    assert consent_current(customer)[("sms", "marketing")].evidence == "replied TD"
    assert Consent.objects.filter(customer=customer).count() == 3
    assert (
        AuditEntry.objects.filter(action="consent.record", actor=manager).count() == 3
    )


def test_invalid_channel_writes_nothing(customer, source):
    with pytest.raises(ValidationFailed) as err:
        consent_record(
            customer=customer,
            channel="fax",
            purpose="marketing",
            status="granted",
            source=source,
        )
    assert (err.value.field, err.value.value) == ("channel", "fax")
    assert not Consent.objects.exists()


def test_auditor_cannot_record(customer, source, auditor):
    with pytest.raises(AccessDenied):
        consent_record(
            customer=customer,
            channel="sms",
            purpose="service",
            status="granted",
            source=source,
            actor=auditor,
        )
    assert not Consent.objects.exists()


def test_consents_api(customer, manager):
    api = ApiClient(manager)
    made = api.post(
        f"/customers/{customer.uuid}/consents",
        {
            "channel": "email",
            "purpose": "marketing",
            "status": "granted",
            "source": "manual",
            "evidence": "signed form",
        },
    )
    body = api.get(f"/customers/{customer.uuid}/consents").json()

    assert made.status_code == 201
    state = {(c["channel"], c["purpose"]): c["status"] for c in body["current"]}
    assert state[("email", "marketing")] == "granted"
    assert state[("sms", "marketing")] == "unknown"
    assert len(state) == 10
    assert body["history"][0]["evidence"] == "signed form"
    bad = api.post(
        f"/customers/{customer.uuid}/consents",
        {
            "channel": "email",
            "purpose": "spam",
            "status": "granted",
            "source": "manual",
        },
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "purpose"


def test_audit_log_of_a_customer_masks_pii_without_view_pii(
    customer, source, manager, marketer
):
    from clientbook.customers.services import identifier_add

    identifier_add(
        customer=customer,
        type="mobile",
        value="13800138000",
        source=source,
        actor=manager,
    )

    masked = ApiClient(marketer).get(f"/customers/{customer.uuid}/audit").json()
    clear = ApiClient(manager).get(f"/customers/{customer.uuid}/audit").json()

    assert [e["action"] for e in clear] == ["identifier.add", "customer.create"]
    assert clear[0]["actor"] == "manager"
    assert clear[0]["after"]["value"] == "+8613800138000"
    assert masked[0]["after"]["value"] == "+86138****8000"
