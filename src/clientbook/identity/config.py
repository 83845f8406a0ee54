"""Typed settings of duplicate detection, read once per run (never at import)."""

from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from clientbook.errors import ValidationFailed
from clientbook.identity.errors import ErrorCode

BACKENDS = ("duckdb", "spark")


@dataclass(frozen=True)
class DedupeConfig:
    """How a run matches and what it does with what it finds.

    `backend` chooses where Splink computes: "duckdb" in this process, or
    "spark" (needs pyspark; the session comes from `SparkSession.builder`).
    Pairs at or above `auto_merge_above` are merged; pairs at or above
    `review_above` go to the review queue. `extra_fields` are keys of custom
    text fields that hold a company's own strong keys (a social security or
    loyalty number kept as a custom field): each is compared exactly and with
    one typo allowed, and blocked on.
    """

    backend: str = "duckdb"
    auto_merge_above: float = 0.99
    review_above: float = 0.80
    extra_fields: tuple[str, ...] = ()
    # Pairs sampled to estimate u; more is steadier but slower.
    u_max_pairs: float = 2e6
    # Pairs each EM pass may use (a sample of its blocked pairs).
    em_max_pairs: float = 1e6
    # The most customers one block key may hold; bigger blocks are left to
    # the other keys (pairs grow with the square of a block's size). A
    # smaller table affords bigger blocks: the cap rises until one key
    # could make `block_pairs` pairs (a block of k customers makes k²/2,
    # so N customers in blocks of k make at most N·k/2).
    block_cap: int = 100
    block_pairs: float = 2e7

    def block_cap_for(self, records: int) -> int:
        return max(self.block_cap, int(2 * self.block_pairs / max(records, 1)))

    threads: int | None = None
    # DuckDB's memory ("4GB", "512MB"…) and where it spills past it.
    memory_limit: str = "4GB"
    spill_dir: str | None = None
    seed: int = 42
    spark_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValidationFailed(
                ErrorCode.INVALID_BACKEND,
                _("Unknown matching backend “%(value)s” (use duckdb or spark).")
                % {"value": self.backend},
                field="backend",
                value=self.backend,
            )
        for name in ("auto_merge_above", "review_above"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 1:
                raise ValidationFailed(
                    ErrorCode.INVALID_THRESHOLD,
                    _("A probability threshold lies between 0 and 1."),
                    field=name,
                    value=value,
                )
        if self.review_above > self.auto_merge_above:
            raise ValidationFailed(
                ErrorCode.INVALID_THRESHOLD,
                _("The review threshold cannot lie above the merge threshold."),
                field="review_above",
                value=self.review_above,
            )

    @classmethod
    def from_settings(cls, **overrides: Any) -> "DedupeConfig":
        """Defaults, then `CLIENTBOOK["DEDUPE_*"]` settings, then `overrides`
        (None values in `overrides` are ignored)."""
        conf = settings.CLIENTBOOK
        base = cls(
            backend=conf.get("DEDUPE_BACKEND", "duckdb"),
            auto_merge_above=conf.get("DEDUPE_AUTO_MERGE_ABOVE", 0.99),
            review_above=conf.get("DEDUPE_REVIEW_ABOVE", 0.80),
            extra_fields=tuple(conf.get("DEDUPE_EXTRA_FIELDS", ())),
            memory_limit=conf.get("DEDUPE_MEMORY_LIMIT", "4GB"),
            spill_dir=str(conf.get("DEDUPE_SPILL_DIR") or "") or None,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})
