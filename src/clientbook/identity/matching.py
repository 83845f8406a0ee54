"""The Splink model: comparisons, blocking, training by EM, scoring.

Plain Python over a table named `customers_input` (see `frame.py`); no
Django here. Every comparison level carries a plain label, so a pair can be
explained level by level ("birth date: exact +6.2").
"""

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import splink.comparison_level_library as cll
from django.utils.translation import gettext_noop
from splink import Linker, SettingsCreator, block_on
from splink.comparison_library import CustomComparison

logger = logging.getLogger(__name__)

# What each comparison is called on screen.
COMPARISON_LABELS = {
    "name": gettext_noop("Name"),
    "birth_date": gettext_noop("Birth date"),
    "gender": gettext_noop("Gender"),
    "national_id": gettext_noop("National ID"),
    "phone": gettext_noop("Phone"),
    "email": gettext_noop("Email"),
    "street": gettext_noop("Street"),
    "locality": gettext_noop("Province, city, district"),
    "postcode": gettext_noop("Postcode"),
}


def _level(creator, label: str, m: float):
    return creator.configure(label_for_charts=label, m_probability=m)


def _null(*columns: str):
    levels = [cll.NullLevel(c) for c in columns]
    creator = levels[0] if len(levels) == 1 else cll.And(*levels)
    return creator.configure(
        is_null_level=True, label_for_charts=gettext_noop("missing")
    )


def _else(m: float):
    return cll.ElseLevel().configure(
        label_for_charts=gettext_noop("differs"), m_probability=m
    )


def _comparison(name: str, levels: list) -> CustomComparison:
    return CustomComparison(comparison_levels=levels, output_column_name=name)


def comparisons(extra_columns: Sequence[str] = ()) -> list[CustomComparison]:
    """The comparisons, most specific level first. The m values are only
    starting points for EM (and what a tiny table is scored with)."""
    found = [
        _comparison(
            "name",
            [
                _null("name_pinyin"),
                _level(cll.ExactMatchLevel("name"), gettext_noop("exact"), 0.6),
                _level(
                    cll.ExactMatchLevel("name_pinyin"),
                    gettext_noop("same pinyin"),
                    0.15,
                ),
                _level(
                    cll.ExactMatchLevel("name_letters"),
                    gettext_noop("same letters, other order"),
                    0.05,
                ),
                _level(
                    cll.JaroWinklerLevel("name_pinyin", 0.92),
                    gettext_noop("pinyin Jaro-Winkler ≥ 0.92"),
                    0.1,
                ),
                _level(
                    cll.JaroWinklerLevel("name_pinyin", 0.8),
                    gettext_noop("pinyin Jaro-Winkler ≥ 0.8"),
                    0.05,
                ),
                _else(0.05),
            ],
        ),
        _comparison(
            "birth_date",
            [
                _null("birth_date"),
                _level(cll.ExactMatchLevel("birth_date"), gettext_noop("exact"), 0.85),
                _level(
                    cll.DamerauLevenshteinLevel("birth_date", 1),
                    gettext_noop("one digit off"),
                    0.1,
                ),
                _else(0.05),
            ],
        ),
        _comparison(
            "gender",
            [
                _null("gender"),
                _level(cll.ExactMatchLevel("gender"), gettext_noop("same"), 0.97),
                _else(0.03),
            ],
        ),
        _comparison(
            "national_id",
            [
                _null("national_id"),
                _level(cll.ExactMatchLevel("national_id"), gettext_noop("exact"), 0.9),
                _level(
                    cll.DamerauLevenshteinLevel("national_id", 2),
                    gettext_noop("one or two characters off"),
                    0.07,
                ),
                _else(0.03),
            ],
        ),
        _comparison(
            "phone",
            [
                _null("mobile", "landline"),
                _level(cll.ExactMatchLevel("mobile"), gettext_noop("same mobile"), 0.6),
                _level(
                    cll.ExactMatchLevel("landline"), gettext_noop("same landline"), 0.1
                ),
                _level(
                    cll.DamerauLevenshteinLevel("mobile", 1),
                    gettext_noop("mobile one digit off"),
                    0.1,
                ),
                _else(0.2),
            ],
        ),
        _comparison(
            "email",
            [
                _null("email"),
                _level(cll.ExactMatchLevel("email"), gettext_noop("exact"), 0.6),
                _level(
                    cll.ExactMatchLevel("email_local"),
                    gettext_noop("same name, other domain"),
                    0.15,
                ),
                _level(
                    cll.JaroWinklerLevel("email", 0.9),
                    gettext_noop("Jaro-Winkler ≥ 0.9"),
                    0.1,
                ),
                _else(0.15),
            ],
        ),
        _comparison(
            "street",
            [
                _null("street"),
                _level(cll.ExactMatchLevel("street"), gettext_noop("exact"), 0.7),
                _level(
                    cll.JaroWinklerLevel("street", 0.9),
                    gettext_noop("Jaro-Winkler ≥ 0.9"),
                    0.15,
                ),
                _level(
                    cll.JaroWinklerLevel("street", 0.7),
                    gettext_noop("Jaro-Winkler ≥ 0.7"),
                    0.05,
                ),
                _else(0.1),
            ],
        ),
        _comparison(
            "locality",
            [
                _null("city", "province"),
                _level(
                    cll.And(
                        cll.ExactMatchLevel("district"), cll.ExactMatchLevel("city")
                    ),
                    gettext_noop("same district"),
                    0.7,
                ),
                _level(cll.ExactMatchLevel("city"), gettext_noop("same city"), 0.15),
                _level(
                    cll.ExactMatchLevel("province"), gettext_noop("same province"), 0.05
                ),
                _else(0.1),
            ],
        ),
        _comparison(
            "postcode",
            [
                _null("postcode"),
                _level(cll.ExactMatchLevel("postcode"), gettext_noop("exact"), 0.85),
                _level(
                    cll.DamerauLevenshteinLevel("postcode", 1),
                    gettext_noop("one digit off"),
                    0.08,
                ),
                _else(0.07),
            ],
        ),
    ]
    for column in extra_columns:
        found.append(
            _comparison(
                column,
                [
                    _null(column),
                    _level(cll.ExactMatchLevel(column), gettext_noop("exact"), 0.85),
                    _level(
                        cll.DamerauLevenshteinLevel(column, 1),
                        gettext_noop("one character off"),
                        0.08,
                    ),
                    _else(0.07),
                ],
            )
        )
    return found


@dataclass(frozen=True)
class BlockKey:
    """One blocking rule as a column of `customers_input`: the hash of its
    parts where all are set and at most `cap` customers share it, else
    NULL (which joins nothing). A common name alone, or a common name and a
    birth year, would make blocks whose pairs grow with the square of their
    size; capping keeps the cost linear and leaves those customers to the
    narrower keys."""

    column: str
    parts: tuple[str, ...]
    # The largest block kept; None takes the run's `block_cap`.
    cap: int | None = None
    # What the customers of one block have in common, on screen.
    label: str = ""


BIRTH_YEAR = "substr(birth_date, 1, 4)"
# +86 and the first seven digits: the network and area part of a mobile.
MOBILE_PREFIX = "substr(mobile, 1, 10)"

BLOCK_KEYS = (
    # A rare name is enough on its own; a common one is not.
    BlockKey(
        "block_letters",
        ("name_letters",),
        cap=10,
        label=gettext_noop("the same name letters"),
    ),
    # The same letters (so also the same pinyin: homophones, pinyin-only
    # names; or swapped characters) born the same year (a birth date one
    # digit off stays in).
    BlockKey(
        "block_letters_year",
        ("name_letters", BIRTH_YEAR),
        label=gettext_noop("the same name letters and birth year"),
    ),
    # A typo in the given name or in the family name, same birth date.
    BlockKey(
        "block_birth_first",
        ("birth_date", "name_first"),
        label=gettext_noop("the same birth date and given name"),
    ),
    BlockKey(
        "block_birth_last",
        ("birth_date", "name_last"),
        label=gettext_noop("the same birth date and family name"),
    ),
    # No birth date on one record: the name and where the person lives. A
    # common name in one district is a crowd (a customer base is often one
    # city), so only smaller blocks of it are kept.
    BlockKey(
        "block_pinyin_place",
        ("name_pinyin", "city", "district"),
        cap=10,
        label=gettext_noop("the same name in pinyin, city and district"),
    ),
    BlockKey(
        "block_letters_street",
        ("name_letters", "street"),
        label=gettext_noop("the same name letters and street"),
    ),
    BlockKey(
        "block_street_first",
        ("street", "city", "name_first"),
        label=gettext_noop("the same street, city and given name"),
    ),
    BlockKey(
        "block_pinyin_phone",
        ("name_pinyin", MOBILE_PREFIX),
        label=gettext_noop("the same name in pinyin and mobile prefix"),
    ),
    BlockKey(
        "block_postcode_first",
        ("postcode", "name_first"),
        label=gettext_noop("the same postcode and given name"),
    ),
    BlockKey(
        "block_postcode_last",
        ("postcode", "name_last"),
        label=gettext_noop("the same postcode and family name"),
    ),
    BlockKey(
        "block_email",
        ("email_local",),
        label=gettext_noop("the same e-mail name (before the @)"),
    ),
    # Region, birth date and two of the sequence digits of a 身份证 number.
    BlockKey(
        "block_national_id",
        ("substr(national_id, 1, 14)",),
        label=gettext_noop("the same first 14 digits of the national ID"),
    ),
)


# A block key of a custom field: "the same <field>".
EXTRA_KEY_LABEL = gettext_noop("the same %(field)s")


def block_keys(extra_columns: Sequence[str] = ()) -> list[BlockKey]:
    return [*BLOCK_KEYS, *(BlockKey(f"block_{c}", (c,)) for c in extra_columns)]


def _present(key: BlockKey) -> str:
    return " AND ".join(f"({p}) IS NOT NULL" for p in key.parts)


def add_block_keys(
    con: duckdb.DuckDBPyConnection,
    *,
    extra_columns: Sequence[str] = (),
    cap: int = 100,
) -> dict[str, int]:
    """Adds the block key columns to `customers_input`; returns, per key,
    how many customers were left out of it for sitting in too big a block."""
    keys = block_keys(extra_columns)
    # hash() is unsigned 64-bit; one bit less fits Spark's BIGINT. A clash
    # only adds a pair to compare, never a match.
    hashed = ", ".join(
        f"CASE WHEN {_present(k)} THEN (hash({', '.join(k.parts)}) >> 1)::BIGINT"
        f" END AS {k.column}"
        for k in keys
    )
    con.execute(
        f"CREATE OR REPLACE TABLE customers_input AS SELECT *, {hashed}"
        " FROM customers_input"
    )
    left_out = {}
    for key in keys:
        # A grouping finds the few oversized keys; a window over every row
        # (for each key) costs far more.
        changed = con.execute(
            f"UPDATE customers_input SET {key.column} = NULL WHERE {key.column} IN"
            f" (SELECT {key.column} FROM customers_input GROUP BY 1"
            f" HAVING count(*) > {key.cap or cap})"
        ).fetchall()[0][0]
        if changed:
            left_out[key.column] = int(changed)
    return left_out


def blocking_rules(extra_columns: Sequence[str] = ()) -> list:
    """Which pairs are compared at all: those sharing at least one block key
    (see `add_block_keys`)."""
    return [block_on(k.column) for k in block_keys(extra_columns)]


# EM passes: each learns m for the comparisons its blocking does not fix.
# Both are narrow enough that a good share of their pairs are matches (the
# same name and birth date; the same street in the same city), which is
# what EM needs to find the match class rather than some other cluster.
TRAINING_RULES = [
    block_on("name_pinyin", "birth_date"),
    block_on("street", "city"),
]


@dataclass
class Scored:
    """The scored pairs as plain columns, and how to explain each one."""

    left: list[int]
    right: list[int]
    probability: list[float]
    weight: list[float]
    # comparison → the match weight of each pair on it
    weights: dict[str, list[float]]
    # comparison → [(level label, level weight)], most specific first
    levels: dict[str, list[tuple[str, float]]]
    model: dict[str, Any]

    def __len__(self) -> int:
        return len(self.left)

    def evidence(self, index: int) -> list[dict[str, Any]]:
        """One entry per comparison: the level the pair reached and its
        weight (log2 of the Bayes factor), as stored on a `DuplicatePair`.
        Splink returns the weights; without term-frequency adjustments each
        level has one weight, so the weight names the level."""
        entries = []
        for name, weights in self.weights.items():
            weight = float(weights[index])
            label = min(self.levels[name], key=lambda lw: abs(lw[1] - weight))[0]
            entries.append(
                {"comparison": name, "label": label, "weight": round(weight, 2)}
            )
        return entries


def settings_for(extra_columns: Sequence[str]) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(extra_columns),
        blocking_rules_to_generate_predictions=blocking_rules(extra_columns),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=True,
        probability_two_random_records_match=1e-4,
    )


def database_api(backend: str, con: duckdb.DuckDBPyConnection, options: dict):
    """The Splink database API and the registered input table."""
    if backend == "spark":
        from pyspark.sql import SparkSession  # optional dependency
        from splink.backends.spark import SparkAPI

        builder = SparkSession.builder
        for key, value in options.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        arrow = con.execute("SELECT * FROM customers_input").fetch_arrow_table()
        api = SparkAPI(spark_session=spark)
        return api, api.register(spark.createDataFrame(arrow.to_pandas()))
    from splink.backends.duckdb import DuckDBAPI

    api = DuckDBAPI(connection=con)
    return api, api.register("customers_input", table_name="customers_splink")


def train_and_score(
    api,
    table,
    *,
    records: int,
    threshold: float,
    extra_columns: Sequence[str] = (),
    u_max_pairs: float = 2e6,
    em_max_pairs: float = 1e6,
    seed: int = 42,
    progress: Callable[[str, float], None] | None = None,
) -> Scored:
    """Trains the model on the table itself (u by random sampling, m by EM
    over two blockings) and scores every blocked pair above `threshold`."""
    note = progress or (lambda stage, share: None)
    linker = Linker(table, settings_for(extra_columns), log_level=logging.ERROR)
    pairs = records * (records - 1) / 2
    training = linker.training
    note("training", 0.0)
    _quietly(
        linker,
        training.estimate_probability_two_random_records_match,
        [block_on("name_pinyin", "birth_date"), block_on("name_pinyin", "postcode")],
        recall=0.7,
    )
    note("training", 0.2)
    _quietly(
        linker,
        training.estimate_u_using_random_sampling,
        max_pairs=max(min(u_max_pairs, pairs), 1),
        seed=seed,
    )
    note("training", 0.4)
    for share, rule in zip((0.6, 0.8), TRAINING_RULES, strict=True):
        _quietly(
            linker,
            training.estimate_parameters_using_expectation_maximisation,
            rule,
            estimate_without_term_frequencies=True,
            # Sampling needs a probe that is noisy on small tables.
            max_pairs=em_max_pairs if records > 200_000 else None,
        )
        note("training", share)
    note("scoring", 0.0)
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    note("scoring", 0.9)
    return _scored(linker, predictions)


def _quietly(linker: Linker, method, *args, **kwargs) -> None:
    """A training step that cannot run (a tiny table has no pairs to learn
    from) leaves the model as it was rather than stopping the run; Splink
    may have half-changed the settings, so they are put back."""
    saved = copy.deepcopy(linker._settings_obj.core_model_settings)
    try:
        method(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 — Splink raises many kinds
        linker._settings_obj.core_model_settings = saved
        logger.info("dedupe: %s skipped: %s", method.__name__, exc)
        return
    # No pair on the deterministic rules gives a prior of 0, on which
    # scoring fails (log of 0): the step learnt nothing.
    prior = (
        linker._settings_obj.core_model_settings.probability_two_random_records_match
    )
    if not 0 < prior < 1:
        linker._settings_obj.core_model_settings = saved
        logger.info("dedupe: %s skipped: it found no pairs", method.__name__)


def _level_weight(level) -> float:
    if level.is_null_level:
        return 0.0
    try:
        return float(level._log2_bayes_factor)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0


def _columns(predictions, names: list[str]) -> dict[str, list]:
    """The named columns of the scored pairs as lists: on DuckDB straight
    from the table (the intermediate columns Splink keeps are never read),
    elsewhere through pandas."""
    from splink.backends.duckdb import DuckDBAPI

    if isinstance(predictions.db_api, DuckDBAPI):
        found = predictions.as_duckdbpyrelation().select(*names).fetchnumpy()
        return {n: found[n].tolist() for n in names}
    frame = predictions.as_pandas_dataframe()
    return {n: frame[n].tolist() for n in names}


def _scored(linker: Linker, predictions) -> Scored:
    comparisons_ = linker._settings_obj.comparisons
    names = [c.output_column_name for c in comparisons_]
    levels = {
        c.output_column_name: [
            (lvl.label_for_charts, _level_weight(lvl)) for lvl in c.comparison_levels
        ]
        for c in comparisons_
    }
    weights = [f"mw_{n}" for n in names]
    found = _columns(
        predictions,
        ["unique_id_l", "unique_id_r", "match_probability", "match_weight", *weights],
    )
    return Scored(
        left=[int(v) for v in found["unique_id_l"]],
        right=[int(v) for v in found["unique_id_r"]],
        probability=[float(v) for v in found["match_probability"]],
        weight=[float(v) for v in found["match_weight"]],
        weights={n: [float(v) for v in found[f"mw_{n}"]] for n in names},
        levels=levels,
        model=linker.misc.save_model_to_json(),
    )
