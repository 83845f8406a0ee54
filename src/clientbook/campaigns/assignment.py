"""Seeded, stratified, reproducible random assignment of members to arms.

Permuted blocks within strata: members are ordered by stratum and, inside
it, at random; then each block of `BLOCK` consecutive members (and the
shorter last one) gets the arms in exact proportion (largest remainders), in
a random order. So every stratum's arms are balanced to within one block,
the overall shares are exact to within one member per arm and block, and
the same seed and members give the same assignment every time. NumPy's
PCG64 generator is the source of randomness.
"""

from collections.abc import Sequence

import numpy as np

BLOCK = 100


def block_counts(shares: Sequence[float], size: int = BLOCK) -> np.ndarray:
    """How many of `size` places each arm gets: largest remainders, ties to
    the earlier arm."""
    shares = np.asarray(shares, dtype=float)
    exact = shares / shares.sum() * size
    counts = np.floor(exact).astype(int)
    short = size - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def assign(
    strata: Sequence[str], shares: Sequence[float], seed: int, block: int = BLOCK
) -> np.ndarray:
    """For members given by their stratum (in a fixed order, e.g. by customer
    id), the index of the arm each one gets. `shares` need not sum to 1."""
    n = len(strata)
    if n == 0:
        return np.zeros(0, dtype=int)
    rng = np.random.default_rng(seed)
    keys = np.asarray(strata, dtype=object)
    _names, stratum_index = np.unique(keys, return_inverse=True)
    order = np.lexsort((rng.random(n), stratum_index))
    pattern = np.repeat(np.arange(len(shares)), block_counts(shares, block))
    full, rest = divmod(n, block)
    arms_in_order = rng.permuted(np.tile(pattern, (full, 1)), axis=1).ravel()
    # The last, shorter block gets its own exact proportions.
    tail = np.repeat(np.arange(len(shares)), block_counts(shares, rest))
    arms_in_order = np.concatenate([arms_in_order, rng.permutation(tail)])
    arms = np.empty(n, dtype=int)
    arms[order] = arms_in_order
    return arms
