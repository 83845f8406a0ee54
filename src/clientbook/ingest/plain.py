"""Plain rows parsed the short way: straight to a `rows.Staged`.

Most rows of a big first import are plain new customers: a name, a few
identifiers, a birth date, a one-line address. `RowParser.customer` makes
a record of every row, handler by handler, and `seal`, `split_addresses`
and `staging.line` then walk it again: the parsing workers were half of
the import's CPU (71 µs a row at 1M), a fifth of it on the walking (per
cell a closure and a `try`, per address five parts copied twice, per
record twenty fields). Here a file whose columns all map to the targets
in `TARGETS` has each row read once into what `Staged` holds: 58 → 49 µs
a row in one process, on the bench file.

A row this path cannot take whole (a cell that fails its normaliser, no
name, one identifier twice, a 身份证 number that disagrees with the birth
date or gender given) is left to `RowParser.customer`, which says what is
wrong, so the short way only ever produces what the long way would
(`test_plain.py` compares them row by row).
"""

from collections.abc import Callable

from clientbook.customers import geo, normalise
from clientbook.customers.models import uuid7_texts
from clientbook.errors import ClientbookError
from clientbook.ingest import staging
from clientbook.ingest.rows import (
    HARD,
    NOTHING_MORE,
    TEXT_TARGETS,
    Staged,
    content_digest,
    national_id_conflicts,
    source_key_of,
    storable,
)

_IDENTIFIERS = {"mobile", "landline", "national_id", "passport", "email"}
_IDENTIFIERS |= {"wechat", "membership", "loyalty"}
_TEXTS = {"occupation", "employer", "position", "notes"}
TARGETS = {"name", "gender", "birth_date", "phone", "address"} | _IDENTIFIERS | _TEXTS


class Plain:
    """Parses the plain rows of a file whose mapping has only `TARGETS`."""

    def __init__(self, cells: list[tuple[str, Callable]]):
        self.cells = cells  # (column, what its value does to the row's parts)

    @classmethod
    def of(cls, mapping: dict[str, str]) -> "Plain | None":
        targets = [(c, t) for c, t in mapping.items() if t]
        if "name" not in {t for _c, t in targets} or any(
            t not in TARGETS for _c, t in targets
        ):
            return None
        return cls([(c, _cell(t)) for c, t in targets])

    def rows(self, rows: list[tuple[int, dict]]) -> list[Staged | None]:
        """Each row as a `Staged`, or None where it takes the long way."""
        parts = [self._parts(raw) for _n, raw in rows]
        splits = iter(
            geo.split_addresses(
                [p[2] for p in parts if p and p[2]], halfwidth_done=True
            )
        )
        uuids = iter(uuid7_texts(len(rows)))
        return [
            p and _staged(number, raw, *p, next(splits) if p[2] else None, uuids)
            for (number, raw), p in zip(rows, parts, strict=True)
        ]

    def _parts(self, raw: dict) -> tuple[dict, list, str] | None:
        """The row's profile, identifiers and address as `customer` reads
        them, or None."""
        row = ({}, [], [""])
        try:
            for column, cell in self.cells:
                value = raw.get(column)
                if value and (value := value.strip()):
                    cell(row, storable(value))
        except (normalise.NormaliseError, ClientbookError):
            return None
        profile, identifiers, (address,) = row
        if not profile.get("name") or len(set(identifiers)) < len(identifiers):
            return None
        if national_id_conflicts(profile, identifiers):
            return None
        return profile, identifiers, address


def _cell(target: str) -> Callable[[tuple, str], None]:
    """What a value of a column mapped to `target` does, as
    `RowParser._handler` would do to a record."""
    if target == "name":
        return lambda row, v: row[0].__setitem__("name", normalise.name(v)[:200])
    if target == "gender":
        return lambda row, v: row[0].__setitem__("gender", normalise.gender(v))
    if target == "birth_date":
        return lambda row, v: row[0].__setitem__(target, normalise.date_value(v))
    if target in _TEXTS:
        limit = TEXT_TARGETS[target]
        return lambda row, v: row[0].__setitem__(target, normalise.name(v)[:limit])
    if target == "phone":
        return lambda row, v: row[1].append(normalise.phone(v)[::-1])
    if target == "address":
        return lambda row, v: row[2].__setitem__(0, normalise.halfwidth(v))
    return lambda row, v: row[1].append((target, normalise.identifier(target, v)))


def _staged(number, raw, profile, identifiers, address, split, uuids) -> Staged:
    """What `Staged.of` makes of the sealed record of these parts."""
    address_row = _address_row(address, split) if split else None
    hard = tuple([i for i in identifiers if i[0] in HARD])
    key = source_key_of("", hard, profile)
    digest = content_digest(profile, sorted(identifiers), address_row, NOTHING_MORE)
    name_keys = normalise.name_keys(profile["name"])
    line = staging.row(
        next(uuids), profile, identifiers, name_keys, address_row, key, digest
    )
    return Staged(number, raw, key, hard, digest, None, line)


def _address_row(address: str, split: geo.SplitAddress) -> tuple:
    """`RowParser.split_addresses` of a one-line address, as ADDRESS_COLUMNS."""
    return (
        "home",
        "CN",
        split.province,
        split.city,
        split.district,
        (split.street or address)[: TEXT_TARGETS["street"]],
        split.postcode,
        address,
        split.found and not split.ambiguous,
    )
