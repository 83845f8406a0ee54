"""Chinese addresses split into province, city, district and the rest.

The matching is cpca's (MIT; GB/T 2260 division codes, adcodes.csv), which
also fills in a province or city the text leaves out. Two things are added
here because cpca guesses where a user must decide: a district named
without its city, whose name exists in several cities (朝阳区: Beijing and
Changchun), is not placed; and a municipality's city is its own name (上海市),
not cpca's 市辖区. Postcodes come from a city table derived from JioNLP
(Apache-2.0; scripts/build_city_postcodes.py).
"""

import csv
import functools
from importlib import resources
from typing import NamedTuple

from clientbook.customers.normalise import halfwidth

MUNICIPAL = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


class SplitAddress(NamedTuple):  # a tuple: a frozen dataclass took 1.2 µs to make
    province: str = ""
    city: str = ""
    district: str = ""
    street: str = ""
    postcode: str = ""
    adcode: str = ""
    ambiguous: bool = False  # a district name that exists in several places

    @property
    def found(self) -> bool:
        return bool(self.province or self.city or self.district)


def split_address(text: str) -> SplitAddress:
    return split_addresses([text])[0]


def split_addresses(
    texts: list[str], *, halfwidth_done: bool = False
) -> list[SplitAddress]:
    """Splits many addresses at once (`halfwidth_done`: they went through
    `halfwidth` already, as an import's have)."""
    clean = [
        (t if halfwidth_done else halfwidth(t or "")).replace(" ", "") for t in texts
    ]
    return [_one(text, row) for text, row in zip(clean, _cpca(clean), strict=True)]


_CPCA_COLUMNS = ("省", "市", "区", "地址", "adcode", "省_pos", "市_pos", "区_pos")


def _cpca(texts: list[str]) -> list[tuple]:
    """cpca's answer per address. Its `transform` builds a pandas frame of
    them, which took half the time of an import's address splitting: the
    function it calls per address is used directly when it is there."""
    import cpca

    one = getattr(cpca, "_get_one_addr", None)
    if one is None:  # a cpca without it: the public, slower way
        frame = cpca.transform(texts, pos_sensitive=True) if texts else ()
        return list(frame.itertuples(index=False)) if texts else []
    return [_by_prefix(one, t) for t in texts]


class _Prefixes:
    """cpca's answers by the beginning of an address that decided them.

    cpca reads an address from the left and stops at the first district
    (county) it can place; what follows becomes the street. So every
    address that begins like one already split, up to and including its
    district, splits the same way, unless the district's name could go on
    into a longer name (a keyword of cpca that begins with it), where the
    next characters might change cpca's choice: those are not remembered.
    Calling cpca costs ~50 µs an address; a look-up here a few."""

    LIMIT = 100_000

    def __init__(self):
        self.rows: dict[str, tuple] = {}
        self.lengths: list[int] = []

    def get(self, text: str) -> tuple | None:
        rows = self.rows
        for length in self.lengths:
            row = rows.get(text[:length])
            if row is not None:
                return (*row[:3], text[length:], *row[4:])
        return None

    def add(self, text: str, row: tuple) -> None:
        district, rest, d_pos = row[2], row[3], row[7]
        if not district or rest is None or d_pos is None or int(d_pos) < 0:
            return  # no district: cpca read the whole text
        end = len(text) - len(rest)
        if text[int(d_pos) : end] in _extendable_names():
            return
        if len(self.rows) >= self.LIMIT:
            self.rows.clear()
        self.rows[text[:end]] = row
        if end not in self.lengths:
            self.lengths.append(end)


_prefixes = _Prefixes()


def _by_prefix(one, text: str) -> tuple:
    row = _prefixes.get(text)
    if row is None:
        row = tuple(map(one(text, True, {}).get, _CPCA_COLUMNS))
        _prefixes.add(text, row)
    return row


@functools.cache
def _extendable_names() -> frozenset[str]:
    """cpca's place names that are the beginning of another of its names."""
    import cpca

    names = sorted(cpca.matcher.ac.keys())
    return frozenset(
        a for a, b in zip(names, names[1:], strict=False) if b.startswith(a)
    )


def _one(text: str, row) -> SplitAddress:
    place = _place(*row[:3], *row[4:])
    if place is None:
        return SplitAddress(street=text)
    province, city, district, _street, postcode, adcode, ambiguous = place
    return SplitAddress(
        province, city, district, _str(row[3]), postcode, adcode, ambiguous
    )


@functools.lru_cache(maxsize=65_536)  # addresses of a file share their places
def _place(*row) -> SplitAddress | None:
    """The address less its street, from cpca's answer less the rest of the
    text; None if it names no place."""
    province, city, district, adcode, p_pos, c_pos, _d_pos = map(_str, row)
    if not (province or city or district):
        return None
    named_above = int(p_pos) >= 0 or int(c_pos) >= 0
    if district and not named_above and _district_count(district) > 1:
        return SplitAddress(district=district, ambiguous=True)
    if city in MUNICIPAL:
        city = province if province.endswith("市") else district
    return SplitAddress(
        province=province,
        city=city,
        district=district,
        postcode=postcode_for(province, city),
        adcode=adcode,
    )


def _str(value) -> str:
    if value is None or value != value:  # NaN
        return ""
    return str(value)


@functools.cache
def _district_names() -> dict[str, int]:
    counts: dict[str, int] = {}
    with (
        resources.files("cpca")
        .joinpath("resources/adcodes.csv")
        .open(encoding="utf-8") as stream
    ):
        for row in csv.DictReader(stream):
            code = row["adcode"]
            if code[4:6] != "00" and code[6:] == "000000":
                counts[row["name"]] = counts.get(row["name"], 0) + 1
    return counts


def _district_count(name: str) -> int:
    return _district_names().get(name, 0)


@functools.cache
def _postcodes() -> dict[tuple[str, str], str]:
    table = {}
    with (
        resources.files("clientbook.customers")
        .joinpath("data/city_postcodes.csv")
        .open(encoding="utf-8") as stream
    ):
        for row in csv.DictReader(stream):
            table[(row["province"], row["city"])] = row["postcode"]
    return table


@functools.lru_cache(maxsize=4096)
def postcode_for(province: str, city: str) -> str:
    """The city's main postcode ("济南市" → 250000), or ""."""
    for (short_province, short_city), code in _postcodes().items():
        if province.startswith(short_province) and city.startswith(short_city):
            return code
    return ""
