"""Headless Chromium: log in, search a customer by name, open the 360 page."""

from pathlib import Path

import pytest

from clientbook.activity.services import interaction_record
from clientbook.customers.services import customer_create, preference_set

SCREENSHOT = Path("/tmp/clientbook-360.png")


@pytest.fixture
def customer(transactional_db, source, branch, manager):
    customer = customer_create(
        name="欧阳娜娜",
        source=source,
        branch=branch,
        lifecycle_stage="active",
        occupation="设计师",
        identifiers=[{"type": "mobile", "value": "13812345678"}],
        actor=manager,
    )
    preference_set(customer=customer, key="饮品", value="胡萝卜汁", source=source)
    interaction_record(
        customer=customer,
        channel="phone",
        direction="out",
        type="call",
        source=source,
        summary="生日前回访，预约到店",
        actor=manager,
    )
    return customer


@pytest.mark.browser
def test_log_in_search_and_open_the_360_page(customer, live_server, chromium):
    # The database comes first so that the live server (and its connections)
    # is stopped before the test database is dropped.
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)

    # given: the login page
    page.goto(f"{live_server.url}/customers/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit].primary")

    # when: typing a name fills the results without a page load (htmx)
    page.wait_for_url("**/customers/")
    page.fill(".bigsearch input[name=q]", "ouyang")
    result = page.locator("#results a", has_text="欧阳娜娜")
    result.wait_for()
    result.click()

    # then: the 360 page with profile, phone, preference and timeline
    page.wait_for_url(f"**/customers/{customer.uuid}/")
    assert page.locator("h1").inner_text() == "欧阳娜娜"
    body = page.locator("body").inner_text()
    for text in (
        "设计师",
        "+8613812345678",
        "胡萝卜汁",
        "生日前回访，预约到店",
        "¥0.00",
    ):
        assert text in body
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # and: the mobile is marked verified from its row, then removed once
    # the browser's confirmation is accepted
    identifiers = page.locator("#identifiers-card")
    identifiers.get_by_role("button", name="标为已核实").click()
    page.wait_for_url("**#identifiers-card")
    assert "标识已标为已核实。" in page.locator("body").inner_text()
    assert identifiers.locator(".badge.verified").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    identifiers.get_by_role("button", name="删除").click()
    page.locator("text=标识已删除。").wait_for()
    assert "+8613812345678" not in identifiers.inner_text()
    context.close()
