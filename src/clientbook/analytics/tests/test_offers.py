"""The offer GA against the exact MILP optimum and the greedy baseline."""

import itertools

import numpy as np
import pandas as pd
import pytest

from clientbook.analytics.engines import offers


def _random_problem(customers: int, offer_count: int, seed: int, share: float):
    rng = np.random.default_rng(seed)
    names = [f"offer{j}" for j in range(offer_count)]
    probability = pd.DataFrame(
        rng.beta(2, 8, size=(customers, offer_count)), columns=names
    )
    margin = pd.Series(rng.uniform(20, 120, offer_count), index=names)
    cost = pd.Series(rng.uniform(2, 12, offer_count), index=names)
    # the budget covers only part of what would be worth offering
    budget = share * customers * cost.mean()
    return offers.offer_problem(probability, margin, cost, budget)


def _brute_force(problem: offers.OfferProblem) -> float:
    profit, cost = offers._padded(problem)
    best = 0.0
    n, choices = profit.shape
    for genes in itertools.product(range(choices), repeat=n):
        genes = np.array(genes)
        if cost[genes].sum() <= problem.budget + 1e-9:
            best = max(best, profit[np.arange(n), genes].sum())
    return best


def test_offer_problem_expected_profit_by_hand():
    probability = pd.DataFrame({"tea": [0.1, 0.5], "cup": [0.2, 0.0]}, index=["a", "b"])
    problem = offers.offer_problem(
        probability,
        margin=pd.Series({"tea": 100.0, "cup": 30.0}),
        cost=pd.Series({"tea": 2.0, "cup": 1.0}),
        budget=2.0,
    )
    # e = p x margin - cost
    assert problem.profit.tolist() == [[8.0, 5.0], [48.0, -1.0]]
    # budget 2: tea to b (48) beats tea to a (8) or cup to a (5)
    exact = offers.exact_assignment(problem)
    assert exact.as_series(problem).to_dict() == {"a": None, "b": "tea"}
    assert exact.expected_profit == 48.0


def test_exact_solver_equals_brute_force():
    problem = _random_problem(customers=7, offer_count=2, seed=3, share=0.4)
    exact = offers.exact_assignment(problem)
    assert exact.expected_profit == pytest.approx(_brute_force(problem))
    assert exact.spent <= problem.budget + 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ga_reaches_99_percent_of_the_optimum(seed):
    # given: 40 customers, 3 offers, budget for about a third of them
    problem = _random_problem(customers=40, offer_count=3, seed=seed, share=0.35)
    exact = offers.exact_assignment(problem)
    # when: the GA starts from random solutions only, so it earns its result
    config = offers.GAConfig(seed=seed, start_from_greedy=False)
    found = offers.genetic_assignment(problem, config)
    # then
    assert found.spent <= problem.budget + 1e-9
    assert found.expected_profit >= 0.99 * exact.expected_profit


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_ga_is_never_worse_than_greedy(seed):
    # the GA's first population holds the greedy solution and elitism keeps
    # the best, so the tolerance is zero by construction
    problem = _random_problem(customers=300, offer_count=4, seed=seed, share=0.2)
    greedy = offers.greedy_assignment(problem)
    found = offers.genetic_assignment(problem, offers.GAConfig(seed=seed))
    assert found.spent <= problem.budget + 1e-9
    assert found.expected_profit >= greedy.expected_profit - 1e-9


def test_ga_beats_greedy_where_the_ratio_misleads():
    # given: budget 10; offer "small" costs 1 and earns 2 (ratio 2), offer
    # "big" costs 10 and earns 15 (ratio 1.5) on the same customer... greedy
    # takes small for everyone first and then cannot afford big anywhere
    probability = pd.DataFrame({"small": [1.0, 1.0], "big": [1.0, 0.0]})
    problem = offers.offer_problem(
        probability,
        margin=pd.Series({"small": 3.0, "big": 25.0}),
        cost=pd.Series({"small": 1.0, "big": 10.0}),
        budget=10.0,
    )
    greedy = offers.greedy_assignment(problem)
    found = offers.genetic_assignment(problem, offers.GAConfig(seed=0))
    exact = offers.exact_assignment(problem)
    assert greedy.expected_profit == 4.0
    assert exact.expected_profit == 15.0
    assert found.expected_profit == 15.0


def test_same_seed_same_answer():
    problem = _random_problem(customers=50, offer_count=3, seed=5, share=0.3)
    config = offers.GAConfig(seed=11)
    first = offers.genetic_assignment(problem, config)
    second = offers.genetic_assignment(problem, config)
    assert np.array_equal(first.genes, second.genes)


def test_config_validation():
    with pytest.raises(ValueError):
        offers.GAConfig(population=2)
    with pytest.raises(ValueError):
        offers.GAConfig(mutation_rate=0)
