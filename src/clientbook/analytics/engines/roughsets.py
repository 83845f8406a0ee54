"""Rough-set analysis of a decision table: approximations, reducts and rules.

Method: Pawlak (1982), "Rough sets", *Int. J. Computer and Information
Sciences* 11(5); Pawlak (1991), *Rough Sets: Theoretical Aspects of Reasoning
about Data*; the tutorial of Komorowski, Pawlak, Polkowski & Skowron (1999),
"Rough sets: a tutorial". Customers that agree on every (discretised)
condition attribute are indiscernible; a decision class X (say, "lapsed") is
then approximated from below by the classes wholly inside X (customers
*certainly* in X) and from above by the classes that touch X (*possibly* in
X). The boundary is the difference, accuracy = |lower| / |upper|, and the
dependency degree gamma(C, D) = |POS_C(D)| / |U| is the share of customers
whose decision the conditions determine. A reduct is a minimal attribute set
with the same dependency degree as all conditions; the core is the set of
attributes no reduct can do without (those whose removal lowers gamma).

Reducts are found exhaustively (smallest first) for up to
``ReductConfig.max_exhaustive`` attributes, and otherwise by QuickReduct, the
greedy forward search of Chouchoulas & Shen (2001), "Rough set-aided keyword
reduction for text categorization", *Applied Artificial Intelligence* 15(9),
which adds the attribute that raises gamma most until it matches gamma of all
conditions (it finds a super-reduct, then drops redundant attributes).

Rules follow Pawlak (2002), "Rough sets and intelligent data analysis",
*Information Sciences* 147: each indiscernibility class and decision value it
meets gives a rule "if conditions then decision" with support (customers
matching both), confidence (certainty factor, support / class size) and
coverage (support / decision class size). Rules from the lower approximation
have confidence 1 and are *certain*; rules from the boundary are *possible*.

Written by hand because no maintained Python library covers this: the rough
set packages on PyPI are unmaintained student projects or tied to one
research paper, and the analysis needs only group-bys on a data frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

CERTAIN = "certain"
POSSIBLE = "possible"


def indiscernibility_classes(
    frame: pd.DataFrame, attributes: Sequence[str]
) -> pd.Series:
    """Class number of each row: rows with equal values on ``attributes`` share one."""
    if not attributes:
        return pd.Series(0, index=frame.index)
    return frame.groupby(list(attributes), sort=True, dropna=False).ngroup()


@dataclass(frozen=True)
class Approximation:
    """Lower and upper approximation of one decision class, as row labels."""

    lower: pd.Index
    upper: pd.Index

    @property
    def boundary(self) -> pd.Index:
        return self.upper.difference(self.lower)

    @property
    def accuracy(self) -> float:
        """|lower| / |upper| (1 for a crisp set, 0 when nothing is certain)."""
        return len(self.lower) / len(self.upper) if len(self.upper) else 1.0


def approximate(
    frame: pd.DataFrame, attributes: Sequence[str], decision: str, value: object
) -> Approximation:
    """Lower and upper approximation of {rows with decision == value}."""
    classes = indiscernibility_classes(frame, attributes)
    member = frame[decision] == value
    share = member.groupby(classes).mean()
    row_share = classes.map(share)
    return Approximation(
        lower=frame.index[(row_share == 1).to_numpy()],
        upper=frame.index[(row_share > 0).to_numpy()],
    )


def positive_region(
    frame: pd.DataFrame, attributes: Sequence[str], decision: str
) -> pd.Index:
    """Rows whose class holds one decision value: the union of lower approximations."""
    classes = indiscernibility_classes(frame, attributes)
    consistent = frame[decision].groupby(classes).nunique(dropna=False) == 1
    return frame.index[classes.map(consistent).to_numpy(dtype=bool)]


def dependency_degree(
    frame: pd.DataFrame, attributes: Sequence[str], decision: str
) -> float:
    """gamma(attributes, decision) = |POS| / |U|."""
    if frame.empty:
        raise ValueError("the decision table is empty")
    return len(positive_region(frame, attributes, decision)) / len(frame)


@dataclass(frozen=True)
class ReductConfig:
    """Exhaustive search up to ``max_exhaustive`` attributes, QuickReduct above."""

    max_exhaustive: int = 12

    def __post_init__(self) -> None:
        if self.max_exhaustive < 0:
            raise ValueError("max_exhaustive must not be negative")


def all_reducts(
    frame: pd.DataFrame, conditions: Sequence[str], decision: str
) -> list[tuple[str, ...]]:
    """Every reduct, smallest first, by exhaustive search (2^n subsets at most).

    Subsets are tried by size; a superset of a reduct already found is not
    minimal and is skipped, and because gamma only grows with more
    attributes, any other subset reaching the full gamma is a reduct.
    """
    target = dependency_degree(frame, conditions, decision)
    found: list[tuple[str, ...]] = []
    for size in range(len(conditions) + 1):
        for subset in combinations(conditions, size):
            if any(set(r) <= set(subset) for r in found):
                continue
            if np.isclose(dependency_degree(frame, subset, decision), target):
                found.append(subset)
    return found


def quick_reduct(
    frame: pd.DataFrame, conditions: Sequence[str], decision: str
) -> tuple[str, ...]:
    """One reduct by greedy forward selection (QuickReduct), then pruning."""
    target = dependency_degree(frame, conditions, decision)
    chosen: list[str] = []
    gamma = dependency_degree(frame, chosen, decision)
    while not np.isclose(gamma, target):
        gains = {
            a: dependency_degree(frame, [*chosen, a], decision)
            for a in conditions
            if a not in chosen
        }
        best = max(gains, key=lambda a: (gains[a], -list(conditions).index(a)))
        chosen.append(best)
        gamma = gains[best]
    # greedy picks can leave an attribute that later ones made redundant
    for attribute in list(chosen):
        rest = [a for a in chosen if a != attribute]
        if np.isclose(dependency_degree(frame, rest, decision), target):
            chosen = rest
    return tuple(a for a in conditions if a in chosen)


def find_reduct(
    frame: pd.DataFrame,
    conditions: Sequence[str],
    decision: str,
    config: ReductConfig | None = None,
) -> tuple[str, ...]:
    """One reduct: the first smallest by exhaustive search, or QuickReduct's."""
    config = config or ReductConfig()
    if len(conditions) <= config.max_exhaustive:
        return all_reducts(frame, conditions, decision)[0]
    return quick_reduct(frame, conditions, decision)


def core(
    frame: pd.DataFrame, conditions: Sequence[str], decision: str
) -> tuple[str, ...]:
    """Indispensable attributes: dropping one lowers the dependency degree."""
    target = dependency_degree(frame, conditions, decision)
    return tuple(
        a
        for a in conditions
        if dependency_degree(frame, [c for c in conditions if c != a], decision)
        < target - 1e-12
    )


def decision_rules(
    frame: pd.DataFrame, attributes: Sequence[str], decision: str
) -> pd.DataFrame:
    """Certain and possible rules with support, confidence and coverage.

    Returns one row per (condition values, decision value) that occurs: the
    attribute columns, the decision column, support, confidence, coverage
    and kind (certain when confidence is 1). Sorted certain first, then by
    support.
    """
    keys = [*attributes, decision]
    counts = frame.groupby(keys, sort=True, dropna=False).size().rename("support")
    rules = counts.reset_index()
    class_size = rules.groupby(list(attributes), dropna=False)["support"].transform(
        "sum"
    )
    decision_size = rules[decision].map(frame[decision].value_counts(dropna=False))
    rules["confidence"] = rules["support"] / class_size
    rules["coverage"] = rules["support"] / decision_size
    rules["kind"] = np.where(np.isclose(rules["confidence"], 1.0), CERTAIN, POSSIBLE)
    rules = rules.sort_values(
        ["kind", "support", *keys], ascending=[True, False, *[True] * len(keys)]
    )
    return rules.reset_index(drop=True)


def discretise(values: pd.Series, bins: int = 3, labels: Sequence[str] | None = None):
    """Equal-frequency bins, for numeric attributes before rough-set analysis.

    Ranks are cut rather than values so heavy ties cannot make bin edges
    collide; ``labels`` default to "1".."bins" (low to high).
    """
    if bins < 2:
        raise ValueError("bins must be at least 2")
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(bins)]
    if len(labels) != bins:
        raise ValueError("need one label per bin")
    ranks = values.rank(method="min", pct=True)
    codes = np.minimum(np.ceil(ranks * bins).astype("int64"), bins) - 1
    return pd.Series(np.asarray(labels, dtype=object)[codes], index=values.index)
