"""Sets of keys a big import remembers, by their 64-bit `hash`, at 8 bytes
a key: a Python set of the same ints takes ~70 bytes a key (303 MB for 3.4
million, measured), and an import remembers up to a few keys a row.

numpy's sorted arrays and binary search do the work; a Bloom filter
package would add a dependency and false positives, for no gain at these
sizes.
"""

from collections.abc import Iterable

import numpy as np

# Keys a `KeySet` holds in a Python set before they go into the arrays: a
# few chunks' worth, so adding stays cheap and lookups stay batched.
BUFFERED = 50_000


class Hashes:
    """Hashes in sorted arrays of doubling sizes, each merged into the one
    before it once as big (one array re-sorted for every chunk took the
    importer 200 µs a row at 1M rows): adding is O(log n) amortised, a
    lookup a binary search per array."""

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(map(len, self._levels))

    def add(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        levels = self._levels
        levels.append(np.sort(hashes))  # repeats are harmless: not removed
        while len(levels) > 1 and len(levels[-2]) <= 2 * len(levels[-1]):
            merged = np.concatenate([levels.pop(), levels.pop()])
            # Two sorted runs: the stable sort (timsort) merges them in O(n),
            # in place (a copy more was 27 MB at a million customers).
            merged.sort(kind="stable")
            levels.append(merged)

    def has(self, hashes: np.ndarray) -> np.ndarray:
        """Which of `hashes` are here (sorted first, the searches run
        through memory once)."""
        order = np.argsort(hashes)
        wanted = hashes[order]
        hit = np.zeros(len(hashes), bool)
        for level in self._levels:
            at = np.searchsorted(level, wanted)
            at[at == len(level)] = 0
            hit |= level[at] == wanted
        found = np.empty_like(hit)
        found[order] = hit
        return found

    def clear(self) -> None:
        self._levels = []


def hashed(keys: list) -> np.ndarray:
    return np.fromiter(map(hash, keys), np.int64, len(keys))


class KeySet:
    """A set of keys that only grows (`add`, `among`), stored as hashes. Two
    keys of one hash count as one: at 64 bits, ~1 in 10^7 for a file of
    10^6 keys."""

    def __init__(self) -> None:
        self._recent: set[int] = set()
        self._older = Hashes()

    def __len__(self) -> int:
        return len(self._recent) + len(self._older)

    def add(self, key) -> None:
        self._recent.add(hash(key))
        if len(self._recent) >= BUFFERED:
            self._older.add(np.fromiter(self._recent, np.int64, len(self._recent)))
            self._recent = set()

    def among(self, keys: Iterable) -> set:
        """Those of `keys` in the set."""
        keys = list(keys)
        hashes = hashed(keys)
        found = self._older.has(hashes)
        recent = self._recent
        return {
            k
            for k, h, f in zip(keys, hashes.tolist(), found, strict=True)
            if f or h in recent
        }
