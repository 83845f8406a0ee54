"""/api/v1/analytics: latest results, per-customer scores, starting runs."""

import pytest

from clientbook.analytics.models import AnalysisRun, CustomerScore
from clientbook.customers.models import Customer
from clientbook.org.models import Branch, Role
from clientbook.tests.api import ApiClient
from clientbook.tests.factories import staff

from .fixtures import analysed, demo_data  # noqa: F401

pytestmark = pytest.mark.usefixtures("analysed")


@pytest.fixture
def api(db):
    return ApiClient(staff(Role.MARKETER, username="api-marketer"))


@pytest.mark.parametrize(
    "path",
    [
        "/analytics/rfm",
        "/analytics/value",
        "/analytics/clv",
        "/analytics/clusters",
        "/analytics/rules",
        "/analytics/roughsets",
    ],
)
def test_latest_results(api, path):
    response = api.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["run"]["is_current"] is True
    assert body["result"]


def test_value_result_has_the_pareto_share(api):
    body = api.get("/analytics/value").json()["result"]
    assert body["top20_share"] > 0.5
    assert {t["tier"] for t in body["tiers"]} == {
        "vip",
        "good",
        "ordinary",
        "loss_making",
    }


def test_models_list_the_versions_and_the_chosen_one(api):
    body = api.get("/analytics/models").json()
    assert len(body) == 2
    assert sum(v["chosen"] for v in body) == 1
    assert all(len(v["gains"]) == 10 for v in body)


def test_customer_scores(api):
    score = CustomerScore.objects.exclude(clv=None).exclude(rfm_cell="").first()
    customer = Customer.objects.get(pk=score.customer_id)
    body = api.get(f"/analytics/customers/{customer.uuid}/scores").json()
    assert body["rfm_cell"] == score.rfm_cell
    assert float(body["clv"]) == pytest.approx(float(score.clv))
    assert body["churn_score"] == pytest.approx(score.churn_score)


def test_branch_staff_get_their_branch_only(db):
    branch = Branch.objects.filter(customers__score__isnull=False).first()
    clerk = ApiClient(staff(Role.BRANCH_STAFF, username="api-clerk", branch=branch))
    rows = clerk.get("/analytics/top-customers", order="profit", limit=50).json()
    assert rows and {r["branch"] for r in rows} == {branch.code}
    other = CustomerScore.objects.exclude(customer__branch=branch).first()
    customer = Customer.objects.get(pk=other.customer_id)
    response = clerk.get(f"/analytics/customers/{customer.uuid}/scores")
    assert response.status_code == 404


def test_post_starts_a_run(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(
            "/analytics/runs",
            {
                "kind": "rules",
                "as_of": "2025-07-01",
                "parameters": {"level": "product"},
            },
        )
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["kind"]) == ("queued", "rules")
    assert len(callbacks) == 1
    assert api.get(f"/analytics/runs/{body['uuid']}").json()["status"] == "queued"


def test_auditors_cannot_start_runs(db):
    auditor = ApiClient(staff(Role.AUDITOR, username="api-auditor"))
    before = AnalysisRun.objects.count()
    response = auditor.post("/analytics/runs", {"kind": "rfm"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only"
    assert AnalysisRun.objects.count() == before
    assert auditor.get("/analytics/rfm").status_code == 200


def test_unknown_kind_and_campaign_target(api):
    response = api.post("/analytics/runs", {"kind": "astrology"})
    assert (response.status_code, response.json()["error"]["code"]) == (
        422,
        "unknown_kind",
    )
    response = api.post(
        "/analytics/runs", {"kind": "train", "parameters": {"target": "responded"}}
    )
    assert response.json()["error"]["code"] == "no_campaign_data"
