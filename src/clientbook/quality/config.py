"""The data quality settings, typed: `settings.CLIENTBOOK["QUALITY"]`.

Keys are the field names below (upper or lower case), e.g.::

    CLIENTBOOK = {"QUALITY": {"VERIFICATION_SHARE": 0.05, "GRADE1_SELECTIONS": 4}}

Read once per run through `quality_config()`, never at import time.
"""

from dataclasses import dataclass, fields, replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The attributes completeness (属性丰富率) can count; see rules.ATTRIBUTES.
DEFAULT_RICHNESS = (
    "name",
    "gender",
    "birth_date",
    "mobile",
    "national_id",
    "email",
    "address",
    "occupation",
    "employer",
    "income_band",
)

# Audit actions that count as maintenance of a record: a staff change, an
# import that updated it, a new or verified identifier or address, and a
# verification confirmed in the quality task list.
DEFAULT_MAINTENANCE_ACTIONS = (
    "customer.update",
    "customer.import_update",
    "customer.verify",
    "identifier.add",
    "identifier.verify",
    "address.add",
    "address.update",
    "preference.set",
    "key_date.add",
    "consent.record",
)


@dataclass(frozen=True)
class QualityConfig:
    """What counts, and the thresholds of the grades (postal seed: 一等 … 四等)."""

    richness_fields: tuple[str, ...] = DEFAULT_RICHNESS
    maintenance_actions: tuple[str, ...] = DEFAULT_MAINTENANCE_ACTIONS
    # "Within a year" of the grade rules, in days, for maintenance and selection.
    window_days: int = 365
    # Grade 1 needs this many selections within the window (seed: 3).
    grade1_selections: int = 3
    # Share of each branch's live records proposed for checking each month.
    verification_share: float = 0.08
    # Ages outside this range make a birth date impossible.
    min_age: int = 0
    max_age: int = 120
    # Identifiers are normalised again to catch rules that have since tightened.
    recheck_identifiers: bool = True
    # Customers per chunk of the bulk computation.
    chunk_size: int = 2000
    # Added to the month in the rotation's tie-break, to vary it per installation.
    rotation_seed: int = 0
    # Days of snapshots the dashboard's trend shows.
    trend_days: int = 90

    def __post_init__(self) -> None:
        from clientbook.quality.rules import ATTRIBUTES

        unknown = sorted(set(self.richness_fields) - set(ATTRIBUTES))
        if unknown or not self.richness_fields:
            raise ImproperlyConfigured(
                f"QUALITY.RICHNESS_FIELDS: unknown or empty attributes {unknown}; "
                f"choose from {sorted(ATTRIBUTES)}"
            )
        if not 0 < self.verification_share <= 1:
            raise ImproperlyConfigured("QUALITY.VERIFICATION_SHARE must be in (0, 1]")
        if self.window_days < 1 or self.grade1_selections < 1:
            raise ImproperlyConfigured(
                "QUALITY.WINDOW_DAYS and QUALITY.GRADE1_SELECTIONS must be ≥ 1"
            )
        if not 0 <= self.min_age < self.max_age:
            raise ImproperlyConfigured("QUALITY.MIN_AGE must be below MAX_AGE")
        if self.chunk_size < 1:
            raise ImproperlyConfigured("QUALITY.CHUNK_SIZE must be ≥ 1")

    def with_(self, **changes: Any) -> "QualityConfig":
        return replace(self, **changes)


_NAMES = {f.name for f in fields(QualityConfig)}


def quality_config(overrides: dict[str, Any] | None = None) -> QualityConfig:
    """The configuration from settings, with `overrides` on top."""
    raw = dict(getattr(settings, "CLIENTBOOK", {}).get("QUALITY", {}))
    raw.update(overrides or {})
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.lower()
        if name not in _NAMES:
            raise ImproperlyConfigured(f"CLIENTBOOK['QUALITY'] has no key {key!r}")
        if name in ("richness_fields", "maintenance_actions"):
            value = tuple(value)
        values[name] = value
    return QualityConfig(**values)
