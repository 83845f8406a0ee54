"""Which offer (or none) to give each customer under a budget: a genetic algorithm.

The problem: customers i, offers j, each with a response probability
p[i, j] from a model, a margin m[i, j] if the customer responds and a cost
c[j] of making the offer (paid whether or not they respond). Expected profit
of giving offer j to customer i is e[i, j] = p[i, j] x m[i, j] - c[j]. Choose
at most one offer per customer so that the total cost stays within the
budget and the total expected profit is largest. It is a multiple-choice
knapsack problem (Sinha & Zoltners 1979, *Operations Research* 27(3)), NP-hard
in general, which is where a genetic algorithm earns its place.

Genetic algorithm (Holland 1975; Goldberg 1989, *Genetic Algorithms in
Search, Optimization and Machine Learning*): a chromosome holds one gene per
customer, the offer number (0 = none). Tournament selection, uniform
crossover, random-reset mutation, elitism. Infeasible children are repaired
rather than penalised: offers are withdrawn, worst profit per unit of cost
first, until the budget holds (the usual repair for knapsack GAs, Chu &
Beasley 1998, *J. Heuristics* 4). The first population includes the greedy
solution, so with elitism the GA never ends below greedy; the rest are
random. Everything is driven by one seeded generator.

For checking and for small instances, :func:`exact_assignment` solves the
integer programme with scipy's HiGHS MILP solver and :func:`greedy_assignment`
gives the baseline: pairs by profit per unit of cost, best first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse


@dataclass(frozen=True)
class OfferProblem:
    """Expected profit e[i, j], offer costs c[j] and the budget.

    Build it with :func:`offer_problem` from model scores.
    """

    profit: np.ndarray
    cost: np.ndarray
    budget: float
    customers: pd.Index
    offers: pd.Index

    def __post_init__(self) -> None:
        if self.profit.shape != (len(self.customers), len(self.offers)):
            raise ValueError("profit must be customers x offers")
        if self.cost.shape != (len(self.offers),) or np.any(self.cost <= 0):
            raise ValueError("each offer needs a positive cost")
        if self.budget < 0:
            raise ValueError("budget must not be negative")


def offer_problem(
    probability: pd.DataFrame,
    margin: pd.DataFrame | pd.Series,
    cost: pd.Series,
    budget: float,
) -> OfferProblem:
    """Build the problem from response probabilities (customers x offers).

    Args:
        probability: p[i, j], one column per offer.
        margin: margin if the customer responds, per offer (a Series) or per
            customer and offer (a frame like ``probability``).
        cost: cost of making each offer, indexed by offer.
    """
    offers = probability.columns
    if isinstance(margin, pd.Series):
        margin_values = margin.reindex(offers).to_numpy(dtype=float)[None, :]
    else:
        margin_values = margin.reindex(
            index=probability.index, columns=offers
        ).to_numpy(dtype=float)
    costs = cost.reindex(offers).to_numpy(dtype=float)
    profit = probability.to_numpy(dtype=float) * margin_values - costs[None, :]
    return OfferProblem(profit, costs, float(budget), probability.index, offers)


@dataclass(frozen=True)
class Assignment:
    """Chosen offer number per customer (0 = none, j = offers[j - 1])."""

    genes: np.ndarray
    expected_profit: float
    spent: float

    def as_series(self, problem: OfferProblem) -> pd.Series:
        """The chosen offer per customer, None where no offer is made."""
        labels = np.array([None, *problem.offers], dtype=object)
        return pd.Series(
            labels[self.genes], index=problem.customers, name="offer", dtype=object
        )


def _padded(problem: OfferProblem) -> tuple[np.ndarray, np.ndarray]:
    """Profit and cost with a column 0 for "no offer" (profit 0, cost 0)."""
    profit = np.hstack([np.zeros((len(problem.customers), 1)), problem.profit])
    cost = np.concatenate([[0.0], problem.cost])
    return profit, cost


def _assignment(problem: OfferProblem, genes: np.ndarray) -> Assignment:
    profit, cost = _padded(problem)
    rows = np.arange(len(genes))
    return Assignment(
        genes=genes,
        expected_profit=float(profit[rows, genes].sum()),
        spent=float(cost[genes].sum()),
    )


def greedy_assignment(problem: OfferProblem) -> Assignment:
    """Baseline: profitable (customer, offer) pairs by profit per unit of cost.

    A pair is taken when its customer has no offer yet and the budget allows.
    """
    n, m = problem.profit.shape
    ratio = problem.profit / problem.cost[None, :]
    order = np.argsort(-ratio, axis=None, kind="stable")
    customers, offers = np.unravel_index(order, (n, m))
    keep = problem.profit[customers, offers] > 0
    genes = np.zeros(n, dtype="int64")
    remaining = problem.budget
    for i, j in zip(customers[keep], offers[keep], strict=True):
        if genes[i] == 0 and problem.cost[j] <= remaining + 1e-9:
            genes[i] = j + 1
            remaining -= problem.cost[j]
    return _assignment(problem, genes)


def exact_assignment(problem: OfferProblem, time_limit: float = 60.0) -> Assignment:
    """The optimum by mixed-integer programming (scipy.optimize.milp, HiGHS).

    Variables x[i, j] in {0, 1}: at most one offer per customer, total cost
    within budget, maximise total expected profit.
    """
    n, m = problem.profit.shape
    one_per_customer = sparse.kron(sparse.eye(n), np.ones((1, m)))
    budget_row = sparse.csr_matrix(np.tile(problem.cost, n))
    constraints = [
        optimize.LinearConstraint(one_per_customer, 0, 1),
        optimize.LinearConstraint(budget_row, 0, problem.budget),
    ]
    result = optimize.milp(
        -problem.profit.ravel(),
        constraints=constraints,
        integrality=np.ones(n * m),
        bounds=optimize.Bounds(0, 1),
        options={"time_limit": time_limit},
    )
    if result.x is None:
        raise RuntimeError(f"MILP found no solution: {result.message}")
    chosen = np.round(result.x).reshape(n, m)
    genes = np.where(chosen.any(axis=1), chosen.argmax(axis=1) + 1, 0)
    return _assignment(problem, genes.astype("int64"))


@dataclass(frozen=True)
class GAConfig:
    """Genetic algorithm settings.

    ``patience`` stops the search after that many generations without a
    better solution; ``mutation_rate`` defaults to 2 / customers.
    """

    population: int = 60
    generations: int = 400
    crossover_rate: float = 0.9
    mutation_rate: float | None = None
    tournament: int = 3
    elite: int = 2
    patience: int = 80
    seed: int = 0
    start_from_greedy: bool = True

    def __post_init__(self) -> None:
        if self.population < 4 or self.generations < 1:
            raise ValueError("population must be at least 4, generations at least 1")
        if not 0 <= self.crossover_rate <= 1:
            raise ValueError("crossover_rate must be in [0, 1]")
        if self.mutation_rate is not None and not 0 < self.mutation_rate <= 1:
            raise ValueError("mutation_rate must be in (0, 1]")
        if not 2 <= self.tournament <= self.population:
            raise ValueError("tournament must be between 2 and population")
        if not 0 <= self.elite < self.population:
            raise ValueError("elite must be smaller than population")
        if self.patience < 1:
            raise ValueError("patience must be at least 1")


def _repair(genes: np.ndarray, profit: np.ndarray, cost: np.ndarray, budget: float):
    """Withdraw offers, worst profit per cost first, until the budget holds.

    Offers with negative expected profit are withdrawn first of all, since
    they lose money whatever the budget.
    """
    rows = np.arange(len(genes))
    gain = profit[rows, genes]
    genes = np.where(gain < 0, 0, genes)
    spent = cost[genes].sum()
    if spent <= budget + 1e-9:
        return genes
    assigned = np.flatnonzero(genes)
    ratio = profit[assigned, genes[assigned]] / cost[genes[assigned]]
    order = assigned[np.argsort(ratio, kind="stable")]
    released = np.cumsum(cost[genes[order]])
    drop = order[: np.searchsorted(released, spent - budget - 1e-9) + 1]
    genes[drop] = 0
    return genes


def _fitness(population: np.ndarray, profit: np.ndarray) -> np.ndarray:
    return profit[np.arange(population.shape[1])[None, :], population].sum(axis=1)


def genetic_assignment(
    problem: OfferProblem, config: GAConfig | None = None
) -> Assignment:
    """Search for the most profitable assignment within budget (module docstring)."""
    config = config or GAConfig()
    rng = np.random.default_rng(config.seed)
    profit, cost = _padded(problem)
    n, choices = profit.shape
    mutation = config.mutation_rate or min(1.0, 2.0 / n)
    population = rng.integers(0, choices, size=(config.population, n))
    if config.start_from_greedy:
        population[0] = greedy_assignment(problem).genes
    population = np.array(
        [_repair(g, profit, cost, problem.budget) for g in population]
    )
    fitness = _fitness(population, profit)
    best, flat = fitness.max(), 0
    for _ in range(config.generations):
        population = _next_generation(
            population, fitness, rng, config, choices, mutation
        )
        population = np.array(
            [_repair(g, profit, cost, problem.budget) for g in population]
        )
        fitness = _fitness(population, profit)
        if fitness.max() > best + 1e-9:
            best, flat = fitness.max(), 0
        else:
            flat += 1
            if flat >= config.patience:
                break
    return _assignment(problem, population[int(np.argmax(fitness))].copy())


def _next_generation(
    population: np.ndarray,
    fitness: np.ndarray,
    rng: np.random.Generator,
    config: GAConfig,
    choices: int,
    mutation: float,
) -> np.ndarray:
    """Elites, then children of tournament winners by uniform crossover and mutation."""
    size, n = population.shape
    elite = population[np.argsort(-fitness, kind="stable")[: config.elite]]
    children = size - config.elite
    entrants = rng.integers(0, size, size=(2, children, config.tournament))
    winners = np.take_along_axis(
        entrants, fitness[entrants].argmax(axis=2)[..., None], axis=2
    )[..., 0]
    mothers, fathers = population[winners[0]], population[winners[1]]
    cross = rng.random(children) < config.crossover_rate
    take_father = (rng.random((children, n)) < 0.5) & cross[:, None]
    offspring = np.where(take_father, fathers, mothers)
    mutate = rng.random((children, n)) < mutation
    offspring[mutate] = rng.integers(0, choices, size=int(mutate.sum()))
    return np.vstack([elite, offspring])
