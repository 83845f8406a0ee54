"""Which value a merged customer keeps, field by field.

The rule of each profile field is written out in `RULES` below; a merge
applies them to the two records and stores what the survivor held before,
so an unmerge can put it back.

"Trust" is `privacy.Source.trust` of the source that first captured the
record; "recent" is the record's `updated_at`; a value that is set always
beats an empty one ("most complete").
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clientbook.customers import normalise
from clientbook.customers.models import Customer, LifecycleStage


@dataclass(frozen=True)
class Facts:
    """What the rules need to know beyond the record's own fields."""

    customer: Customer
    trust: int
    # From a verified national ID: the birth date and sex it encodes.
    verified_birth_date: dt.date | None = None
    verified_gender: str = ""
    completeness: int = 0


def _filled(value: Any) -> bool:
    return value not in (None, "")


def _value(facts: Facts, field: str) -> Any:
    return getattr(facts.customer, field)


def _first_filled(field: str, ordered: list[Facts]) -> Any:
    for facts in ordered:
        if _filled(_value(facts, field)):
            return _value(facts, field)
    return _value(ordered[0], field)


def _by_trust(facts: Facts) -> tuple:
    return (-facts.trust, -facts.customer.updated_at.timestamp())


def _by_recency(facts: Facts) -> tuple:
    return (-facts.customer.updated_at.timestamp(), -facts.trust)


def most_trusted(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """The set value from the more trusted source; on a tie, the newer record."""
    return _first_filled(field, sorted([survivor, duplicate], key=_by_trust))


def most_recent(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """The set value of the most recently updated record (jobs and income
    change: the newer value is the likelier one)."""
    return _first_filled(field, sorted([survivor, duplicate], key=_by_recency))


def verified_then_trusted(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """A value confirmed by a verified national ID wins (birth date and sex
    are encoded in it); otherwise the most trusted set value."""
    verified = "verified_birth_date" if field == "birth_date" else "verified_gender"
    for facts in sorted([survivor, duplicate], key=_by_trust):
        if _filled(getattr(facts, verified)):
            return getattr(facts, verified)
    return most_trusted(field, survivor, duplicate)


def name_rule(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """Most trusted source; on a tie, the name in Chinese characters over a
    romanised one ("张三" over "Zhang San"), then the newer record."""

    def key(facts: Facts) -> tuple:
        return (-facts.trust, _value(facts, "name").isascii(), *_by_trust(facts)[1:])

    return _first_filled(field, sorted([survivor, duplicate], key=key))


_ENGAGEMENT = [
    LifecycleStage.ACTIVE,
    LifecycleStage.LAPSED,
    LifecycleStage.PROSPECT,
    LifecycleStage.ARCHIVED,
]


def most_engaged(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """Active over lapsed over prospect: a customer active in either record
    is active."""
    values = [_value(survivor, field), _value(duplicate, field)]
    return min(values, key=lambda v: _ENGAGEMENT.index(v) if v in _ENGAGEMENT else 9)


def survivor_unless_empty(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """The survivor's branch and owner stay; the duplicate's fill a blank."""
    return _first_filled(field, [survivor, duplicate])


def both_notes(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """Notes are never dropped: the duplicate's follow the survivor's."""
    parts = [_value(survivor, field).strip(), _value(duplicate, field).strip()]
    kept = [p for i, p in enumerate(parts) if p and p not in parts[:i]]
    return "\n\n".join(kept)


def first_capture(field: str, survivor: Facts, duplicate: Facts) -> Any:
    """`source` and `created_at` describe the first capture: both come from
    the record created first."""
    first = min(
        [survivor, duplicate], key=lambda f: (f.customer.created_at, f.customer.pk)
    )
    return _value(first, field)


Rule = Callable[[str, Facts, Facts], Any]

# Every profile field a merge decides, and how. `kind` must already agree
# (a merge of a person with an organisation is refused); `archived_at`,
# `merged_into` and `updated_at` are lifecycle, not profile.
RULES: dict[str, Rule] = {
    "name": name_rule,
    "gender": verified_then_trusted,
    "birth_date": verified_then_trusted,
    "occupation": most_recent,
    "employer": most_recent,
    "position": most_recent,
    "income_band": most_recent,
    "lifecycle_stage": most_engaged,
    "branch_id": survivor_unless_empty,
    "owner_id": survivor_unless_empty,
    "notes": both_notes,
    "source_id": first_capture,
    "created_at": first_capture,
}


def survivor_values(survivor: Facts, duplicate: Facts) -> dict[str, Any]:
    """The fields of the survivor that the merge changes, with their new values."""
    changes = {}
    for field, rule in RULES.items():
        value = rule(field, survivor, duplicate)
        if value != getattr(survivor.customer, field):
            changes[field] = value
    if "name" in changes:
        pinyin, initials = normalise.name_keys(changes["name"])
        changes.update(name_pinyin=pinyin, name_initials=initials)
    return changes


def survivor_key(facts: Facts) -> tuple:
    """Sorts the best record first: the more trusted source, then the more
    complete record, then the one created first."""
    return (
        -facts.trust,
        -facts.completeness,
        facts.customer.created_at,
        facts.customer.pk,
    )


def survivor_order(a: Facts, b: Facts) -> tuple[Facts, Facts]:
    """(survivor, duplicate): the more trusted source, then the more complete
    record, then the one created first."""
    first, second = sorted([a, b], key=survivor_key)
    return first, second
