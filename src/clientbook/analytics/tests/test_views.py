"""The analytics pages: charts' data present, pinned queries, branch scoping,
read-only auditors, and the 360 panel."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from clientbook.analytics.models import (
    AnalysisRun,
    CustomerScore,
    ModelVersion,
    OfferAssignment,
)
from clientbook.customers.models import Customer
from clientbook.org.models import Branch, Role
from clientbook.tests.factories import staff

from .fixtures import AS_OF, analysed, demo_data  # noqa: F401

pytestmark = pytest.mark.usefixtures("analysed")


def _client(role: str, username: str, branch=None) -> Client:
    client = Client()
    client.force_login(staff(role, username=username, branch=branch))
    return client


@pytest.fixture
def analyst(db):
    return _client(Role.MARKETER, "ana-marketer")


def _chart(html: str, element_id: str) -> dict:
    found = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>',
        html,
        re.S,
    )
    assert found, f"no chart data {element_id}"
    return json.loads(found.group(1))


@pytest.mark.parametrize(
    ("name", "queries"),
    [
        ("analytics:home", 6),
        ("analytics:rfm", 5),
        ("analytics:value", 6),
        ("analytics:clv", 6),
        ("analytics:clusters", 6),
        ("analytics:models", 6),
        ("analytics:rules", 6),
        ("analytics:roughsets", 6),
        ("analytics:customers", 7),
        ("analytics:offers", 9),
        ("analytics:lookalikes", 9),
    ],
)
def test_pages_render_with_pinned_queries(
    analyst, django_assert_max_num_queries, name, queries
):
    with django_assert_max_num_queries(queries):
        response = analyst.get(reverse(name))
    assert response.status_code == 200
    assert b"chart.umd.min.js" in response.content


def test_rfm_grid_shows_counts_and_translated_cells(analyst):
    response = analyst.get(reverse("analytics:rfm"), HTTP_ACCEPT_LANGUAGE="en")
    grid = response.context["grid"]
    assert len(grid["rows"]) == 5 and grid["rows"][0]["r"] == 5
    total = sum(c["customers"] for row in grid["rows"] for c in row["cells"])
    assert total == AnalysisRun.objects.get(kind="rfm", is_current=True).customers
    assert "冠军客户".encode() in response.content or b"Champions" in response.content


def test_value_page_carries_the_pareto_curve(analyst):
    html = analyst.get(reverse("analytics:value")).content.decode()
    chart = _chart(html, "pareto-data")
    curve = chart["data"]["datasets"][0]["data"]
    assert curve[0] == 0 and curve[-1] == pytest.approx(100, abs=0.01)
    assert curve[20] > 50  # the top 20% bring more than half of the profit
    assert chart["data"]["datasets"][0]["pointRadius"][20] == 6


def test_clv_page_carries_histogram_and_calibration(analyst):
    html = analyst.get(reverse("analytics:clv")).content.decode()
    histogram = _chart(html, "clv-histogram")
    assert sum(histogram["data"]["datasets"][0]["data"]) > 0
    calibration = _chart(html, "clv-calibration")
    assert [d["label"] for d in calibration["data"]["datasets"]] == [
        "实际",
        "预测 (BG/NBD)",
    ] or len(calibration["data"]["datasets"]) == 2


def test_models_page_shows_gains_and_tree_rules(analyst):
    response = analyst.get(reverse("analytics:models"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    version = response.context["versions"][0]["version"]
    chart = _chart(html, f"gains-{version.pk}")
    assert len(chart["data"]["labels"]) == 10
    tree = next(v for v in response.context["versions"] if v["version"].rules)
    # stored as data, worded for the reader: feature labels, not column names
    assert tree["rules"][0].startswith(("if ", "always "))
    assert "lapses (p = " in html
    assert "recency_days" not in html and "Decision tree (entropy" in html


def test_old_tree_rules_stored_as_text_still_show(analyst):
    version = ModelVersion.objects.exclude(rules=[]).get()
    old = "if recency_days > 200 then yes (p=0.90, n=40)"
    ModelVersion.objects.filter(pk=version.pk).update(rules=[old])
    try:
        html = analyst.get(reverse("analytics:models")).content.decode()
    finally:
        ModelVersion.objects.filter(pk=version.pk).update(rules=version.rules)
    assert old.replace(">", "&gt;") in html


def test_roughset_rules_are_worded_in_the_readers_language(analyst):
    response = analyst.get(reverse("analytics:roughsets"), HTTP_ACCEPT_LANGUAGE="en")
    rows = response.context["rules"]
    assert rows and all(" is " in r["conditions"] for r in rows)
    html = response.content.decode()
    assert "Reduct: " in html and "online_share" not in html


def test_branch_staff_see_only_their_branch_in_customer_lists(db):
    branch = Branch.objects.filter(customers__score__isnull=False).first()
    clerk = _client(Role.BRANCH_STAFF, "ana-clerk", branch=branch)
    response = clerk.get(reverse("analytics:customers"), {"order": "profit"})
    rows = response.context["page"].object_list
    assert rows and all(s.customer.branch_id == branch.pk for s in rows)
    top = clerk.get(reverse("analytics:clv")).context["top"]
    assert all(s.customer.branch_id == branch.pk for s in top)
    everyone = _client(Role.MARKETER, "ana-all").get(reverse("analytics:customers"))
    assert everyone.context["page"].paginator.count > len(
        [s for s in CustomerScore.objects.filter(customer__branch=branch)]
    )


def test_filtering_by_cell(analyst):
    response = analyst.get(reverse("analytics:customers"), {"rfm_cell": "champions"})
    rows = response.context["page"].object_list
    assert rows and all(s.rfm_cell == "champions" for s in rows)


def test_auditors_see_pages_but_cannot_start_runs(db):
    auditor = _client(Role.AUDITOR, "ana-auditor")
    assert auditor.get(reverse("analytics:home")).status_code == 200
    before = AnalysisRun.objects.count()
    response = auditor.post(reverse("analytics:start"), {"kind": "rfm"})
    assert response.status_code == 403
    assert AnalysisRun.objects.count() == before


def test_starting_a_run_queues_it(analyst, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = analyst.post(
            reverse("analytics:start"),
            {"kind": "clv", "as_of": "2025-07-01", "horizon": "6"},
        )
    assert response.status_code == 302
    run = AnalysisRun.objects.filter(status="queued").get()
    assert (run.kind, run.parameters, run.as_of) == ("clv", {"horizon": 6}, AS_OF)
    assert len(callbacks) == 1


def test_the_360_page_shows_the_customers_analytics(analyst):
    score = CustomerScore.objects.exclude(rfm_cell="").exclude(clv=None).first()
    customer = Customer.objects.get(pk=score.customer_id)
    response = analyst.get(
        reverse("customers:detail", args=[customer.uuid]), HTTP_ACCEPT_LANGUAGE="en"
    )
    html = response.content.decode()
    assert 'id="analytics"' in html
    assert f"R{score.rfm_r} F{score.rfm_f} M{score.rfm_m}" in html


def test_offers_page_compares_ga_with_greedy_and_lists_customers(analyst):
    response = analyst.get(reverse("analytics:offers"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    run = response.context["run"]
    keys = [row["key"] for row in response.context["solutions"]]
    assert keys[:2] == ["genetic", "greedy"]
    assert 'data-solution="genetic"' in html
    sample = list(response.context["sample"])
    assert len(sample) == min(20, run.customers)
    profits = [a.expected_profit for a in sample]
    assert profits == sorted(profits, reverse=True)
    # the form starts from the last allocation's settings
    assert response.context["form"].initial["offer_0"] == "sample"


def test_offers_form_queues_an_allocation(analyst, django_capture_on_commit_callbacks):
    data = {
        "budget": "300",
        "score": "lookalike",
        "offer_0": "coupon",
        "cost_0": "5",
        "value_0": "60",
        "offer_1": "sample",
        "cost_1": "2",
        "value_1": "25",
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = analyst.post(reverse("analytics:offers"), data)
    assert response.status_code == 302
    run = AnalysisRun.objects.get(kind="offers", status="queued")
    assert run.parameters == {
        "offers": {
            "coupon": {"cost": 5.0, "margin": 60.0},
            "sample": {"cost": 2.0, "margin": 25.0},
        },
        "budget": 300.0,
        "score": "lookalike",
    }


def test_offers_form_names_the_bad_field(analyst):
    data = {"budget": "300", "score": "rules", "offer_0": "coupon", "cost_0": "0"}
    response = analyst.post(
        reverse("analytics:offers"), data, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "cost_0" in form.errors and "value_0" in form.errors
    assert not AnalysisRun.objects.filter(status="queued").exists()


def test_auditors_cannot_allocate_offers(db):
    auditor = _client(Role.AUDITOR, "ana-auditor2")
    page = auditor.get(reverse("analytics:offers"))
    assert page.status_code == 200 and b'id="offer-form"' not in page.content
    data = {
        "budget": "10",
        "score": "rules",
        "offer_0": "a",
        "cost_0": "1",
        "value_0": "5",
    }
    response = auditor.post(reverse("analytics:offers"), data)
    assert response.status_code == 403
    assert OfferAssignment.objects.exists()


def test_lookalikes_page_shows_gains_and_top_customers(analyst):
    response = analyst.get(reverse("analytics:lookalikes"))
    html = response.content.decode()
    chart = _chart(html, "lookalike-gains")
    assert len(chart["data"]["labels"]) == 10
    top = list(response.context["top"])
    scores = [s.lookalike_score for s in top]
    assert top and scores == sorted(scores, reverse=True)


def test_lookalike_form_queues_a_run(analyst, django_capture_on_commit_callbacks):
    data = {"item": "茶具", "level": "category", "method": "neighbours"}
    with django_capture_on_commit_callbacks(execute=False):
        response = analyst.post(reverse("analytics:lookalikes"), data)
    assert response.status_code == 302
    run = AnalysisRun.objects.get(kind="lookalike", status="queued")
    assert run.parameters == data


def test_the_360_page_names_the_item_of_a_lookalike(analyst):
    score = CustomerScore.objects.exclude(lookalike_score=None).first()
    customer = Customer.objects.get(pk=score.customer_id)
    response = analyst.get(
        reverse("customers:detail", args=[customer.uuid]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Look-alike of the buyers of 茶叶" in response.content.decode()
