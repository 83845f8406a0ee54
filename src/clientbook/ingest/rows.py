"""One raw row → a checked record, or the list of what is wrong with it.

Every error names the column as it stands in the file, the value and a
reason a user can act on.
"""

import functools
import hashlib
import itertools
import json
import multiprocessing
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from clientbook.customers import geo, normalise
from clientbook.customers.models import (
    HARD_IDENTIFIER_TYPES,
    AddressType,
    Customer,
    CustomerKind,
    IncomeBand,
    LifecycleStage,
)
from clientbook.customers.services import custom_value_parse
from clientbook.errors import ClientbookError
from clientbook.privacy.models import ConsentStatus

if TYPE_CHECKING:
    from clientbook.ingest.plain import Plain


@dataclass
class RowError:
    column: str
    value: str
    reason: str
    code: str = "invalid"


@dataclass
class CustomerRecord:
    row_number: int
    raw: dict[str, str]
    profile: dict[str, Any] = field(default_factory=dict)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    address: dict[str, str] = field(default_factory=dict)
    preferences: list[tuple[str, str]] = field(default_factory=list)
    key_dates: list[tuple[str, Any]] = field(default_factory=list)
    consents: list[tuple[str, str, str]] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    branch_id: int | None = None
    external_id: str = ""
    name_parts: dict[str, str] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    # Worked out once, where the row is parsed (possibly in a worker process).
    name_keys: tuple[str, str] | None = None
    _key: str | None = field(default=None, repr=False, compare=False)
    _hash: str | None = field(default=None, repr=False, compare=False)
    _older: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    _hard: tuple | None = field(default=None, repr=False, compare=False)
    # The address as the row the import writes (ADDRESS_COLUMNS), made by `seal`.
    address_row: tuple | None = field(default=None, repr=False, compare=False)
    # The record as a new customer's row of the staging table, if it can be
    # one (`staging.line`), made where it is parsed.
    staged: str | None = field(default=None, repr=False, compare=False)

    @property
    def hard_identifiers(self) -> tuple[tuple[str, str], ...]:
        # Read several times a row while writing: worked out once.
        if self._hard is None:
            self._hard = tuple([i for i in self.identifiers if i[0] in HARD])
        return self._hard

    def seal(self) -> None:
        """Computes what writing the record needs, so parsing workers do it."""
        self._hard = None  # identifiers may have changed since a first read
        self.source_key()
        if self.profile.get("name") and not self.errors:
            self.name_keys = normalise.name_keys(self.profile["name"])
        if self.address:
            self.address_row = tuple(
                self.address.get(k, d) for k, d in ADDRESS_COLUMNS.items()
            )
        self.content_hash()

    def __reduce__(self):
        """How a parsing worker sends the record to the importer: without the
        raw row (the importer read it and puts it back, see `with_raw`) and
        without its empty fields. Unpickling records was a fifth of the
        importer's time."""
        state = {k: v for k, v in self.__dict__.items() if v and k not in _UNSENT}
        if self.address_row is not None:
            state.pop("address", None)  # the row says it all
        return (_rebuilt, (self.row_number, state))

    def source_key(self) -> str:
        """How the source knows this customer: its own id if the file has
        one, else its hard identifiers, else its name and birth date."""
        if self._key is None:
            self._key = self._source_key()
        return self._key

    def _source_key(self) -> str:
        return source_key_of(self.external_id, self.hard_identifiers, self.profile)

    def content_hash(self) -> str:
        """What the row says once normalised (of a sealed record). A row read
        again, or written otherwise (a phone's spaces, a date's format, the
        order of columns), is unchanged; a row that says something new, or
        whose mapping now takes another column, is not. A hash of the raw row
        told two spellings of one row apart: the one seen last was kept, and
        a re-import applied the other again over the customer's later rows."""
        if self._hash is None:
            self._hash = content_digest(*self._parts())
        return self._hash

    def older_hashes(self) -> tuple[str, str]:
        """The hashes imports stored before `content_hash` took its form: of
        the same parts by the standard library's JSON, and before that of the
        raw row. A file imported then and read again is unchanged too,
        rather than applied again over what has changed since."""
        if self._older is None:  # a changed row is compared more than once
            self._older = (_legacy_digest(*self._parts()), _raw_hash(self.raw))
        return self._older

    def _parts(self) -> tuple:
        rest = [
            sorted(self.preferences),
            sorted(self.key_dates),
            sorted(self.consents),
            self.custom,
            sorted(self.tags),
            self.branch_id,
            self.external_id,
        ]
        return self.profile, sorted(self.identifiers), self.address_row, rest


def source_key_of(external_id: str, hard: tuple, profile: dict) -> str:
    """`CustomerRecord.source_key` of a record's parts."""
    if external_id:
        return "id:" + external_id
    if hard:
        return "ids:" + "|".join(f"{t}={v}" for t, v in sorted(hard))
    birth = profile.get("birth_date") or ""
    return f"name:{profile.get('name', '')}|{birth}"[:200]


def content_digest(profile: dict, identifiers: list, address_row, rest: list) -> str:
    """`CustomerRecord.content_hash` of a record's parts, the identifiers
    sorted; `rest` is what follows them (`NOTHING_MORE` for a record that
    brings no more).

    The parts as JSON by orjson: the standard library's encoder took 7–9
    µs of a plain row's ~70 in a parsing worker, orjson ~1. Its hashes are
    `HASH_LENGTH` hex digits, so those stored before it (`_legacy_digest`,
    64) are told apart and compared as they were made."""
    content = orjson.dumps(
        [profile, identifiers, address_row, *rest],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(content).hexdigest()[:HASH_LENGTH]


HASH_LENGTH = 48  # hex digits of `content_digest`: 192 bits


def _legacy_digest(profile: dict, identifiers: list, address_row, rest: list) -> str:
    """`content_digest` as imports made it before orjson."""
    content = _CANONICAL.encode([profile, identifiers, address_row, *rest])
    return hashlib.sha256(content.encode()).hexdigest()


# The rest of a record with no preferences, key dates, consents, custom
# fields, tags, branch or id of its own, as `content_digest` takes it.
NOTHING_MORE = ([], [], [], {}, [], None, "")


def _raw_hash(raw: dict[str, str]) -> str:
    # An unmapped cell may hold half a surrogate pair (`storable`).
    content = _RAW.encode(raw).encode("utf-8", "surrogatepass")
    return hashlib.sha256(content).hexdigest()


class Staged:
    """A record a plain new customer could be written from (`staging.line`),
    as a parsing worker sends it: what matching needs and the staging row.
    Most rows of a first import are such customers, and whole records cost
    the workers ~10 µs a row to pickle and the importer as much to unpickle
    (~700 bytes of dicts and lists each). Where one turns out to need more
    (its key or an identifier is known, or other rows of the file are the
    same customer, or its key's stored hashes are older than
    `content_digest`), the importer parses its row again (`RowParser.whole`)."""

    __slots__ = ("row_number", "raw", "_key", "hard_identifiers", "_hash")
    __slots__ += ("branch_id", "staged")
    errors = ()

    def __init__(self, row_number, raw, key, hard, digest, branch_id, staged):
        self.row_number, self.raw, self._key = row_number, raw, key
        self.hard_identifiers, self._hash = hard, digest
        self.branch_id, self.staged = branch_id, staged

    @classmethod
    def of(cls, record: CustomerRecord) -> "Staged":
        return cls(
            record.row_number,
            record.raw,
            record.source_key(),
            record.hard_identifiers,
            record.content_hash(),
            record.branch_id,
            record.staged,
        )

    def __reduce__(self):
        state = (self._key, self.hard_identifiers, self._hash, self.branch_id)
        return (Staged, (self.row_number, None, *state, self.staged))

    def source_key(self) -> str:
        return self._key

    def content_hash(self) -> str:
        return self._hash


class Parsed(list):
    """A chunk's records as `RowParser.chunk` makes them. Pickled (a parsing
    worker sends them to the importer), its `Staged` records go as columns,
    one list per attribute, that pickle reads and writes in C: one
    `__reduce__` call per record cost the worker 3.3 µs a row and the
    importer 1.9 to unpickle, against 1.7 and 1.3 (200,000 rows of the
    bench file)."""

    def __reduce__(self):
        staged = [r for r in self if type(r) is Staged]
        columns = (
            [r.row_number for r in staged],
            [r._key for r in staged],
            [r.hard_identifiers for r in staged],
            [r._hash for r in staged],
            [r.branch_id for r in staged],
            [r.staged for r in staged],
        )
        others = [(i, r) for i, r in enumerate(self) if type(r) is not Staged]
        return (_unpacked, (len(self), columns, others))


def _unpacked(size: int, columns: tuple, others: list) -> Parsed:
    numbers, keys, hard, hashes, branches, lines = columns
    staged = map(
        Staged, numbers, itertools.repeat(None), keys, hard, hashes, branches, lines
    )
    if not others:
        return Parsed(staged)
    records = [None] * size
    for i, record in others:
        records[i] = record
    return Parsed([r if r is not None else next(staged) for r in records])


# Not sent back from a worker: the importer has the raw row, the row number
# comes apart and the hard identifiers are cheaper to pick again than to send.
_UNSENT = frozenset({"raw", "row_number", "_hard"})


def _rebuilt(row_number: int, state: dict) -> CustomerRecord:
    record = CustomerRecord(row_number, None)
    record.__dict__.update(state)
    return record


def with_raw(rows: list, records: list[CustomerRecord]) -> list[CustomerRecord]:
    """Records from a worker given back the raw rows they were parsed from."""
    raws = dict(rows)
    for record in records:
        if record.raw is None:
            record.raw = raws[record.row_number]
    return records


# The profile of a customer as an import reads and writes it, and the
# columns of a new customer it writes.
PROFILE_ORDER = [
    "kind",
    "name",
    "gender",
    "birth_date",
    "occupation",
    "employer",
    "position",
    "income_band",
    "lifecycle_stage",
    "notes",
]
NEW_CUSTOMER = [*PROFILE_ORDER, "name_pinyin", "name_initials", "branch_id"]


@functools.cache
def profile_defaults() -> dict[str, Any]:
    """A new customer's profile before a row fills it in. Choices as plain
    text: an enum member took `staging.line` a slow path per cell."""
    defaults = {f: Customer._meta.get_field(f).get_default() for f in PROFILE_ORDER}
    return {f: getattr(v, "value", v) for f, v in defaults.items()}


# An address as the import writes it: columns and the defaults of those a
# row leaves out.
ADDRESS_COLUMNS = {
    "type": "home",
    "country": "CN",
    "province": "",
    "city": "",
    "district": "",
    "street": "",
    "postcode": "",
    "raw": "",
    "is_valid": True,
}

_CHOICE_TARGETS = {
    "kind": CustomerKind,
    "income_band": IncomeBand,
    "lifecycle_stage": LifecycleStage,
    "address_type": AddressType,
}
TEXT_TARGETS = {
    "occupation": 100,
    "employer": 200,
    "position": 100,
    "notes": 10_000,
    "province": 50,
    "city": 50,
    "district": 50,
    "street": 300,
    "postcode": 10,
}
_ADDRESS_TARGETS = {
    "province",
    "city",
    "district",
    "street",
    "postcode",
    "address",
    "address_type",
}
_TRUE = {"1", "是", "y", "yes", "true", "同意", "granted", "已同意", "t"}
_FALSE = {"0", "否", "n", "no", "false", "不同意", "withdrawn", "拒绝", "退订", "f"}
_TAG_SPLIT = re.compile(r"[,，、;；|]")
HARD = frozenset(str(t) for t in HARD_IDENTIFIER_TYPES)  # plain str: fast `in`
# One encoder for every row's content hash (dates, decimals as text), and
# the one of the raw rows' hashes of earlier versions.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)
_RAW = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


class RowParser:
    """Parses rows of one file with one mapping; lookups are cached."""

    def __init__(
        self,
        mapping: dict[str, str],
        *,
        branches: dict[str, int],
        custom_fields: dict[str, Any],
        stage: Callable[["CustomerRecord"], str | None] | None = None,
        plain: "Plain | None" = None,
    ):
        self.stage = stage  # what a sealed record is staged as, if it may be
        self.plain = plain  # the short way for plain rows, with `stage`
        # Whether records that could travel as `Staged` go whole instead: set
        # by the importer (`needed`), read by the workers it forked.
        self._send_whole = multiprocessing.RawValue("b", 0) if stage else None
        self.columns = [(c, t) for c, t in mapping.items() if t]
        self.branches = branches  # code or name → id
        self.custom_fields = custom_fields  # (customer kind, key) → CustomField
        # Each column's handler, chosen once per file rather than per cell.
        self.handlers = [
            (c, self._handler(t))
            for c, t in self.columns
            if not t.startswith("custom:")
        ]
        self.custom_columns = [
            (c, t[7:]) for c, t in self.columns if t.startswith("custom:")
        ]

    def customer(self, number: int, raw: dict[str, str]) -> CustomerRecord:
        record = CustomerRecord(number, raw)
        for column, handle in self.handlers:
            value = raw.get(column)
            if value and (value := value.strip()):
                self._checked(record, column, value, handle)
        if "name" not in record.profile and record.name_parts:
            record.profile["name"] = _full_name(**record.name_parts)
        self._check_national_id(record)
        # Custom fields are declared per kind of customer, known only now.
        kind = record.profile.get("kind", CustomerKind.INDIVIDUAL)
        for column, key in self.custom_columns:
            value = (raw.get(column) or "").strip()
            self._checked(record, column, value, self._custom, kind, key)
        if not record.profile.get("name") and not record.errors:
            column = next((c for c, t in self.columns if t == "name"), "name")
            record.errors.append(
                RowError(column, "", _("a customer needs a name"), "required")
            )
        return record

    def _check_national_id(self, record: CustomerRecord) -> None:
        """A 身份证 number holds a birth date and a sex: missing ones are taken
        from it, and a row that says otherwise is refused, not silently fixed."""
        for target, given, number, derived in national_id_conflicts(
            record.profile, record.identifiers
        ):
            column = next((c for c, t in self.columns if t == target), target)
            record.errors.append(
                RowError(
                    column,
                    str(record.raw.get(column, given)),
                    _("the national ID %(number)s says %(derived)s")
                    % {"number": number, "derived": derived},
                    "id_conflict",
                )
            )

    def chunk(self, rows: list[tuple[int, dict[str, str]]]) -> Parsed:
        """A chunk of rows parsed, addresses split and records sealed: all
        the work that needs no database, so it can run in a worker process."""
        slim = self.stage is not None and not self._send_whole.value
        quick = self.plain.rows(rows) if slim and self.plain else None
        if quick is not None:  # the rest take the long way
            rows = [row for row, staged in zip(rows, quick, strict=True) if not staged]
        records = [self.customer(number, raw) for number, raw in rows]
        self.split_addresses(records)
        for i, record in enumerate(records):
            record.seal()
            if self.stage:
                record.staged = self.stage(record)
                if slim and record.staged is not None:
                    records[i] = Staged.of(record)
        if quick is None:
            return Parsed(records)
        others = iter(records)
        return Parsed([staged or next(others) for staged in quick])

    def whole(self, record: "CustomerRecord | Staged") -> CustomerRecord:
        """The whole record of a row, parsed again if it came as `Staged`."""
        if type(record) is not Staged:
            return record
        whole = self.customer(record.row_number, record.raw)
        self.split_addresses([whole])
        whole.seal()
        whole.staged = record.staged
        return whole

    def needed(self, whole: int, of: int) -> None:
        """Of `of` rows that could have come as `Staged`, `whole` were needed
        whole: when many are (a re-import that changes most customers, where
        parsing them again made it 31% slower), the workers send whole
        records from their next chunk on, and slim ones again when few are."""
        if self._send_whole is not None and of:
            if whole > of * 0.2:
                self._send_whole.value = 1
            elif whole < of * 0.05:
                self._send_whole.value = 0

    def split_addresses(self, records: list[CustomerRecord]) -> None:
        """Splits one-line addresses into province / city / district / street,
        for a whole chunk at once; parts given in their own columns win."""
        pending = [r for r in records if r.address.get("raw") and not r.errors]
        for record, split in zip(
            pending,
            geo.split_addresses(
                [r.address["raw"] for r in pending], halfwidth_done=True
            ),
            strict=True,
        ):
            for part in ("province", "city", "district", "street", "postcode"):
                if getattr(split, part) and not record.address.get(part + "_given"):
                    # The rest of the text can be longer than its column.
                    record.address[part] = getattr(split, part)[: TEXT_TARGETS[part]]
            record.address["is_valid"] = split.found and not split.ambiguous
        for record in records:
            for part in ("province", "city", "district", "street", "postcode"):
                record.address.pop(part + "_given", None)

    @staticmethod
    def _checked(record: CustomerRecord, column: str, value: str, parse, *args) -> None:
        try:
            parse(record, *args, storable(value))
        except (normalise.NormaliseError, ClientbookError) as exc:
            record.errors.append(RowError(column, shown(value), _reason(exc)))

    def _custom(self, record: CustomerRecord, kind: str, key: str, value: str) -> None:
        field_ = self.custom_fields.get((kind, key))
        if field_ is None:
            raise normalise.NormaliseError(_("no such custom field for this kind"))
        parsed = custom_value_parse(field_, value)
        if parsed is not None:
            record.custom[key] = parsed

    def _handler(self, target: str) -> Callable[[CustomerRecord, str], None]:
        """What a cell of a column mapped to `target` does to the record."""
        prefix, _sep, rest = target.partition(":")
        if prefix == "preference":
            return lambda r, v: r.preferences.append((rest, normalise.name(v)))
        if prefix == "key_date":
            return lambda r, v: r.key_dates.append((rest, normalise.date_value(v)))
        if prefix == "consent":
            channel, _sep, purpose = rest.partition(":")
            return lambda r, v: r.consents.append(
                (channel, purpose, _consent_status(v))
            )
        if target in _ADDRESS_TARGETS:
            return functools.partial(_address_field, target=target)
        return self._profile_handler(target)

    def _profile_handler(self, target: str) -> Callable[[CustomerRecord, str], None]:
        if target == "name":
            return _set_name
        if target in ("family_name", "given_name"):
            return lambda r, v: r.name_parts.__setitem__(target, normalise.name(v))
        if target == "gender":
            return lambda r, v: r.profile.__setitem__("gender", normalise.gender(v))
        if target == "birth_date":
            return _set_birth_date
        if target in _CHOICE_TARGETS:
            choices = _CHOICE_TARGETS[target]
            return lambda r, v: r.profile.__setitem__(target, _choice(choices, v))
        if target in TEXT_TARGETS:
            limit = TEXT_TARGETS[target]
            return lambda r, v: r.profile.__setitem__(target, normalise.name(v)[:limit])
        if target == "tags":
            return _set_tags
        if target == "branch":
            return lambda r, v: setattr(r, "branch_id", self._branch(v))
        if target == "external_id":
            return _set_external_id
        if target == "phone":
            return _add_phone
        return lambda r, v: r.identifiers.append(
            (target, normalise.identifier(target, v))
        )

    def _branch(self, value: str) -> int:
        branch_id = self.branches.get(value) or self.branches.get(value.upper())
        if branch_id is None:
            raise normalise.NormaliseError(_("no such branch"))
        return branch_id


def national_id_conflicts(profile: dict, identifiers: list) -> list[tuple]:
    """Fills in the birth date and sex the row's 身份证 number holds where the
    profile has none; (target, given, number, derived) where it says
    otherwise."""
    number = next((v for t, v in identifiers if t == "national_id"), None)
    if number is None:
        return []
    holder = normalise.national_id(number)
    conflicts = []
    for target, derived in (
        ("birth_date", holder.birth_date),
        ("gender", holder.gender),
    ):
        given = profile.get(target)
        if given in (None, ""):
            profile[target] = derived
        elif given != derived:
            conflicts.append((target, given, number, derived))
    return conflicts


def storable(value: str) -> str:
    """The cell, if a database can store it: PostgreSQL's text holds no NUL
    character, and no UTF-8 text holds half of a UTF-16 surrogate pair (a
    JSON Lines file's "\\ud800" makes one); either failed the whole job."""
    if "\0" in value:
        raise normalise.NormaliseError(
            _("it holds a NUL character (shown as �), which cannot be stored")
        )
    if not value.isascii() and _SURROGATE.search(value):
        raise normalise.NormaliseError(
            _("it holds an invalid character (shown as �), which cannot be stored")
        )
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\0\ud800-\udfff]")


def shown(value: str) -> str:
    """A cell as a reject report can store and show it."""
    return _UNSTORABLE.sub("\ufffd", value)


def _full_name(family_name: str = "", given_name: str = "") -> str:
    """张 + 三 → 张三; Smith + John → John Smith."""
    if (family_name + given_name).isascii():
        return " ".join(p for p in (given_name, family_name) if p)
    return family_name + given_name


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, ClientbookError) else str(exc)


def _set_name(record: CustomerRecord, value: str) -> None:
    record.profile["name"] = normalise.name(value)[:200]


def _set_birth_date(record: CustomerRecord, value: str) -> None:
    record.profile["birth_date"] = normalise.date_value(value)


def _set_tags(record: CustomerRecord, value: str) -> None:
    record.tags = [t for t in (normalise.name(p) for p in _TAG_SPLIT.split(value)) if t]


def _set_external_id(record: CustomerRecord, value: str) -> None:
    record.external_id = normalise.halfwidth(value)[:190]


def _add_phone(record: CustomerRecord, value: str) -> None:
    number, kind = normalise.phone(value)
    record.identifiers.append((kind, number))


def _address_field(record: CustomerRecord, value: str, *, target: str) -> None:
    if target == "address":
        raw = record.address["raw"] = normalise.halfwidth(value)
        record.address.setdefault("street", raw[:300])  # as `normalise.name`
    elif target == "address_type":
        record.address["type"] = _choice(AddressType, value)
    else:
        record.address[target] = normalise.name(value)[: TEXT_TARGETS[target]]
        record.address[target + "_given"] = True


def _choice(choices, value: str) -> str:
    """A choice by its stored value or its label in any language of the product
    ("phone", "Phone", "电话"), whoever's language is active."""
    text = normalise.halfwidth(value).strip().lower()
    found = _choice_names(choices).get(text)
    if found is None:
        raise normalise.NormaliseError(_("not one of the allowed values"))
    return found


@functools.cache
def _choice_names(choices) -> dict[str, str]:
    names = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            names.update(
                {str(label).lower(): value for value, label in choices.choices}
            )
    names.update({value.lower(): value for value in choices.values})
    return names


def _consent_status(value: str) -> str:
    text = normalise.halfwidth(value).strip().lower()
    if text in _TRUE:
        return ConsentStatus.GRANTED
    if text in _FALSE:
        return ConsentStatus.WITHDRAWN
    raise normalise.NormaliseError(_("not yes or no (是/否, 1/0)"))
