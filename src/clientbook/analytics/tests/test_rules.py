"""Association rules against mlxtend and arules figures; next best products by hand."""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlxtend.frequent_patterns import apriori, association_rules, fpgrowth

from clientbook.analytics.engines import rules

from .datasets import dataset


@cache
def _france_lines() -> pd.DataFrame:
    """Online Retail, France, cleaned as SOURCES.md describes the raw file.

    Cancellations (InvoiceNo starting with C) and non-positive quantities are
    dropped; the POSTAGE line is a delivery charge, not a product.
    """
    frame = pd.read_csv(
        dataset("online_retail/online_retail_uci_2010-12_2011-12.csv.gz"),
        dtype={"InvoiceNo": str, "StockCode": str},
    )
    assert len(frame) == 541_909
    keep = (
        ~frame["InvoiceNo"].str.startswith("C")
        & (frame["Quantity"] > 0)
        & (frame["Country"] == "France")
    )
    frame = frame[keep].assign(item=lambda f: f["Description"].str.strip())
    return frame[frame["item"].notna() & (frame["item"] != "POSTAGE")]


def _groceries() -> pd.DataFrame:
    lines = Path(dataset("groceries/groceries.csv")).read_text().splitlines()
    return pd.DataFrame(
        [(n, item) for n, line in enumerate(lines) for item in line.split(",")],
        columns=["basket", "item"],
    )


@pytest.fixture(scope="module")
def france() -> pd.DataFrame:
    return rules.basket_matrix(_france_lines(), basket_col="InvoiceNo", item_col="item")


def _as_comparable(frame: pd.DataFrame) -> pd.DataFrame:
    keyed = frame.assign(
        key=frame["antecedents"].map(lambda s: tuple(sorted(s)))
        + frame["consequents"].map(lambda s: ("=>", *sorted(s)))
    )
    return keyed.set_index("key").sort_index()[["support", "confidence", "lift"]]


@pytest.mark.parametrize("algorithm", ["apriori", "fpgrowth"])
def test_rules_equal_a_direct_mlxtend_call(france, algorithm):
    # given: 387 French invoices, support 3%, confidence 50%, no lift filter
    config = rules.RulesConfig(
        algorithm=algorithm, min_support=0.03, min_confidence=0.5, min_lift=0
    )
    # when
    ours = rules.mine_rules(france, config)
    find = apriori if algorithm == "apriori" else fpgrowth
    itemsets = find(france, min_support=0.03, use_colnames=True)
    direct = association_rules(
        itemsets, num_itemsets=len(france), metric="confidence", min_threshold=0.5
    )
    # then: the same rules with the same metrics
    assert france.shape[0] == 387
    assert len(ours) == len(direct) > 100
    left, right = _as_comparable(ours), _as_comparable(direct)
    assert left.index.equals(right.index)
    np.testing.assert_allclose(left.to_numpy(), right.to_numpy(), rtol=1e-12)


def test_apriori_and_fpgrowth_agree(france):
    found = [
        _as_comparable(
            rules.mine_rules(france, rules.RulesConfig(algorithm=a, min_support=0.05))
        )
        for a in ("apriori", "fpgrowth")
    ]
    assert found[0].index.equals(found[1].index)


def test_groceries_reproduces_the_463_rules_of_lantz():
    # given: arules' Groceries, support 0.006, confidence 0.25, one item on the right
    onehot = rules.basket_matrix(_groceries(), basket_col="basket", item_col="item")
    config = rules.RulesConfig(
        min_support=0.006, min_confidence=0.25, min_lift=0, single_consequent=True
    )
    # when
    found = rules.mine_rules(onehot, config)
    # then: 463 rules (Lantz, Machine Learning with R); top lift herbs => root veg
    assert onehot.shape == (9835, 169)
    assert len(found) == 463
    top = found.iloc[0]
    assert top["antecedents"] == frozenset({"herbs"})
    assert top["consequents"] == frozenset({"root vegetables"})
    assert top["support"] == pytest.approx(0.00702, abs=5e-6)
    assert top["confidence"] == pytest.approx(0.431, abs=5e-4)
    assert top["lift"] == pytest.approx(3.956, abs=5e-4)


@pytest.mark.slow
def test_groceries_low_support_gives_5668_rules():
    onehot = rules.basket_matrix(
        _groceries(), basket_col="basket", item_col="item", sparse_output=True
    )
    config = rules.RulesConfig(
        min_support=0.001, min_confidence=0.5, min_lift=0, single_consequent=True
    )
    assert len(rules.mine_rules(onehot, config)) == 5668


def test_basket_matrix_is_sorted_and_deduplicated():
    pairs = pd.DataFrame({"order": [2, 1, 1, 1], "item": ["tea", "cup", "tea", "tea"]})
    onehot = rules.basket_matrix(pairs, basket_col="order", item_col="item")
    assert onehot.index.tolist() == [1, 2]
    assert onehot.columns.tolist() == ["cup", "tea"]
    assert onehot.to_numpy().tolist() == [[True, True], [False, True]]


def test_next_best_products_by_hand():
    # given: three rules; customer 1 holds tea and cup, customer 2 holds tea
    # only, customer 3 holds pot (no rule starts from pot alone)
    mined = pd.DataFrame(
        {
            "antecedents": [
                frozenset({"tea"}),
                frozenset({"tea", "cup"}),
                frozenset({"tea"}),
            ],
            "consequents": [
                frozenset({"cup"}),
                frozenset({"pot", "tray"}),
                frozenset({"pot"}),
            ],
            "confidence": [0.5, 0.8, 0.4],
            "lift": [2.0, 3.0, 1.5],
        }
    )
    holdings = pd.DataFrame(
        {"customer_id": [1, 1, 2, 3], "item": ["tea", "cup", "tea", "pot"]}
    )
    # when
    offers = rules.next_best_products(mined, holdings, top_n=2)
    # then: customer 1 gets pot and tray from rule 2 (0.8 x 3 = 2.4 beats
    # rule 3's 0.6 for pot), ties broken by item name; customer 2 gets cup
    # (1.0) before pot (0.6); nothing for customer 3
    got = offers[["customer_id", "item", "rank", "score"]].to_numpy().tolist()
    assert got == [
        [1, "pot", 1, pytest.approx(2.4)],
        [1, "tray", 2, pytest.approx(2.4)],
        [2, "cup", 1, pytest.approx(1.0)],
        [2, "pot", 2, pytest.approx(0.6)],
    ]
    assert offers.iloc[0]["antecedents"] == frozenset({"tea", "cup"})


def test_next_best_products_in_chunks_equals_one_pass(france):
    lines = _france_lines()
    holdings = (
        lines[["CustomerID", "item"]]
        .dropna()
        .rename(columns={"CustomerID": "customer_id"})
    )
    mined = rules.mine_rules(france, rules.RulesConfig(min_support=0.04))
    whole = rules.next_best_products(mined, holdings)
    chunked = rules.next_best_products(mined, holdings, chunk_size=7)
    assert len(whole) > 0
    pd.testing.assert_frame_equal(whole, chunked)


def test_config_validation():
    with pytest.raises(ValueError):
        rules.RulesConfig(min_support=0)
    with pytest.raises(ValueError):
        rules.RulesConfig(algorithm="eclat")
