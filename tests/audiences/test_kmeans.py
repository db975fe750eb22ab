"""KMeans on seeded blobs, and the stable numbering of clusters."""

from __future__ import annotations

import numpy as np
import pytest

from adopt.audiences.kmeans import KMeans, cluster_means, number_clusters
from adopt.exceptions import NotFittedError, ParameterError


def blobs(sizes: list[int], seed: int = 0, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(len(sizes), 4))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return centers[labels] + rng.normal(scale=spread, size=(len(labels), 4)), labels


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_recovers_separated_blobs() -> None:
    X, truth = blobs([300, 200, 100, 50])
    model = KMeans(4, seed=1).fit(X)
    assert same_partition(model.predict(X), truth)
    assert model.cluster_centers_.shape == (4, 4)


def test_fit_on_a_sample_assigns_every_row_in_chunks() -> None:
    X, truth = blobs([3000, 2000, 1000], seed=2)
    model = KMeans(3, seed=0, sample_size=500, chunk_size=128).fit(X)
    labels = model.predict(X)
    assert labels.shape == (6000,)
    assert same_partition(labels, truth)
    whole = KMeans(3, seed=0, sample_size=500, chunk_size=10_000).fit(X).predict(X)
    assert np.array_equal(labels, whole)


def test_same_seed_same_result_and_warm_start_stays_put() -> None:
    X, _ = blobs([100, 100, 100], seed=3, spread=2.0)
    a = KMeans(3, seed=5).fit(X)
    b = KMeans(3, seed=5).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    warm = KMeans(3, seed=99).fit(X, init=a.cluster_centers_)
    assert np.allclose(warm.cluster_centers_, a.cluster_centers_)


def test_errors_name_the_parameter() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        KMeans(2).predict(np.zeros((3, 2)))
    with pytest.raises(ParameterError, match="'k' parameter of KMeans must be at most"):
        KMeans(5).fit(np.zeros((3, 2)))
    with pytest.raises(ParameterError, match="'n_init' parameter of KMeans"):
        KMeans(2, n_init=0).fit(np.zeros((3, 2)))


def test_cluster_means() -> None:
    X = np.array([[0.0, 2.0], [2.0, 4.0], [10.0, 10.0]])
    means = cluster_means(X, np.array([0, 0, 2]), 3)
    assert np.allclose(means, [[1.0, 3.0], [0.0, 0.0], [10.0, 10.0]])


def test_first_run_numbers_by_size() -> None:
    centers = np.array([[0.0], [1.0], [2.0]])
    assert number_clusters(centers, np.array([10, 30, 20])) == ["s03", "s01", "s02"]


def test_ids_follow_the_previous_centroids() -> None:
    rng = np.random.default_rng(0)
    previous = rng.normal(size=(5, 3))
    ids = ["s01", "s02", "s03", "s04", "s05"]
    order = np.array([3, 0, 4, 1, 2])
    moved = previous[order] + rng.normal(scale=0.01, size=(5, 3))
    assert number_clusters(moved, np.ones(5), previous, ids) == [ids[i] for i in order]


def test_new_clusters_get_numbers_after_the_last_one() -> None:
    previous = np.array([[0.0, 0.0], [10.0, 0.0]])
    centers = np.array([[10.1, 0.0], [50.0, 50.0], [0.1, 0.0], [-50.0, 0.0]])
    ids = number_clusters(centers, np.array([5, 1, 5, 9]), previous, ["s01", "s07"])
    # the two nearest keep their ids; of the new ones the larger is numbered first
    assert ids == ["s07", "s09", "s01", "s08"]


def test_fewer_clusters_keep_their_matched_ids() -> None:
    previous = np.array([[0.0], [10.0], [20.0]])
    ids = number_clusters(np.array([[19.0], [1.0]]), np.array([3, 3]), previous,
                          ["s01", "s02", "s03"])
    assert ids == ["s03", "s01"]
