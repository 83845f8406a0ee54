"""K-means segments on synthetic blobs with a known truth."""

import numpy as np
import pandas as pd
import pytest
from django.utils import translation
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from clientbook.analytics.engines import clusters


def _blobs(seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    # four well separated groups of 150, 120, 90 and 60 customers; unit
    # blobs scaled per feature (age in years, orders, basket in yuan)
    points, truth = make_blobs(
        n_samples=[150, 120, 90, 60],
        centers=[[2, 2, 0.5], [4.5, 12, 0.6], [3, 6, 3], [6, 20, 4]],
        cluster_std=0.15,
        random_state=seed,
    )
    points = points * np.array([10, 1, 100])
    frame = pd.DataFrame(points, columns=["age", "frequency", "average_basket"])
    return frame, truth


def test_silhouette_recovers_k_and_assignment():
    features, truth = _blobs()
    result = clusters.cluster_customers(
        features, clusters.ClusterConfig(k_range=(2, 7))
    )
    assert result.k == 4
    assert max(result.silhouettes, key=result.silhouettes.get) == 4
    assert adjusted_rand_score(truth, result.labels) == pytest.approx(1.0)


def test_clusters_are_numbered_by_size_and_profiled():
    features, _ = _blobs()
    value = pd.Series(1.0, index=features.index)
    result = clusters.cluster_customers(
        features, clusters.ClusterConfig(k=4), value=value
    )
    profiles = result.profiles
    assert profiles["customers"].tolist() == [150, 120, 90, 60]
    assert profiles["value"].tolist() == [150.0, 120.0, 90.0, 60.0]
    assert profiles["share"].sum() == pytest.approx(1.0)
    # the 150 young, infrequent, low-basket customers are cluster 0
    with translation.override("en"):
        assert clusters.describe(result.traits[0]) == "young, infrequent, low basket"
    assert {t.feature for t in result.traits[3]} == {
        "age",
        "frequency",
        "average_basket",
    }
    assert all(t.direction == clusters.HIGH for t in result.traits[3])


def test_unknown_features_get_generic_words():
    traits = [clusters.Trait("visits", clusters.HIGH, 1.2)]
    with translation.override("en"):
        assert clusters.describe(traits) == "high visits"
        assert clusters.describe([]) == "average on every feature"


def test_same_seed_same_result_and_predict():
    features, _ = _blobs()
    config = clusters.ClusterConfig(k=4, seed=7)
    first = clusters.cluster_customers(features, config)
    second = clusters.cluster_customers(features, config)
    assert first.labels.equals(second.labels)
    assert first.predict(features).equals(first.labels)


def test_config_and_input_validation():
    with pytest.raises(ValueError):
        clusters.ClusterConfig(k=1)
    with pytest.raises(ValueError):
        clusters.ClusterConfig(k_range=(5, 3))
    features, _ = _blobs()
    features.iloc[0, 0] = np.nan
    with pytest.raises(ValueError):
        clusters.cluster_customers(features, clusters.ClusterConfig(k=2))
