"""Analytics engines: plain Python over data frames and Ibis tables.

Each module is about one method and can be imported and tested without Django:

- :mod:`.clv` — BG/NBD and Gamma-Gamma customer lifetime value.
- :mod:`.rfm` — recency, frequency, monetary scores and named cells.
- :mod:`.value` — revenue, cost, margin, the Pareto curve and value tiers.
- :mod:`.rules` — association rules (Apriori, FP-growth) and next best products.
- :mod:`.roughsets` — rough-set approximations, reducts and rules.
- :mod:`.clusters` — K-means segments described in plain words.
- :mod:`.propensity` — response and churn models, gains and look-alikes.
- :mod:`.offers` — a genetic algorithm that assigns offers under a budget.
- :mod:`.features` — the per-customer feature table as Ibis expressions.
"""
