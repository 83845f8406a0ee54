"""Headless Chromium: upload a CSV, map it, preview it, import it through
the background worker while the page polls, and read the result."""

import csv
from pathlib import Path

import pytest
from django.core.management import call_command

from clientbook.customers.models import Customer
from clientbook.ingest.models import ImportJob

SHOTS = Path("/tmp")


@pytest.fixture
def members_csv(tmp_path) -> Path:
    path = tmp_path / "门店会员.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["姓名", "手机号码", "生日", "喜欢的饮品"])
        writer.writerow(["欧阳娜娜", "13812345678", "1988-08-08", "胡萝卜汁"])
        writer.writerow(["司马光", "13912345678", "1990/7/20", "乌龙茶"])
        writer.writerow(["诸葛亮", "12345", "1981-04-01", ""])
    return path


@pytest.mark.browser
def test_upload_map_preview_import_and_see_the_result(
    transactional_db,
    source,
    manager,
    settings,
    tmp_path,
    members_csv,
    live_server,
    chromium,
):
    # The database comes first so that the live server (and its connections)
    # is stopped before the test database is dropped.
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_DIR": tmp_path / "imports"}
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)

    # given: logged in, on the upload page
    page.goto(f"{live_server.url}/imports/new/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/imports/new/")
    page.select_option("select[name=kind]", "customers")
    page.select_option("select[name=source]", str(source.pk))
    page.set_input_files("input[name=file]", str(members_csv))
    page.screenshot(path=str(SHOTS / "clientbook-import-1-upload.png"), full_page=True)

    # when: uploading, the mapping screen guesses three columns of four
    page.click("button[type=submit].primary")
    page.wait_for_url("**/imports/upload/**")
    assert page.locator("select[name=col_0]").input_value() == "name"
    assert page.locator("select[name=col_1]").input_value() == "mobile"
    assert page.locator("select[name=col_3]").input_value() == ""
    assert "胡萝卜汁" in page.locator("table.mapping").inner_text()
    page.select_option("select[name=col_3]", "preference:喜欢的饮品")
    page.check("input[name=save_template]")
    page.fill("input[name=template_name]", "门店会员表")
    page.screenshot(path=str(SHOTS / "clientbook-import-2-mapping.png"), full_page=True)

    # and previewing: counted, nothing written
    page.click("button[value=preview]")
    page.wait_for_selector(".counts")
    preview = page.locator("main").inner_text()
    assert "12345" in preview and Customer.objects.count() == 0
    page.screenshot(path=str(SHOTS / "clientbook-import-3-preview.png"), full_page=True)

    # and importing for real, through the worker, while the page polls
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_SYNC_ROWS": 0}
    page.click("form[action$='/import/'] button")
    page.wait_for_selector("#progress .bar")
    page.screenshot(
        path=str(SHOTS / "clientbook-import-4-progress.png"), full_page=True
    )
    call_command("worker", batch=True, verbosity=0)

    # then: the page reloads by itself and shows the result
    page.wait_for_selector(".counts", timeout=20_000)
    job = ImportJob.objects.get(dry_run=False)
    assert (job.status, job.created, job.rejected) == ("done", 2, 1)
    assert page.url.endswith(f"/imports/{job.uuid}/")
    result = page.locator("main").inner_text()
    assert job.file_sha256 in result and "门店会员.csv" in result
    assert page.locator("table.rejects tbody tr").count() == 1
    assert page.locator(f"a[href$='?from={job.uuid}']").count() == 1
    nana = Customer.objects.get(name="欧阳娜娜")
    assert nana.preferences.get().value == "胡萝卜汁"
    page.screenshot(path=str(SHOTS / "clientbook-import-5-result.png"), full_page=True)

    # and the list of imports has both jobs, newest first
    page.click("a[href$='/imports/'].button")
    page.wait_for_url("**/imports/")
    assert page.locator("table.jobs tbody tr").count() == 2
    page.screenshot(path=str(SHOTS / "clientbook-import-6-list.png"), full_page=True)
    context.close()
