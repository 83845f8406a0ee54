"""The quality rules as pure functions over plain values, so they can be
tested on hand-built records and run in bulk without one query per customer.

- completeness: the share of the configured attributes that are filled
  (the seeds' 属性丰富率);
- validity: the values that fail a check;
- grade: the postal seed's 数据分级 (一等 … 四等).
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from clientbook.customers import normalise
from clientbook.quality.config import QualityConfig

# Each attribute completeness can count, and where it lives: a profile column
# of the customer, an identifier type, or an address row.
PROFILE = "profile"
IDENTIFIER = "identifier"
ADDRESS = "address"
ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": (PROFILE, ("name",)),
    "gender": (PROFILE, ("gender",)),
    "birth_date": (PROFILE, ("birth_date",)),
    "occupation": (PROFILE, ("occupation",)),
    "employer": (PROFILE, ("employer",)),
    "position": (PROFILE, ("position",)),
    "income_band": (PROFILE, ("income_band",)),
    "mobile": (IDENTIFIER, ("mobile",)),
    "landline": (IDENTIFIER, ("landline",)),
    "phone": (IDENTIFIER, ("mobile", "landline")),
    "national_id": (IDENTIFIER, ("national_id",)),
    "email": (IDENTIFIER, ("email",)),
    "wechat": (IDENTIFIER, ("wechat",)),
    "membership": (IDENTIFIER, ("membership",)),
    "address": (ADDRESS, ()),
}
PROFILE_COLUMNS = sorted(
    {c for kind, cols in ATTRIBUTES.values() if kind == PROFILE for c in cols}
)

ATTRIBUTE_LABELS = {
    "name": _("Name"),
    "gender": _("Gender"),
    "birth_date": _("Birth date"),
    "occupation": _("Occupation"),
    "employer": _("Employer"),
    "position": _("Position"),
    "income_band": _("Income band"),
    "mobile": _("Mobile"),
    "landline": _("Landline"),
    "phone": _("Phone"),
    "national_id": _("National ID"),
    "email": _("Email"),
    "wechat": _("WeChat"),
    "membership": _("Membership number"),
    "address": _("Address"),
}

# Problem codes, by the field they concern.
ISSUE_LABELS = {
    "invalid": _("does not normalise"),
    "birth_date_mismatch": _("birth date differs from the national ID"),
    "gender_mismatch": _("gender differs from the national ID"),
    "impossible_age": _("gives an impossible age"),
    "domain_without_dot": _("domain has no dot"),
    "no_city": _("has no city"),
    "marked_invalid": _("marked invalid"),
}


@dataclass
class Record:
    """What the rules need of one customer, as plain values."""

    profile: Mapping[str, Any]
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    addresses: list[Mapping[str, Any]] = field(default_factory=list)


def filled_attributes(record: Record, names: Iterable[str]) -> tuple[list, list]:
    """(filled, missing) among the attribute `names`."""
    types = {t for t, _value in record.identifiers}
    filled, missing = [], []
    for name in names:
        kind, columns = ATTRIBUTES[name]
        if kind == PROFILE:
            ok = all(record.profile.get(c) not in (None, "") for c in columns)
        elif kind == IDENTIFIER:
            ok = any(c in types for c in columns)
        else:
            ok = bool(record.addresses)
        (filled if ok else missing).append(name)
    return filled, missing


def completeness(record: Record, config: QualityConfig) -> tuple[float, list[str]]:
    """(share of the configured attributes filled, the missing ones)."""
    filled, missing = filled_attributes(record, config.richness_fields)
    return len(filled) / len(config.richness_fields), missing


def _age(birth: dt.date, today: dt.date) -> int:
    return (
        today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    )


def validity_issues(
    record: Record, config: QualityConfig, *, today: dt.date
) -> list[tuple[str, str]]:
    """(field, problem code) for each value that fails a check, sorted."""
    issues: set[tuple[str, str]] = set()
    birth = record.profile.get("birth_date")
    gender = record.profile.get("gender") or ""
    if birth is not None and not config.min_age <= _age(birth, today) <= config.max_age:
        issues.add(("birth_date", "impossible_age"))
    for type_, value in record.identifiers:
        issues.update(_identifier_issues(type_, value, birth, gender, config))
    for address in record.addresses:
        if not address.get("is_valid", True):
            issues.add(("address", "marked_invalid"))
        elif not address.get("city"):
            issues.add(("address", "no_city"))
    return sorted(issues)


def _identifier_issues(type_, value, birth, gender, config) -> list[tuple[str, str]]:
    if type_ == "national_id":
        try:
            parsed = normalise.national_id(value)
        except normalise.NormaliseError:
            return [("national_id", "invalid")]
        found = [] if parsed.number == value else [("national_id", "invalid")]
        if birth is not None and parsed.birth_date != birth:
            found.append(("national_id", "birth_date_mismatch"))
        if gender and parsed.gender != gender:
            found.append(("national_id", "gender_mismatch"))
        return found
    if type_ == "email":
        domain = value.rpartition("@")[2]
        if "." not in domain.strip("."):
            return [("email", "domain_without_dot")]
    if config.recheck_identifiers and type_ in ("mobile", "landline", "email"):
        try:
            if normalise.identifier(type_, value) != value:
                return [(type_, "invalid")]
        except normalise.NormaliseError:
            return [(type_, "invalid")]
    return []


def grade(
    *,
    last_maintained_at: dt.datetime | None,
    selections_recent: int,
    has_past_usage: bool,
    since: dt.datetime,
    config: QualityConfig,
) -> int:
    """一等: maintained within the window and selected at least
    `grade1_selections` times in it; 二等: selected or maintained within it;
    三等: neither, but with past usage (orders, contacts); 四等: the rest."""
    maintained = last_maintained_at is not None and last_maintained_at >= since
    if maintained and selections_recent >= config.grade1_selections:
        return 1
    if maintained or selections_recent > 0:
        return 2
    if has_past_usage:
        return 3
    return 4
