"""The offer allocation page in a real headless Chromium: fill in two offers,
a budget and the score, queue the allocation, let the worker run it, and see
the GA compared with the greedy and exact solutions."""

import pytest

from clientbook.analytics.models import AnalysisRun, CustomerScore
from clientbook.analytics.services import analysis_execute
from clientbook.tests.factories import CustomerFactory


@pytest.fixture
def scored(transactional_db, marketer):
    """Twelve customers with look-alike scores from 0.05 to 0.6."""
    for i in range(12):
        customer = CustomerFactory(name=f"客户{i:02d}")
        CustomerScore.objects.create(customer=customer, lookalike_score=0.05 * (i + 1))
    return marketer


@pytest.mark.browser
def test_allocate_offers_in_the_browser(scored, live_server, chromium):
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/analytics/offers/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/analytics/offers/")
    page.fill("#id_offer_0", "满减券")
    page.fill("#id_cost_0", "5")
    page.fill("#id_value_0", "40")
    page.fill("#id_offer_1", "试饮装")
    page.fill("#id_cost_1", "2")
    page.fill("#id_value_1", "12")
    page.fill("#id_budget", "20")
    page.select_option("#id_score", "lookalike")
    page.click("#offer-form button[type=submit]")
    page.wait_for_selector("#latest-run")
    # the worker's part, done here: run the queued allocation
    run = AnalysisRun.objects.get(kind="offers", status="queued")
    analysis_execute(run=run)
    page.reload()
    genetic = page.text_content("#offer-comparison tr[data-solution=genetic]")
    greedy = page.text_content("#offer-comparison tr[data-solution=greedy]")
    assert page.is_visible("#offer-comparison tr[data-solution=exact]")
    run.refresh_from_db()
    assert run.status == "done" and run.metrics["genetic"]["spent"] <= 20
    assert f"{run.metrics['genetic']['profit']:.2f}" in genetic
    assert f"{run.metrics['greedy']['profit']:.2f}" in greedy
    counts = page.text_content("#offer-counts")
    assert "满减券" in counts and "试饮装" in counts
    sample = page.text_content("#offer-sample")
    # the best look-alike gets an offer: chance 0.6 x 40 - 5 is the best profit
    assert "客户11" in sample
    # the form keeps the settings for a re-run
    assert page.input_value("#id_offer_0") == "满减券"
    context.close()
