"""Association rules over baskets and per-customer "next best product" offers.

Methods and sources:

- Apriori: Agrawal & Srikant (1994), "Fast Algorithms for Mining Association
  Rules", VLDB. FP-growth: Han, Pei & Yin (2000), "Mining Frequent Patterns
  without Candidate Generation", SIGMOD. Both come from mlxtend
  (``mlxtend.frequent_patterns``); they find the same frequent itemsets, and
  FP-growth is usually faster. For a rule A => C: support = P(A and C),
  confidence = P(C | A), lift = confidence / P(C) (mlxtend's definitions).
- A "basket" is whatever groups items: an order (market-basket analysis) or
  a customer (the set of categories they ever bought, for cross-selling).
- Next best product: a customer *holds* a rule when they hold every item of
  its antecedent; each item of the consequent they do not hold yet is a
  candidate, scored confidence x lift of the rule (confidence is the chance
  they buy it, lift discounts items that sell well to everyone anyway). An
  item suggested by several rules keeps its best score and the rule behind
  it, so the offer can say "because you bought ...".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from mlxtend.frequent_patterns import apriori, association_rules, fpgrowth
from scipy import sparse

RULE_METRICS = [
    "antecedent support",
    "consequent support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
]


@dataclass(frozen=True)
class RulesConfig:
    """Thresholds and algorithm for :func:`mine_rules`.

    ``single_consequent`` keeps only rules with one item on the right, the
    shape R's arules produces (and the shape published rule counts use).
    """

    algorithm: Literal["fpgrowth", "apriori"] = "fpgrowth"
    min_support: float = 0.01
    min_confidence: float = 0.5
    min_lift: float = 1.0
    max_len: int | None = None
    single_consequent: bool = False

    def __post_init__(self) -> None:
        if self.algorithm not in ("fpgrowth", "apriori"):
            raise ValueError("algorithm must be 'fpgrowth' or 'apriori'")
        if not 0 < self.min_support <= 1:
            raise ValueError("min_support must be in (0, 1]")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError("min_confidence must be in [0, 1]")
        if self.min_lift < 0:
            raise ValueError("min_lift must not be negative")
        if self.max_len is not None and self.max_len < 2:
            raise ValueError("max_len must be at least 2")


def basket_matrix(
    pairs: pd.DataFrame,
    *,
    basket_col: str,
    item_col: str,
    sparse_output: bool = False,
) -> pd.DataFrame:
    """One-hot basket x item frame (True where the basket holds the item).

    Args:
        pairs: one row per (basket, item) occurrence; duplicates are fine.
        sparse_output: return a sparse boolean frame, which mlxtend accepts,
            for many baskets and items.

    Rows and columns are sorted, so the same input gives the same frame.
    """
    clean = pairs[[basket_col, item_col]].dropna()
    baskets, basket_ids = pd.factorize(clean[basket_col], sort=True)
    items, item_ids = pd.factorize(clean[item_col].astype(str), sort=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(clean), dtype=bool), (baskets, items)),
        shape=(len(basket_ids), len(item_ids)),
        dtype=bool,
    )
    index = pd.Index(basket_ids, name=basket_col)
    columns = pd.Index(item_ids, name=item_col)
    if sparse_output:
        frame = pd.DataFrame.sparse.from_spmatrix(matrix, index=index, columns=columns)
        return frame.astype(pd.SparseDtype(bool, False))
    return pd.DataFrame(matrix.toarray(), index=index, columns=columns)


def frequent_itemsets(onehot: pd.DataFrame, config: RulesConfig) -> pd.DataFrame:
    """Frequent itemsets (support, itemsets) with the configured algorithm."""
    find = fpgrowth if config.algorithm == "fpgrowth" else apriori
    return find(
        onehot,
        min_support=config.min_support,
        use_colnames=True,
        max_len=config.max_len,
    )


def mine_rules(onehot: pd.DataFrame, config: RulesConfig | None = None) -> pd.DataFrame:
    """Association rules with support, confidence, lift, leverage and conviction.

    Returns a frame with ``antecedents`` and ``consequents`` (frozensets of
    items) and the metrics in snake_case, sorted by lift, then confidence,
    then the items, so the order is reproducible.
    """
    config = config or RulesConfig()
    itemsets = frequent_itemsets(onehot, config)
    columns = ["antecedents", "consequents", *_snake(RULE_METRICS)]
    if itemsets.empty:
        return pd.DataFrame(columns=columns)
    rules = association_rules(
        itemsets,
        num_itemsets=len(onehot),
        metric="confidence",
        min_threshold=config.min_confidence,
        return_metrics=RULE_METRICS,
    )
    rules = rules[rules["lift"] >= config.min_lift]
    if config.single_consequent:
        rules = rules[rules["consequents"].map(len) == 1]
    rules = rules.rename(
        columns=dict(zip(RULE_METRICS, _snake(RULE_METRICS), strict=True))
    )
    return _sorted(rules[columns])


def _snake(names: list[str]) -> list[str]:
    return [name.replace(" ", "_") for name in names]


def _sorted(rules: pd.DataFrame) -> pd.DataFrame:
    keys = rules.assign(
        _a=rules["antecedents"].map(lambda s: sorted(map(str, s))).map(tuple),
        _c=rules["consequents"].map(lambda s: sorted(map(str, s))).map(tuple),
    )
    keys = keys.sort_values(
        ["lift", "confidence", "_a", "_c"], ascending=[False, False, True, True]
    )
    return keys.drop(columns=["_a", "_c"]).reset_index(drop=True)


def _rule_matrix(
    itemsets: pd.Series, items: pd.Index
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Rule x item indicator matrix of the given itemsets, and each set's size."""
    exploded = itemsets.explode()
    known = exploded.isin(items)
    rows = np.arange(len(itemsets)).repeat(itemsets.map(len).to_numpy())[
        known.to_numpy()
    ]
    cols = items.get_indexer(exploded[known])
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (rows, cols)),
        shape=(len(itemsets), len(items)),
    )
    return matrix, itemsets.map(len).to_numpy()


def next_best_products(
    rules: pd.DataFrame,
    holdings: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    item_col: str = "item",
    top_n: int = 3,
    chunk_size: int = 100_000,
) -> pd.DataFrame:
    """Recommend to each customer the items the rules say they will buy next.

    Args:
        rules: output of :func:`mine_rules`.
        holdings: one row per (customer, item) the customer already has.
        top_n: how many recommendations per customer at most.
        chunk_size: customers handled at a time, which bounds memory.

    Returns:
        Rows (customer, item, rank, score, confidence, lift, antecedents),
        rank 1 the best; customers no rule applies to are absent.
    """
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    columns = [
        customer_col,
        item_col,
        "rank",
        "score",
        "confidence",
        "lift",
        "antecedents",
    ]
    if rules.empty or holdings.empty:
        return pd.DataFrame(columns=columns)
    held = holdings[[customer_col, item_col]].dropna().drop_duplicates()
    held = held.assign(**{item_col: held[item_col].astype(str)})
    rules = rules.reset_index(drop=True)
    items = pd.Index(
        sorted(set(held[item_col]) | {str(i) for s in rules["antecedents"] for i in s})
    )
    antecedents, sizes = _rule_matrix(
        rules["antecedents"].map(lambda s: [str(i) for i in s]), items
    )
    offers = _rule_offers(rules, item_col)
    customers, customer_ids = pd.factorize(held[customer_col], sort=True)
    owned = sparse.csr_matrix(
        (
            np.ones(len(held), dtype=np.int32),
            (customers, items.get_indexer(held[item_col])),
        ),
        shape=(len(customer_ids), len(items)),
    )
    parts = [
        _chunk_candidates(owned[start : start + chunk_size], start, antecedents, sizes)
        for start in range(0, len(customer_ids), chunk_size)
    ]
    pairs = pd.concat(parts, ignore_index=True)
    candidates = pairs.merge(offers, on="rule")
    candidates[customer_col] = customer_ids[candidates["customer"].to_numpy()]
    candidates = candidates.merge(
        held, on=[customer_col, item_col], how="left", indicator=True
    )
    candidates = candidates[candidates["_merge"] == "left_only"]
    return _rank(candidates, customer_col, item_col, top_n)[columns]


def _rule_offers(rules: pd.DataFrame, item_col: str) -> pd.DataFrame:
    """One row per (rule, consequent item) with the rule's score."""
    offers = pd.DataFrame(
        {
            "rule": rules.index,
            item_col: rules["consequents"].map(lambda s: sorted(map(str, s))),
            "confidence": rules["confidence"],
            "lift": rules["lift"],
            "antecedents": rules["antecedents"],
        }
    ).explode(item_col)
    offers["score"] = offers["confidence"] * offers["lift"]
    return offers


def _chunk_candidates(
    owned: sparse.csr_matrix, offset: int, antecedents: sparse.csr_matrix, sizes
) -> pd.DataFrame:
    """(customer, rule) pairs where the customer holds the whole antecedent."""
    overlap = (owned @ antecedents.T).tocoo()
    complete = overlap.data == sizes[overlap.col]
    return pd.DataFrame(
        {"customer": overlap.row[complete] + offset, "rule": overlap.col[complete]}
    )


def _rank(
    candidates: pd.DataFrame, customer_col: str, item_col: str, top_n: int
) -> pd.DataFrame:
    """Best rule per (customer, item), then the top items per customer."""
    ordered = candidates.sort_values(
        [customer_col, "score", "confidence", item_col, "rule"],
        ascending=[True, False, False, True, True],
        kind="stable",
    )
    best = ordered.drop_duplicates([customer_col, item_col])
    best = best.assign(rank=best.groupby(customer_col).cumcount() + 1)
    return best[best["rank"] <= top_n].reset_index(drop=True)
