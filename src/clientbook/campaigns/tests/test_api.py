import pytest

from clientbook.campaigns.models import Member, Response
from clientbook.campaigns.tests.helpers import everyone, reachable
from clientbook.tests.api import ApiClient

pytestmark = pytest.mark.django_db


def test_a_campaign_through_the_api(marketer, branch):
    for _ in range(20):
        reachable(branch=branch)
    reachable(branch=branch, channels=("email",))  # no SMS consent
    segment = everyone(marketer)
    api = ApiClient(marketer)
    response = api.post(
        "/campaigns",
        {
            "name": "SMS spring",
            "branches": [branch.code],
            "holdout_share": "0.2",
            "selection": {"segments": [str(segment.uuid)]},
            "seed": 11,
        },
    )
    assert response.status_code == 201, response.content
    ref = response.json()["uuid"]
    assert response.json()["branches"] == [branch.code]
    response = api.post(
        f"/campaigns/{ref}/variants",
        {"code": "A", "name": "A", "channel": "sms", "body": "{{ name }} 新茶 回T退订"},
    )
    assert response.status_code == 201, response.content
    response = api.patch(f"/campaigns/{ref}/variants/A", {"weight": 2})
    assert response.status_code == 200 and response.json()["weight"] == 2
    response = api.patch(f"/campaigns/{ref}/variants/A", {"body": "没有退订提示"})
    assert response.status_code == 422, response.content
    api.patch(f"/campaigns/{ref}/variants/A", {"weight": 1})
    counts = api.post(f"/campaigns/{ref}/select").json()
    assert counts["eligible"] == 20 and counts["no_consent"] == 1
    assert api.post(f"/campaigns/{ref}/assign").json() == {"control": 4, "A": 16}
    for stage in ("plan", "execute"):
        response = api.post(f"/campaigns/{ref}/stage", {"to": stage})
        assert response.status_code == 200 and response.json()["stage"] == stage
    response = api.patch(f"/campaigns/{ref}", {"holdout_share": "0.5"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "frozen"
    codes = list(
        Member.objects.filter(variant__code="A").values_list("code", flat=True)[:2]
    )
    response = api.post(
        f"/campaigns/{ref}/responses",
        {"items": [{"code": codes[0], "kind": "purchase", "amount": "30"},
                   {"code": codes[1], "kind": "nonsense"}]},
    )  # fmt: skip
    body = response.json()
    assert body["created"] == 1 and body["rejected"][0]["row"] == 2
    assert body["rejected"][0]["field"] == "kind"
    assert Response.objects.count() == 1
    report = api.get(f"/campaigns/{ref}/report").json()
    arms = {a["key"]: a for a in report["dimensions"]["variant"][0]["arms"]}
    assert arms["A"]["responded"] == 1 and arms["A"]["members"] == 16


def test_errors_name_the_field(marketer, auditor):
    api = ApiClient(marketer)
    response = api.post("/campaigns", {"name": " ", "holdout_share": "0.1"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "name"
    api.post("/campaigns", {"name": "X"})
    response = api.post("/campaigns", {"name": "X"})
    assert response.status_code == 409
    response = api.post("/campaigns/X/variants", {"code": "A", "name": "A",
                                                  "channel": "fax"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "channel"
    assert api.get("/campaigns/nope").status_code == 404
    assert ApiClient(auditor).post("/campaigns", {"name": "Y"}).status_code == 403
    assert ApiClient(auditor).get("/campaigns/X").status_code == 200


def test_do_not_contact_entries(marketer):
    person = reachable()
    api = ApiClient(marketer)
    response = api.post(
        "/campaigns/do-not-contact/entries", {"customer": str(person.uuid)}
    )
    assert response.status_code == 201
    response = api.post(
        "/campaigns/do-not-contact/entries",
        {"value": "A@Example.com ", "channel": "email"},
    )
    assert response.json()["value"] == "a@example.com"
    assert len(api.get("/campaigns/do-not-contact/entries").json()) == 2
    pk = response.json()["id"]
    assert api.delete(f"/campaigns/do-not-contact/entries/{pk}").json()["lifted_at"]
    assert len(api.get("/campaigns/do-not-contact/entries").json()) == 1
