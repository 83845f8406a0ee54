"""The demo company, loaded once per test module and committed.

Ibis reads through its own database connection, which cannot see rows a
test's transaction has not committed; so the demo data is committed once
per module (and flushed afterwards), while each test's own writes stay in
its rolled-back transaction as usual.
"""

import datetime as dt

import pytest
from django.core.management import call_command

TODAY = dt.date(2025, 6, 30)
AS_OF = dt.date(2025, 7, 1)
CUSTOMERS = 300


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    from clientbook import demo

    with django_db_blocker.unblock():
        demo.build(customers=CUSTOMERS, seed=11, today=TODAY)
        yield
        call_command("flush", interactive=False, verbosity=0)
