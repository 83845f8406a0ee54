"""Shared settings for the analytics engine tests."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_fit():
    # small fits spend more time starting OpenMP/BLAS threads than working,
    # and on a busy CI machine the threads thrash (30 s instead of 1 s)
    with threadpool_limits(limits=1):
        yield
