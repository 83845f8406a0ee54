import pytest

from clientbook.activity.models import Interaction
from clientbook.customers.selectors import customer_timeline
from clientbook.customers.services import customer_create
from clientbook.tests.api import ApiClient

pytestmark = pytest.mark.django_db


def test_interaction_recorded_by_api_shows_on_timeline(source, branch, branch_staff):
    customer = customer_create(name="吴十", source=source, branch=branch)
    api = ApiClient(branch_staff)

    made = api.post(
        f"/customers/{customer.uuid}/interactions",
        {
            "channel": "phone",
            "direction": "out",
            "type": "call",
            "source": "manual",
            "summary": "回访",
            "outcome": "满意",
        },
    )

    assert made.status_code == 201, made.content
    assert made.json()["staff"] == "clerk"
    timeline = customer_timeline(customer)
    assert [e.kind for e in timeline] == ["interaction"]
    assert (
        api.get(f"/customers/{customer.uuid}/interactions").json()[0]["outcome"]
        == "满意"
    )


def test_bad_type_is_422_and_nothing_written(source, branch, manager):
    customer = customer_create(name="吴十", source=source, branch=branch)
    bad = ApiClient(manager).post(
        f"/customers/{customer.uuid}/interactions",
        {"channel": "phone", "direction": "out", "type": "fax", "source": "manual"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "type"
    assert not Interaction.objects.exists()
