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
        "/analytics/offers",
        "/analytics/lookalikes",
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


def test_offers_result_compares_the_solutions(api):
    body = api.get("/analytics/offers", limit=5).json()["result"]
    assert body["genetic"]["profit"] >= body["greedy"]["profit"] - 1e-6
    assert body["genetic"]["spent"] <= body["budget"] + 1e-6
    assert body["summary"][0]["offer"] == "sample"
    assert len(body["assignments"]) == min(5, sum(body["genetic"]["offers"]))
    assert {a["offer"] for a in body["assignments"]} == {"sample"}


def test_lookalikes_result_lists_non_buyers_best_first(api):
    body = api.get("/analytics/lookalikes", limit=10).json()["result"]
    assert body["item"] == "茶叶" and len(body["gains"]) == 10
    scores = [c["score"] for c in body["customers"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)


def test_models_carry_rules_as_data_and_worded(api):
    response = api.client.get(
        "/api/v1/analytics/models", HTTP_ACCEPT_LANGUAGE="en", **api.headers
    )
    body = response.json()
    tree = next(v for v in body if v["algorithm"] == "entropy_tree")
    assert tree["algorithm_label"] == "Decision tree (entropy, ID3 family)"
    first = tree["rules"][0]
    assert {"conditions", "p", "n"} <= set(first)
    assert tree["rules_text"][0].startswith(("if ", "always "))
    assert "lapses (p = " in tree["rules_text"][0]


def test_lookalike_and_offers_runs_are_checked_before_queueing(api):
    response = api.post(
        "/analytics/runs",
        {"kind": "offers", "parameters": {"offers": {"a": {"cost": 0, "margin": 1}}}},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "cost"
    response = api.post("/analytics/runs", {"kind": "lookalike", "parameters": {}})
    assert response.json()["error"]["field"] == "item"
