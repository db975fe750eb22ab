"""K-means in numpy, sized for a million users, and the stable numbering of its clusters.

The clustering step of the segment stage (:mod:`adopt.audiences.segment`):
`KMeans` fits on a seeded sample of the users (k-means++ starts or the
previous run's centroids, then Lloyd iterations) and assigns every user in
chunks; `number_clusters` names the clusters ``s01..sNN`` so that a rerun on
the same or slightly changed data keeps the same ids (Hungarian matching to
the previous run's centroids with `scipy.optimize.linear_sum_assignment`).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from adopt.configs import SegmentConfig
from adopt.exceptions import NotFittedError, ParameterError

DEFAULT_K = SegmentConfig.default("k")  # segments, the segment stage's default too


class KMeans:
    """Lloyd's k-means with k-means++ starts, fitted on a sample, predicting in chunks.

    Parameters
    ----------
    k : int
        Number of clusters (at most the number of rows fitted).
    seed : int
        Seed of the sample, the k-means++ draws and the reseeding of empty clusters.
    n_init : int
        k-means++ starts; the run with the lowest inertia wins. Ignored when
        `fit` gets `init` centroids. 16, because with 4 two seeds often ended
        in optima 1-3% apart, enough for a rerun to renumber every segment
        (5 seeds on 600 users, k = 6: within 0.2% of each other with 16).
    max_iter : int
        Most Lloyd iterations per start.
    tol : float
        Stop when no centroid moves more than ``tol`` times the data's mean variance.
    sample_size : int
        Fit on at most this many rows (drawn without replacement), assign all.
    chunk_size : int
        Rows per distance block (memory: ``chunk_size * k`` floats).
    """

    def __init__(self, k: int = DEFAULT_K, *, seed: int = 0, n_init: int = 16, max_iter: int = 100,
                 tol: float = 1e-6, sample_size: int = 50_000, chunk_size: int = 65_536) -> None:
        self.k = k
        self.seed = seed
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.sample_size = sample_size
        self.chunk_size = chunk_size

    def fit(self, X: np.ndarray, init: np.ndarray | None = None) -> KMeans:
        """Fit centroids to the rows of `X`.

        Parameters
        ----------
        X : numpy.ndarray
            ``(n, d)`` rows.
        init : numpy.ndarray, optional
            ``(m, d)`` starting centroids (e.g. the previous run's); the first
            ``k`` are used and k-means++ adds the rest when ``m < k``.

        Returns
        -------
        KMeans
            self, with ``cluster_centers_`` ``(k, d)``, ``inertia_`` (on the
            fitted rows) and ``n_iter_``.
        """
        for name in ("k", "n_init", "max_iter", "sample_size", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ParameterError(f"The '{name}' parameter of KMeans must be a positive "
                                     f"integer. Got {value!r} instead.")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < self.k:
            raise ParameterError(f"The 'k' parameter of KMeans must be at most the number of "
                                 f"rows ({len(X)}). Got {self.k!r} instead.")
        rng = np.random.default_rng(self.seed)
        if len(X) > self.sample_size:
            X = X[np.sort(rng.choice(len(X), self.sample_size, replace=False))]
        scale = max(float(X.var(axis=0).mean()), 1e-12)
        best: tuple[float, np.ndarray, int] | None = None
        starts = 1 if init is not None else self.n_init
        for _ in range(starts):
            centers = self._start(X, rng, init)
            centers, inertia, n_iter = self._lloyd(X, centers, self.tol * scale)
            if best is None or inertia < best[0]:
                best = (inertia, centers, n_iter)
        assert best is not None
        self.inertia_, self.cluster_centers_, self.n_iter_ = best
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Index of the nearest centroid of each row of `X` (``(n,)`` int64)."""
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("This KMeans is not fitted yet: call fit(X) first.")
        return self._assign(np.asarray(X, dtype=np.float64), self.cluster_centers_)[0]

    def _start(self, X: np.ndarray, rng: np.random.Generator, init: np.ndarray | None
               ) -> np.ndarray:
        centers = np.empty((0, X.shape[1]))
        if init is not None:
            centers = np.asarray(init, dtype=np.float64)[: self.k].copy()
        return _kmeans_plus_plus(X, centers, self.k, rng)

    def _lloyd(self, X: np.ndarray, centers: np.ndarray, tol: float
               ) -> tuple[np.ndarray, float, int]:
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            labels, dist = self._assign(X, centers)
            new = cluster_means(X, labels, self.k, centers)
            empty = np.bincount(labels, minlength=self.k) == 0
            if empty.any():
                # an empty cluster restarts at the rows farthest from their centroids
                far = np.argsort(-dist, kind="stable")[: int(empty.sum())]
                new[empty] = X[far]
            shift = float(((new - centers) ** 2).sum(axis=1).max())
            centers = new
            if shift <= tol:
                break
        labels, dist = self._assign(X, centers)
        return centers, float(dist.sum()), n_iter

    def _assign(self, X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels = np.empty(len(X), dtype=np.int64)
        dist = np.empty(len(X))
        c_sq = (centers**2).sum(axis=1)
        for start in range(0, len(X), self.chunk_size):
            block = X[start : start + self.chunk_size]
            d = (block**2).sum(axis=1)[:, None] - 2.0 * block @ centers.T + c_sq[None, :]
            labels[start : start + len(block)] = d.argmin(axis=1)
            dist[start : start + len(block)] = np.maximum(d.min(axis=1), 0.0)
        return labels, dist


def _kmeans_plus_plus(X: np.ndarray, centers: np.ndarray, k: int, rng: np.random.Generator
                      ) -> np.ndarray:
    """Extend `centers` to `k` rows, each new one drawn with probability ~ squared distance."""
    chosen = list(centers)
    if not chosen:
        chosen.append(X[rng.integers(len(X))])
    d2 = ((X - chosen[0]) ** 2).sum(axis=1)
    for c in chosen[1:]:
        d2 = np.minimum(d2, ((X - c) ** 2).sum(axis=1))
    while len(chosen) < k:
        total = d2.sum()
        i = int(rng.choice(len(X), p=d2 / total)) if total > 0 else int(rng.integers(len(X)))
        chosen.append(X[i])
        d2 = np.minimum(d2, ((X - X[i]) ** 2).sum(axis=1))
    return np.array(chosen, dtype=np.float64)


def cluster_means(X: np.ndarray, labels: np.ndarray, k: int,
                  fallback: np.ndarray | None = None) -> np.ndarray:
    """``(k, d)`` mean row of each cluster (summed in float64); `fallback` rows for empty ones."""
    out = np.zeros((k, X.shape[1])) if fallback is None else np.array(fallback, dtype=np.float64)
    for c in range(k):
        members = X[labels == c]
        if len(members):
            out[c] = members.mean(axis=0, dtype=np.float64)
    return out


def segment_id(number: int, width: int = 2) -> str:
    """``s01``-style id of cluster `number` (1-based), zero-padded to `width` digits."""
    return f"s{number:0{width}d}"


def number_clusters(
    centers: np.ndarray,
    sizes: np.ndarray,
    previous: np.ndarray | None = None,
    previous_ids: list[str] | None = None,
) -> list[str]:
    """Stable ids for clusters: those of the previous run's nearest centroids, else new ones.

    Parameters
    ----------
    centers : numpy.ndarray
        ``(k, d)`` this run's centroids.
    sizes : numpy.ndarray
        ``(k,)`` users per cluster.
    previous : numpy.ndarray, optional
        ``(m, d)`` the previous run's centroids mapped into this run's space.
    previous_ids : list of str, optional
        Their ids (``s01``...).

    Returns
    -------
    list of str
        One id per cluster. Clusters matched to a previous centroid (Hungarian
        method on squared distances, one to one) keep its id; the others, in
        order of size (descending) then centroid, get numbers after the
        largest previous one. On a first run that gives ``s01`` to the largest
        cluster.
    """
    k = len(centers)
    ids: list[str | None] = [None] * k
    used: list[int] = []
    if previous is not None and previous_ids and len(previous):
        cost = ((centers[:, None, :] - previous[None, :, :]) ** 2).sum(axis=2)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            ids[r] = previous_ids[c]
        used = [int(p[1:]) for p in previous_ids if p[1:].isdigit()]
    order = sorted(
        (i for i in range(k) if ids[i] is None),
        key=lambda i: (-int(sizes[i]), tuple(np.round(centers[i], 12))),
    )
    last = max(used, default=0)
    width = max(2, len(str(last + len(order))))
    for step, i in enumerate(order, start=1):
        ids[i] = segment_id(last + step, width)
    return [str(i) for i in ids]
