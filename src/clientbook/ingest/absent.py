"""What a big import need not look up: keys the database surely lacks.

Each chunk of a customer import asks the database who holds its rows' hard
identifiers and which of its source keys the source knows. In a first
import almost none are there, yet each is an index probe: 6 µs a row of
the server's ~31 at 200,000 rows (`pg_stat_statements`, parsing in the
importer so nothing else ran), plus the importer's share of fetching and
sorting. So a job whose file is big next to what the database holds loads
what it holds (hashes of the live hard identifiers and of the source's
keys) once, adds what every chunk brings, and looks up only what may be
there.

A hash can only say "maybe": what it lets through is looked up as before.
What it rules out is surely absent unless someone else wrote it after the
load; the unique indexes on hard identifiers and source keys then fail the
chunk, which is redone row by row, as for any write that races an import,
and each row then looks up all its keys: the failed attempt's `sift`
remembered them.

The hashes are Python's `hash` of the key, or of the identifier's (type,
value) as plain strings on both sides (a str enum would hash by its
name), kept as `hashes.Hashes`: a million customers' 3.4 million keys take
27 MB so.
"""

import numpy as np

from clientbook.customers.models import HARD_IDENTIFIER_TYPES, Identifier
from clientbook.ingest.hashes import Hashes, hashed
from clientbook.ingest.models import SourceRecord

# Loading a key costs the importer about what not looking one up saves the
# server, and a file's row has three or four: a database holding more keys
# than the file has rows (a re-import, where every key is there and looked
# up anyway) is not loaded.
LOAD_LIMIT = 1
# Hashes kept at most (8 bytes each; twice as many while the largest arrays
# merge): past them the job looks every key up, so a file of any length
# leaves the importer's memory bounded.
MAX_KEYS = 8_000_000


class Absent:
    """Hashes of keys the database may hold: the live hard identifiers
    (type, value) and the job's source's keys, with those every chunk of
    the job brought."""

    def __init__(self, hashes: np.ndarray):
        self._hashes = Hashes()
        self._full = False  # past MAX_KEYS: every key is looked up
        self._add(hashes)

    def sift(self, keys) -> list:
        """The keys that may be in the database, to be looked up. All of
        them may be from now on: the chunk that asks may write them."""
        keys = list(keys)
        if self._full:
            return keys
        hashes = hashed(keys)
        found = self._hashes.has(hashes)
        self._add(hashes)
        return [keys[i] for i in np.flatnonzero(found).tolist()]

    def _add(self, hashes: np.ndarray) -> None:
        if len(self._hashes) + len(hashes) > MAX_KEYS:
            self._hashes.clear()
            self._full = True
        else:
            self._hashes.add(hashes)


def load(source_id: int, rows: int) -> Absent | None:
    """The keys the database holds, if there are few enough next to the
    `rows` the job will read to be worth loading; None if not."""
    limit = min(rows * LOAD_LIMIT, MAX_KEYS)
    held = (
        Identifier.objects.filter(
            is_live=True, type__in=HARD_IDENTIFIER_TYPES
        ).values_list("type", "value"),
        SourceRecord.objects.filter(source_id=source_id).values_list("key", flat=True),
    )
    # Counted up to the limit: a big database costs no more than a small one.
    if sum(items[: limit + 1].count() for items in held) > limit:
        return None
    hashes = [hash(i) for items in held for i in items.iterator(chunk_size=20_000)]
    return Absent(np.array(hashes, np.int64))
