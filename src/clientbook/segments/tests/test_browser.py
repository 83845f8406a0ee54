"""Headless Chromium: build a segment with the form builder, watch the live
count follow the edits, save it."""

from pathlib import Path

import pytest

from clientbook.customers.services import customer_create
from clientbook.segments.models import Segment

SCREENSHOT = Path("/tmp/clientbook-segment-builder.png")


@pytest.fixture
def people(transactional_db, source, branch, marketer):
    for i in range(3):
        customer_create(
            name=f"女{i}",
            source=source,
            gender="F",
            branch=branch,
            lifecycle_stage="active",
        )
    customer_create(name="女9", source=source, gender="F", lifecycle_stage="lapsed")
    customer_create(name="男", source=source, gender="M", lifecycle_stage="active")
    return marketer


@pytest.mark.browser
def test_build_a_segment_with_live_count(people, live_server, chromium):
    context = chromium.new_context(locale="en", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/segments/new/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/new/")
    count = page.locator("#preview .seg-count")
    # an empty segment counts every live customer
    count.wait_for()
    assert count.get_attribute("data-count") == "5"

    # when: a condition row is added (gender, M first) and set to F
    page.click("#root > .seg-actions button:first-child")
    page.locator("#preview .seg-count[data-count='1']").wait_for()
    page.locator("#root-children > .seg-cond select[name$='-value']").select_option("F")
    page.locator("#preview .seg-count[data-count='4']").wait_for()

    # and a nested group with one condition, its field changed to lifecycle stage
    page.click("#root > .seg-actions button:nth-child(2)")
    # the group's first condition is gender M again: nobody is both; waiting
    # for that count means the row re-rendered before it is changed
    page.locator("#preview .seg-count[data-count='0']").wait_for()
    group_row = page.locator("#root-children .seg-group .seg-cond").first
    group_row.wait_for()
    group_row.locator("select[name$='-field']").select_option("lifecycle_stage")
    page.wait_for_function(
        "document.querySelector('#root-children .seg-group .seg-cond "
        'select[name$="-value"] option[value=lapsed]\') !== null'
    )
    page.locator(
        "#root-children .seg-group .seg-cond select[name$='-value']"
    ).select_option("lapsed")
    page.locator("#preview .seg-count[data-count='1']").wait_for()

    # removing the group brings the count back
    page.click("#root-children .seg-group .seg-group-head button")
    page.locator("#preview .seg-count[data-count='4']").wait_for()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.fill("input[name=name]", "女客")
    page.click(".form-actions button[type=submit]")
    page.wait_for_url("**/segments/*/")
    assert page.locator("#segment-count").inner_text() == "4"
    segment = Segment.objects.get()
    assert segment.definition["conditions"] == [
        {"field": "gender", "op": "eq", "value": "F"}
    ]
    context.close()
