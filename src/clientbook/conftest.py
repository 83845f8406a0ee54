"""Fixtures every app's tests share: sources, branches, staff of each role."""

import os
from pathlib import Path

import pytest
from django.db import connections

from clientbook.org.models import Role
from clientbook.tests.factories import BranchFactory, SourceFactory, staff


@pytest.fixture
def source(db):
    return SourceFactory(code="manual", kind="manual", legal_basis="contract")


@pytest.fixture
def branch(db):
    return BranchFactory(code="SH01", name="上海南京路店", region="华东")


@pytest.fixture
def other_branch(db):
    return BranchFactory(code="BJ01", name="北京王府井店", region="华北")


@pytest.fixture
def admin_user(db):
    return staff(Role.ADMIN, username="admin")


@pytest.fixture
def manager(db, branch):
    return staff(Role.MANAGER, username="manager", branch=branch)


@pytest.fixture
def marketer(db):
    return staff(Role.MARKETER, username="marketer")


@pytest.fixture
def branch_staff(db, branch):
    return staff(Role.BRANCH_STAFF, username="clerk", branch=branch)


@pytest.fixture
def auditor(db):
    return staff(Role.AUDITOR, username="auditor")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium():
    """Debian's headless Chromium driven by Playwright (browser tests)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}; the browser test needs it."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop; Django refuses ORM calls from
    # inside one unless told that this test process may.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # While Playwright's event loop runs, Django keeps a connection per
        # context rather than per thread: the test body's queries opened one
        # the test database teardown would otherwise find still open.
        connections.close_all()
