from collections import Counter

import numpy as np
import pytest

from clientbook.campaigns.assignment import assign, block_counts


def test_block_counts_are_exact_by_largest_remainder():
    assert block_counts([0.1, 0.45, 0.45]).tolist() == [10, 45, 45]
    assert block_counts([1, 1, 1], 100).tolist() == [34, 33, 33]
    assert block_counts([0.1, 0.9], 7).tolist() == [1, 6]
    assert block_counts([1, 2], 0).tolist() == [0, 0]


@pytest.mark.parametrize("n", [1, 99, 100, 101, 1234, 10_000])
def test_overall_shares_are_exact_to_a_member_per_block(n):
    strata = [str(i % 7) for i in range(n)]
    arms = assign(strata, [0.1, 0.45, 0.45], seed=7)
    counts = np.bincount(arms, minlength=3)
    blocks = -(-n // 100)
    for arm, share in enumerate([0.1, 0.45, 0.45]):
        assert abs(counts[arm] - share * n) <= blocks


def test_each_stratum_is_balanced_within_a_block():
    strata = ["a"] * 5000 + ["b"] * 300 + ["c"] * 40
    arms = assign(strata, [0.2, 0.8], seed=1)
    by = Counter(zip(strata, arms.tolist(), strict=True))
    for name, size in (("a", 5000), ("b", 300), ("c", 40)):
        assert abs(by[name, 0] - 0.2 * size) <= 100 * 0.2 + 1


def test_same_seed_same_assignment_other_seed_other():
    strata = [str(i % 3) for i in range(1000)]
    first = assign(strata, [1, 1], seed=5)
    assert (assign(strata, [1, 1], seed=5) == first).all()
    assert (assign(strata, [1, 1], seed=6) != first).any()


def test_assignment_is_not_predictable_from_order():
    """Neighbours in the input are not systematically in the same arm."""
    arms = assign(["x"] * 10_000, [1, 1], seed=3)
    same = (arms[1:] == arms[:-1]).mean()
    assert 0.45 < same < 0.55
