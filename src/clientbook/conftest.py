"""Fixtures every app's tests share: sources, branches, staff of each role."""

import pytest

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
