"""`clientbook demo` and `clientbook run`, without serving."""

import io

import pytest
from django.core.management import CommandError, call_command

from clientbook.customers.models import Customer
from clientbook.tests.factories import BranchFactory

pytestmark = pytest.mark.django_db


def test_demo_loads_once_and_prints_the_logins():
    # when
    first, second = io.StringIO(), io.StringIO()
    call_command("demo", customers=20, seed=3, stdout=first, stderr=io.StringIO())
    loaded = Customer.objects.count()
    call_command("demo", customers=20, seed=3, stdout=second, stderr=io.StringIO())

    # then
    assert loaded == 20 and Customer.objects.count() == loaded
    assert "demo / demo-2026" in first.getvalue()
    assert "sh01-staff / demo-2026" in first.getvalue()
    assert "already loaded" in second.getvalue()


def test_demo_refuses_a_database_with_clashing_branches():
    BranchFactory(code="SH01")
    with pytest.raises(CommandError, match="SH01"):
        call_command("demo", customers=5, stdout=io.StringIO(), stderr=io.StringIO())
    assert not Customer.objects.exists()


def test_run_migrates_loads_and_serves_on_loopback(monkeypatch):
    # given
    from clientbook.web.management.commands import run

    served = []
    real = run.call_command

    def fake_call_command(name, *args, **kwargs):
        if name == "runserver":
            served.append(args)
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(run, "call_command", fake_call_command)
    out = io.StringIO()

    # when
    call_command("run", port=8123, no_demo=True, stdout=out, stderr=io.StringIO())

    # then
    assert served == [("127.0.0.1:8123",)]
    assert "http://127.0.0.1:8123/" in out.getvalue()
    assert not Customer.objects.exists()
