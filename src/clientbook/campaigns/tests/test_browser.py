"""The campaign pages in a real headless Chromium: create a campaign, add a
variant, select and assign, and see the counts and arms."""

import pytest

from clientbook.campaigns.models import Campaign
from clientbook.campaigns.tests.helpers import everyone, reachable


@pytest.fixture
def planner(transactional_db, marketer):
    for _ in range(12):
        reachable()
    reachable(channels=())
    everyone(marketer, name="所有客户")
    return marketer


@pytest.mark.browser
def test_plan_a_campaign_in_the_browser(planner, live_server, chromium):
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/campaigns/new/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/campaigns/new/")
    page.fill("#id_name", "双十一回馈")
    page.select_option("#id_segments", label="所有客户")
    page.fill("#id_holdout_share", "0.25")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#variants")
    page.fill("#variant-form #id_code", "A")
    page.fill("#variant-form #id_name", "短信 A")
    page.select_option("#variant-form #id_channel", "sms")
    page.fill("#variant-form #id_body", "{{ name }}您好，双十一满减 {{ link }} 回T退订")
    page.click("#variant-form button[type=submit]")
    page.click("#selection form button[type=submit]")
    eligible = page.text_content("#selection-counts td[data-key=eligible]")
    assert eligible.strip() == "12"
    assert page.text_content("#selection-counts td[data-key=no_consent]").strip() == "1"
    page.click("#selection .form-actions form:nth-child(2) button")
    arms = page.text_content("#arms table")
    campaign = Campaign.objects.get(name="双十一回馈")
    control = campaign.variants.get(is_control=True)
    assert control.name in arms and "短信 A" in arms
    assert campaign.members.filter(variant__is_control=True).count() == 3
    assert campaign.stage == "idea"
