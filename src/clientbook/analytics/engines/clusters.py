"""Customer segments by K-means, described in plain words.

Method: K-means (Lloyd 1982; k-means++ seeding, Arthur & Vassilvitskii 2007,
as implemented by scikit-learn) on features standardised to mean 0 and
standard deviation 1, so that no feature dominates by its unit. When k is not
given it is chosen by the mean silhouette coefficient (Rousseeuw 1987,
"Silhouettes: a graphical aid to the interpretation and validation of cluster
analysis", *J. Comput. Appl. Math.* 20), computed on a seeded sample for large
data.

A cluster is described by the z-scores of its mean: each feature whose mean
lies at least ``trait_threshold`` standard deviations above or below the
average gives a word ("frequent", "young", "mostly online"), the strongest
first. Words come from translatable templates (:data:`TRAIT_WORDS`, or a
generic "high <feature>" / "low <feature>"), and the traits are kept as data
so each user sees them in their own language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

if TYPE_CHECKING:  # scikit-learn is imported where it is used: it is slow to load
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

LOW = "low"
HIGH = "high"

#: (word when low, word when high) for the usual feature-table columns.
TRAIT_WORDS = {
    "recency": (_("recent"), _("lapsing")),
    "frequency": (_("infrequent"), _("frequent")),
    "monetary": (_("low spend"), _("high spend")),
    "average_basket": (_("low basket"), _("high basket")),
    "margin": (_("low margin"), _("high margin")),
    "tenure": (_("new"), _("long-standing")),
    "age": (_("young"), _("older")),
    "online_share": (_("mostly in store"), _("mostly online")),
    "complaints": (_("few complaints"), _("many complaints")),
    "interactions": (_("rarely in touch"), _("often in touch")),
}


@dataclass(frozen=True)
class ClusterConfig:
    """K-means settings; ``k=None`` chooses k in ``k_range`` by silhouette."""

    k: int | None = None
    k_range: tuple[int, int] = (2, 8)
    seed: int = 0
    n_init: int = 10
    silhouette_sample: int = 10_000
    trait_threshold: float = 0.5
    max_traits: int = 4

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 2:
            raise ValueError("k must be at least 2")
        low, high = self.k_range
        if not 2 <= low <= high:
            raise ValueError("k_range must satisfy 2 <= low <= high")
        if self.silhouette_sample < 10:
            raise ValueError("silhouette_sample must be at least 10")
        if self.trait_threshold <= 0 or self.max_traits < 1:
            raise ValueError("trait_threshold and max_traits must be positive")


@dataclass(frozen=True)
class Trait:
    """A feature on which a cluster stands out, and in which direction."""

    feature: str
    direction: str
    z: float


@dataclass
class ClusterResult:
    """Labels, the chosen k, silhouettes tried, centres in z units and profiles."""

    labels: pd.Series
    k: int
    silhouettes: dict[int, float]
    centers: pd.DataFrame
    traits: dict[int, list[Trait]]
    profiles: pd.DataFrame
    model: KMeans = field(repr=False)
    scaler: StandardScaler = field(repr=False)
    #: K-means' own cluster number -> this result's number (largest first)
    relabel: np.ndarray = field(repr=False)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Cluster of new customers (same feature columns), numbered as here."""
        raw = self.model.predict(self.scaler.transform(features[self.centers.columns]))
        return pd.Series(self.relabel[raw], index=features.index, name="cluster")


def _fit(z: np.ndarray, k: int, config: ClusterConfig) -> KMeans:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=config.n_init, random_state=config.seed).fit(z)


def _choose_k(z: np.ndarray, config: ClusterConfig) -> tuple[int, dict[int, float]]:
    from sklearn.metrics import silhouette_score

    low, high = config.k_range
    high = min(high, len(z) - 1)
    if high < low:
        raise ValueError("too few customers for the k range")
    sample = min(config.silhouette_sample, len(z))
    scores = {
        k: float(
            silhouette_score(
                z,
                _fit(z, k, config).labels_,
                sample_size=sample,
                random_state=config.seed,
            )
        )
        for k in range(low, high + 1)
    }
    return max(scores, key=lambda k: (scores[k], -k)), scores


def cluster_traits(
    centers: pd.DataFrame, config: ClusterConfig
) -> dict[int, list[Trait]]:
    """Features on which each cluster's mean stands out, strongest first."""
    traits: dict[int, list[Trait]] = {}
    for cluster, row in centers.iterrows():
        strong = row[row.abs() >= config.trait_threshold]
        strong = strong.reindex(strong.abs().sort_values(ascending=False).index)
        traits[int(cluster)] = [
            Trait(str(feature), HIGH if z > 0 else LOW, float(z))
            for feature, z in strong.head(config.max_traits).items()
        ]
    return traits


def describe(traits: list[Trait], words: Mapping[str, tuple] | None = None) -> str:
    """Plain-word description of a cluster in the active language."""
    words = TRAIT_WORDS if words is None else words
    if not traits:
        return str(_("average on every feature"))
    parts = []
    for trait in traits:
        if trait.feature in words:
            low, high = words[trait.feature]
            parts.append(str(high if trait.direction == HIGH else low))
        elif trait.direction == HIGH:
            parts.append(str(_("high %(feature)s") % {"feature": trait.feature}))
        else:
            parts.append(str(_("low %(feature)s") % {"feature": trait.feature}))
    return pgettext("list separator", ", ").join(parts)


def cluster_customers(
    features: pd.DataFrame,
    config: ClusterConfig | None = None,
    *,
    value: pd.Series | None = None,
    words: Mapping[str, tuple] | None = None,
) -> ClusterResult:
    """Segment customers by K-means and profile each segment.

    Args:
        features: numeric columns, one row per customer, no missing values.
        value: a money figure per customer (profit, CLV) summed per cluster.

    Clusters are renumbered by size, largest first, so results are stable.
    """
    config = config or ClusterConfig()
    if features.isna().to_numpy().any():
        raise ValueError("features contain missing values; impute them first")
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    z = scaler.transform(features)
    if config.k is not None:
        k, silhouettes = config.k, {}
    else:
        k, silhouettes = _choose_k(z, config)
    model = _fit(z, k, config)
    sizes = np.bincount(model.labels_, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(k, dtype="int64")
    relabel[order] = np.arange(k)
    labels = pd.Series(relabel[model.labels_], index=features.index, name="cluster")
    zframe = pd.DataFrame(z, index=features.index, columns=features.columns)
    centers = zframe.groupby(labels.to_numpy()).mean().sort_index()
    traits = cluster_traits(centers, config)
    profiles = _profiles(labels, traits, value, words)
    return ClusterResult(
        labels, k, silhouettes, centers, traits, profiles, model, scaler, relabel
    )


def _profiles(
    labels: pd.Series,
    traits: dict[int, list[Trait]],
    value: pd.Series | None,
    words: Mapping[str, tuple] | None,
) -> pd.DataFrame:
    counts = labels.value_counts().sort_index()
    profiles = pd.DataFrame({"customers": counts, "share": counts / counts.sum()})
    if value is not None:
        grouped = value.reindex(labels.index).groupby(labels)
        profiles["value"] = grouped.sum()
        profiles["value_mean"] = grouped.mean()
    profiles["description"] = [describe(traits[c], words) for c in profiles.index]
    profiles.index.name = "cluster"
    return profiles.reset_index()
