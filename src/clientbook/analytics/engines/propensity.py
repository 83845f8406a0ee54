"""Response and churn models, the marketer's gains table, and look-alikes.

Methods and sources:

- Decision tree with the entropy (information gain) criterion, the ID3 family
  of Quinlan (1986), "Induction of decision trees", *Machine Learning* 1;
  scikit-learn's CART with ``criterion="entropy"``. Its paths are printed as
  if-then rules a marketer can read.
- Multi-layer perceptron (Rumelhart, Hinton & Williams 1986) on standardised
  features, and gradient boosting (Friedman 2001, "Greedy function
  approximation", *Ann. Statist.* 29(5); scikit-learn's histogram version).
- Evaluation: area under the ROC curve; the gains and lift table by decile
  (customers sorted by score, best first, cut into ten equal groups), the
  chart of Berry & Linoff, *Data Mining Techniques* (3rd ed., 2011), ch. 5;
  a calibration table of mean predicted probability against the observed
  rate per score bin (Niculescu-Mizil & Caruana 2005).
- Time-based split: rows are (customer, snapshot date) pairs with features
  computed as of the snapshot and the outcome observed after it; training on
  earlier snapshots and testing on later ones checks the model the way it
  will be used, on a future it has not seen.
- Look-alikes: customers who resemble the buyers of a product but have not
  bought it. ``method="model"`` fits a classifier buyers vs the rest and
  scores each non-buyer out of fold (cross-validated), so no customer is
  scored by a model that learnt their own "non-buyer" label — the
  positive-unlabelled setting of Elkan & Noto (2008). ``method="neighbours"``
  scores by mean cosine similarity to the nearest buyers in standardised
  feature space.

The best model is chosen explicitly with :func:`choose_best`, never implicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

#: Metrics for which a smaller value is better.
LOWER_IS_BETTER = frozenset({"brier"})


# --- splitting ----------------------------------------------------------------


def time_split(
    frame: pd.DataFrame, *, date_col: str, cutoff: str | pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows dated before ``cutoff`` for training, the rest for testing."""
    dates = pd.to_datetime(frame[date_col])
    cutoff = pd.Timestamp(cutoff)
    train, test = frame[dates < cutoff], frame[dates >= cutoff]
    if train.empty or test.empty:
        raise ValueError(
            f"cutoff {cutoff.date()} leaves the training or test set empty"
        )
    return train, test


# --- models -------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A named way to build an unfitted classifier."""

    name: str
    build: Callable[[], ClassifierMixin]


def entropy_tree(*, max_depth: int = 4, min_samples_leaf: int = 50, seed: int = 0):
    """ID3-style tree: information-gain splits, kept shallow so rules stay readable."""
    return DecisionTreeClassifier(
        criterion="entropy",
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        random_state=seed,
    )


def neural_network(*, hidden: tuple[int, ...] = (16,), seed: int = 0) -> Pipeline:
    """MLP on standardised features, stopped early on a validation share."""
    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=hidden,
            early_stopping=True,
            max_iter=500,
            random_state=seed,
        ),
    )


def gradient_boosting(*, seed: int = 0) -> HistGradientBoostingClassifier:
    """Histogram gradient boosting: fast on millions of rows, handles NaN."""
    return HistGradientBoostingClassifier(random_state=seed)


def default_specs(seed: int = 0) -> list[ModelSpec]:
    """The three model families the seeds name, seeded."""
    return [
        ModelSpec("entropy_tree", lambda: entropy_tree(seed=seed)),
        ModelSpec("neural_network", lambda: neural_network(seed=seed)),
        ModelSpec("gradient_boosting", lambda: gradient_boosting(seed=seed)),
    ]


@dataclass
class ModelResult:
    """A fitted model with what a registry stores about it."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    estimator: ClassifierMixin = field(repr=False)
    feature_names: list[str]
    gains: pd.DataFrame = field(repr=False)
    calibration: pd.DataFrame = field(repr=False)

    def score(self, features: pd.DataFrame) -> pd.Series:
        """Probability of the positive class for each row."""
        probability = self.estimator.predict_proba(features[self.feature_names])[:, 1]
        return pd.Series(probability, index=features.index, name=self.name)


def _plain_params(estimator: ClassifierMixin) -> dict[str, Any]:
    """Parameters that serialise to JSON (numbers, strings, tuples, None)."""
    simple = (int, float, str, bool, type(None), tuple)
    return {
        k: v
        for k, v in estimator.get_params(deep=True).items()
        if isinstance(v, simple)
    }


def evaluate(y_true, score) -> dict[str, float]:
    """AUC, top-decile lift and Brier score of scores against outcomes."""
    y = np.asarray(y_true, dtype=int)
    gains = gains_table(y, score)
    return {
        "auc": float(roc_auc_score(y, score)),
        "top_decile_lift": float(gains["lift"].iloc[0]),
        "brier": float(brier_score_loss(y, score)),
        "base_rate": float(y.mean()),
    }


def train_models(
    x_train: pd.DataFrame,
    y_train: pd.Series,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    specs: Sequence[ModelSpec] | None = None,
) -> list[ModelResult]:
    """Fit each model on the training rows and measure it on the test rows."""
    if y_train.nunique() != 2 or y_test.nunique() != 2:
        raise ValueError("the target needs both outcomes in training and test sets")
    results = []
    for spec in specs or default_specs():
        estimator = spec.build().fit(x_train, y_train)
        score = estimator.predict_proba(x_test)[:, 1]
        results.append(
            ModelResult(
                name=spec.name,
                params=_plain_params(estimator),
                metrics=evaluate(y_test, score),
                estimator=estimator,
                feature_names=list(x_train.columns),
                gains=gains_table(y_test, score),
                calibration=calibration_table(y_test, score),
            )
        )
    return results


def choose_best(results: Sequence[ModelResult], metric: str = "auc") -> ModelResult:
    """The result with the best value of ``metric``; the first one on a tie."""
    if not results:
        raise ValueError("no models to choose from")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    return max(results, key=lambda r: sign * r.metrics[metric])


# --- tables -------------------------------------------------------------------


def _ranked_groups(score, groups: int) -> np.ndarray:
    """Group 1..groups by score rank, best first; ties keep input order."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    group = np.empty(len(order), dtype="int64")
    group[order] = np.arange(len(order)) * groups // len(order) + 1
    return group


def gains_table(y_true, score, groups: int = 10) -> pd.DataFrame:
    """Gains and lift by decile (or ``groups``), best-scored customers first.

    Columns: group, customers, responders, response_rate, lift (rate over the
    overall rate), cumulative_responders, cumulative_gain (share of all
    responders reached so far) and cumulative_lift.
    """
    y = np.asarray(y_true, dtype=float)
    if len(y) < groups:
        raise ValueError("fewer rows than groups")
    frame = pd.DataFrame({"group": _ranked_groups(score, groups), "y": y})
    table = frame.groupby("group").agg(customers=("y", "size"), responders=("y", "sum"))
    base = y.mean()
    table["response_rate"] = table["responders"] / table["customers"]
    table["lift"] = table["response_rate"] / base if base else np.nan
    table["cumulative_responders"] = table["responders"].cumsum()
    table["cumulative_gain"] = table["cumulative_responders"] / y.sum() if base else 0.0
    cumulative_rate = table["cumulative_responders"] / table["customers"].cumsum()
    table["cumulative_lift"] = cumulative_rate / base if base else np.nan
    return table.reset_index()


def calibration_table(y_true, score, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed rate in equal-count score bins."""
    frame = pd.DataFrame(
        {
            "bin": bins + 1 - _ranked_groups(score, bins),
            "predicted": np.asarray(score, dtype=float),
            "observed": np.asarray(y_true, dtype=float),
        }
    )
    return (
        frame.groupby("bin")
        .agg(
            customers=("observed", "size"),
            predicted=("predicted", "mean"),
            observed=("observed", "mean"),
        )
        .reset_index()
    )


# --- readable tree rules -------------------------------------------------------


def tree_rule_data(
    tree: DecisionTreeClassifier, feature_names: Sequence[str]
) -> list[dict[str, Any]]:
    """Each leaf of a fitted tree as data, the highest positive share first.

    A rule is ``{"conditions": [{"feature", "op", "threshold"}], "p", "n"}``
    with ``op`` "<=" or ">"; p is the leaf's share of the positive class among
    the training rows that reach it, n how many rows reach it. Kept as data
    so each reader sees the rule worded in their own language.
    """
    inner = tree.tree_
    rules: list[dict[str, Any]] = []

    def walk(node: int, conditions: list[dict[str, Any]]) -> None:
        left, right = inner.children_left[node], inner.children_right[node]
        if left == right:  # a leaf
            counts = inner.value[node][0]
            rules.append(
                {
                    "conditions": conditions,
                    "p": float(counts[-1] / counts.sum()),
                    "n": int(inner.n_node_samples[node]),
                }
            )
            return
        name = str(feature_names[inner.feature[node]])
        threshold = float(inner.threshold[node])
        walk(left, [*conditions, {"feature": name, "op": "<=", "threshold": threshold}])
        walk(right, [*conditions, {"feature": name, "op": ">", "threshold": threshold}])

    walk(0, [])
    return sorted(rules, key=lambda r: -r["p"])


def tree_rules(
    tree: DecisionTreeClassifier,
    feature_names: Sequence[str],
    *,
    positive_label: str = "yes",
) -> list[str]:
    """Each leaf as "if ... and ... then <label> (p=…, n=…)", in English.

    For notebooks and logs; the pages word :func:`tree_rule_data` in the
    reader's language instead.
    """
    texts = []
    for rule in tree_rule_data(tree, feature_names):
        body = " and ".join(
            f"{c['feature']} {c['op']} {c['threshold']:.4g}" for c in rule["conditions"]
        )
        texts.append(
            f"if {body or 'always'} then {positive_label} "
            f"(p={rule['p']:.2f}, n={rule['n']})"
        )
    return texts


# --- look-alikes --------------------------------------------------------------


@dataclass(frozen=True)
class LookalikeConfig:
    """How look-alike scores are computed (see the module docstring)."""

    method: Literal["model", "neighbours"] = "model"
    folds: int = 5
    neighbours: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("model", "neighbours"):
            raise ValueError("method must be 'model' or 'neighbours'")
        if self.folds < 2 or self.neighbours < 1:
            raise ValueError("folds must be at least 2 and neighbours at least 1")


def lookalike_all(
    features: pd.DataFrame,
    bought: pd.Series,
    config: LookalikeConfig | None = None,
    *,
    model: ClassifierMixin | None = None,
) -> pd.Series:
    """How much every customer resembles the buyers, buyers included.

    The buyers' own (out-of-fold) scores show how well the features tell
    buyers apart: a gains table of these scores against ``bought``.
    """
    config = config or LookalikeConfig()
    bought = bought.reindex(features.index).fillna(False).astype(bool)
    if bought.all() or not bought.any():
        raise ValueError("need both buyers and non-buyers")
    if config.method == "model":
        score = _lookalike_model(features, bought, config, model)
    else:
        score = _lookalike_neighbours(features, bought, config)
    return pd.Series(score, index=features.index, name="lookalike")


def lookalike_scores(
    features: pd.DataFrame,
    bought: pd.Series,
    config: LookalikeConfig | None = None,
    *,
    model: ClassifierMixin | None = None,
) -> pd.Series:
    """How much each non-buyer resembles the buyers, highest first.

    Args:
        features: numeric features, one row per customer.
        bought: True for customers who bought the product, aligned on index.
        model: classifier for ``method="model"`` (gradient boosting if None).

    Returns:
        Scores for the customers who have not bought, sorted descending.
    """
    score = lookalike_all(features, bought, config, model=model)
    bought = bought.reindex(features.index).fillna(False).astype(bool)
    return score[~bought].sort_values(ascending=False, kind="stable")


def _lookalike_model(features, bought, config, model) -> np.ndarray:
    estimator = (
        clone(model) if model is not None else gradient_boosting(seed=config.seed)
    )
    folds = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
    return cross_val_predict(
        estimator, features, bought, cv=folds, method="predict_proba"
    )[:, 1]


def _lookalike_neighbours(features, bought, config) -> np.ndarray:
    z = StandardScaler().fit_transform(features)
    buyers = z[bought.to_numpy()]
    k = min(config.neighbours, len(buyers))
    index = NearestNeighbors(n_neighbors=k, metric="cosine").fit(buyers)
    distance, _ = index.kneighbors(z)
    return 1.0 - distance.mean(axis=1)
