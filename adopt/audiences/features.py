"""The user feature matrix that k-means segments: profile behaviour, category affinity, interests.

Sits between the marts (``user_profiles``, and the ``embeddings`` tables when
``adopt embed`` has run) and the clustering in :mod:`adopt.audiences.kmeans`.

Each user gets a *raw* row in three blocks:

- ``behaviour``: log impressions, smoothed CTR and CVR, log frequency, log
  monetary, recency as ``exp(-recency_days / 30)`` (0 when never active), log
  active days;
- ``affinity``: the user's share of each category (``cat:<name>``, the most
  common categories only);
- ``interest``: the user interest text's embedding (``emb:<i>``; users without
  a vector get the mean vector).

Every step from raw to the clustered space is affine (z-scores in the
behaviour block, centring in the affinity block, a PCA projection of the
interest block, then one weight per block so that each block carries a fixed
share of the total variance). So a centroid stored in raw space (the mean raw
row of a segment) maps exactly into the next run's space: that is how segment
ids stay stable between runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from adopt.warehouse import has_table

log = logging.getLogger("adopt")

BEHAVIOUR = (
    "log_impressions", "ctr", "cvr", "log_frequency", "log_monetary", "recency", "log_active_days",
)
# Share of the total variance each block carries in the clustered space. Interests
# dominate: the optimizer needs segments that answer differently to different ads.
# Demo world, 4 seeds: 0.49 of users share their segment's true top category, vs
# 0.45 with weights 0.3 / 0.4 / 0.3 and 0.51 grouping users by their observed top
# category (the most the logs reveal). The interest vectors add little there: the
# interest text is written from the same categories.
WEIGHTS = {"behaviour": 0.1, "affinity": 0.7, "interest": 0.2}
WEIGHTS_NO_EMBEDDINGS = {"behaviour": 0.1, "affinity": 0.9}
MAX_CATEGORIES = 64
INTEREST_COMPONENTS = 32
FIT_SAMPLE = 50_000
RECENCY_SCALE_DAYS = 30.0

_BEHAVIOUR_SQL = """
select
    ln(1 + impressions) as log_impressions,
    ctr_smoothed as ctr,
    cvr_smoothed as cvr,
    ln(1 + frequency) as log_frequency,
    ln(1 + greatest(monetary, 0)) as log_monetary,
    coalesce(exp(-recency_days / $scale), 0.0) as recency,
    ln(1 + active_days) as log_active_days,
from user_profiles
order by user_id
"""

_CATEGORIES_SQL = """
with shares as (
    select unnest(category_affinity, recursive := true) from user_profiles
)
select category, sum(share) as total,
from shares
where category is not null
group by category
order by total desc, category
limit $limit
"""

_AFFINITY_SQL = """
with ranked as (
    select row_number() over (order by user_id) - 1 as row_ix, category_affinity,
    from user_profiles
),
shares as (
    select row_ix, unnest(category_affinity, recursive := true) from ranked
)
select row_ix, list_position($categories, category) - 1 as col_ix, share,
from shares
where list_contains($categories, category)
"""

# Which text (hash) each user's interest vector is, by row of the user_id order.
_USER_HASHES_SQL = """
with ranked as (
    select user_id, row_number() over (order by user_id) - 1 as row_ix,
    from user_profiles
)
select ranked.row_ix, e.text_hash,
from ranked
join embeddings as e on e.kind = 'user' and e.key = ranked.user_id and e.model_id = $model
"""

# Each of those texts' vector once: a scan of the cache, far cheaper than joining
# the vectors to the users in SQL.
_TEXT_VECTORS_SQL = """
select cache.text_hash, cache.vector,
from embedding_cache as cache
where cache.model_id = $model and cache.text_hash in (
    select e.text_hash from embeddings as e where e.kind = 'user' and e.model_id = $model
)
"""


@dataclass(frozen=True)
class UserFeatures:
    """Raw per-user features, rows in ``user_id`` order.

    Attributes
    ----------
    user_ids : list of str
        One per row, sorted.
    raw : numpy.ndarray
        ``(n_users, n_features)`` float32 raw rows (see the module docstring).
    names : list of str
        Column names: behaviour names, ``cat:<category>``, ``emb:<i>``.
    blocks : dict
        Block name -> slice of columns.
    embedding_model : str or None
        The model id of the interest vectors, None without embeddings.
    """

    user_ids: list[str]
    raw: np.ndarray
    names: list[str]
    blocks: dict[str, slice]
    embedding_model: str | None


def load_user_features(con: duckdb.DuckDBPyConnection, *, use_embeddings: bool = True
                       ) -> UserFeatures:
    """Read every user's raw features from ``user_profiles`` (and the embeddings tables).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Warehouse connection with a ``user_profiles`` table.
    use_embeddings : bool
        Add the interest block when an ``embeddings`` table holds user vectors.

    Returns
    -------
    UserFeatures
    """
    user_ids = con.sql("select user_id from user_profiles order by user_id").fetchnumpy()
    ids = [str(u) for u in user_ids["user_id"]]
    cols = con.execute(_BEHAVIOUR_SQL, {"scale": RECENCY_SCALE_DAYS}).fetchnumpy()
    behaviour = np.column_stack([np.asarray(cols[c], dtype=np.float64) for c in BEHAVIOUR])
    categories, affinity = _affinity(con, len(ids))
    model = _user_embedding_model(con) if use_embeddings else None
    dim = _vector_dim(con, model) if model is not None else 0

    names = list(BEHAVIOUR) + [f"cat:{c}" for c in categories] + [f"emb:{i}" for i in range(dim)]
    # one float32 matrix filled block by block: no second copy of the vectors
    raw = np.empty((len(ids), len(names)), dtype=np.float32)
    blocks = {"behaviour": slice(0, len(BEHAVIOUR))}
    raw[:, blocks["behaviour"]] = np.nan_to_num(behaviour, nan=0.0)
    if categories:
        blocks["affinity"] = slice(len(BEHAVIOUR), len(BEHAVIOUR) + len(categories))
        raw[:, blocks["affinity"]] = affinity
    if dim:
        blocks["interest"] = slice(len(names) - dim, len(names))
        _user_vectors(con, model, raw[:, blocks["interest"]])
    return UserFeatures(ids, raw, names, blocks, model)


def _affinity(con: duckdb.DuckDBPyConnection, n: int) -> tuple[list[str], np.ndarray]:
    rows = con.execute(_CATEGORIES_SQL, {"limit": MAX_CATEGORIES}).fetchall()
    categories = [r[0] for r in rows]
    matrix = np.zeros((n, len(categories)))
    if not categories:
        return categories, matrix
    long = con.execute(_AFFINITY_SQL, {"categories": categories}).fetchnumpy()
    # one entry per user and category: plain assignment
    matrix[np.asarray(long["row_ix"], dtype=np.int64),
           np.asarray(long["col_ix"], dtype=np.int64)] = np.nan_to_num(
        np.asarray(long["share"], dtype=np.float64))
    return categories, matrix


def _user_embedding_model(con: duckdb.DuckDBPyConnection) -> str | None:
    """The model with user vectors for the most users (ties: the first by name), or None."""
    if not (has_table(con, "embeddings") and has_table(con, "embedding_cache")):
        return None
    rows = con.execute(
        "select model_id from embeddings where kind = 'user' "
        "group by model_id order by count(*) desc, model_id limit 1"
    ).fetchall()
    return rows[0][0] if rows else None


def _vector_dim(con: duckdb.DuckDBPyConnection, model: str) -> int:
    rows = con.execute("select max(dim) from embedding_cache where model_id = $model",
                       {"model": model}).fetchall()
    return int(rows[0][0] or 0)


def _user_vectors(con: duckdb.DuckDBPyConnection, model: str, out: np.ndarray) -> None:
    """Fill `out` (users by user_id order x dim) with interest vectors; the mean where none."""
    keys = con.execute(_USER_HASHES_SQL, {"model": model}).fetchnumpy()
    codes, uniques = pd.factorize(np.asarray(keys["text_hash"], dtype=object))
    texts = pd.Index(uniques)
    rows = np.asarray(keys["row_ix"], dtype=np.int64)
    # users grouped by text: the users of text c are by_text[starts[c]:starts[c + 1]]
    by_text = rows[np.argsort(codes, kind="stable")]
    per_text = np.bincount(codes, minlength=len(texts))
    starts = np.concatenate([[0], np.cumsum(per_text)])
    have = np.zeros(len(out), dtype=bool)
    reader = con.sql(_TEXT_VECTORS_SQL, params={"model": model}).to_arrow_reader(100_000)
    for batch in reader:
        if batch.num_rows == 0:
            continue
        flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
        block = flat.reshape(batch.num_rows, -1)
        text = texts.get_indexer(batch.column("text_hash").to_numpy(zero_copy_only=False))
        block, text = block[text >= 0], text[text >= 0]
        count = per_text[text]
        first = np.repeat(starts[text] - np.cumsum(count) + count, count)
        users = by_text[first + np.arange(int(count.sum()))]
        out[users] = np.repeat(block, count, axis=0)
        have[users] = True
    total = np.zeros(out.shape[1])
    for start in range(0, len(out), 65_536):
        chunk = slice(start, start + 65_536)
        total += out[chunk][have[chunk]].sum(axis=0, dtype=np.float64)
    out[~have] = total / max(int(have.sum()), 1)
    log.info("segments: interest vectors of %d of %d users (%s)", have.sum(), len(out), model)


@dataclass(frozen=True)
class FeatureSpace:
    """The affine map from raw rows to the clustered space, fitted on one run's users.

    ``transform(raw) = (raw - center) @ matrix``: a scaling per column in the
    behaviour and affinity blocks, a scaled PCA projection in the interest block.
    """

    names: list[str]
    center: np.ndarray
    matrix: np.ndarray

    def transform(self, raw: np.ndarray, chunk_size: int = 65_536) -> np.ndarray:
        """Map raw rows (columns as `names`) into the clustered space, in chunks."""
        raw = np.asarray(raw)
        out = np.empty((len(raw), self.matrix.shape[1]))
        dtype = np.float32 if raw.dtype == np.float32 else np.float64
        center, matrix = self.center.astype(dtype), self.matrix.astype(dtype)
        for start in range(0, len(raw), chunk_size):
            block = raw[start : start + chunk_size]
            out[start : start + len(block)] = (block - center) @ matrix
        return out


def fit_space(features: UserFeatures, *, seed: int = 0) -> FeatureSpace:
    """Fit the centring, scaling and interest projection of `features`.

    Each block ends with the share of the total variance given by `WEIGHTS`
    (`WEIGHTS_NO_EMBEDDINGS` without interest vectors). The centre is the mean
    of all users; spreads and the interest block's first `INTEREST_COMPONENTS`
    principal axes come from a seeded sample of at most `FIT_SAMPLE` users.
    """
    raw = features.raw
    center = raw.mean(axis=0, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(raw), FIT_SAMPLE, replace=False)) if len(raw) > FIT_SAMPLE \
        else slice(None)
    sample = raw[rows].astype(np.float64) - center
    weights = WEIGHTS if "interest" in features.blocks else WEIGHTS_NO_EMBEDDINGS
    present = {b: w for b, w in weights.items() if b in features.blocks}
    total_weight = sum(present.values())
    pieces = []
    for block, cols in features.blocks.items():
        values = sample[:, cols]
        if block == "interest":
            unit = _principal_axes(values)
        else:
            std = values.std(axis=0)
            inv = np.divide(1.0, std, out=np.zeros_like(std), where=std > 1e-12)
            # z-scores in the behaviour block: its columns are in unrelated units
            unit = np.diag(inv if block == "behaviour" else (std > 1e-12).astype(np.float64))
        variance = float(((values @ unit) ** 2).mean())
        factor = np.sqrt(present[block] / total_weight / variance) if variance > 1e-18 else 0.0
        pieces.append((cols, unit * factor))
    width = sum(m.shape[1] for _, m in pieces)
    matrix = np.zeros((raw.shape[1], width))
    col = 0
    for cols, m in pieces:
        matrix[cols, col : col + m.shape[1]] = m
        col += m.shape[1]
    return FeatureSpace(features.names, center, matrix)


def _principal_axes(centred: np.ndarray) -> np.ndarray:
    """``(d, c)`` first principal axes of the centred rows, each with a fixed sign."""
    # eigenvectors of the d x d scatter matrix: far cheaper than an SVD of the rows
    eigval, eigvec = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(-eigval, kind="stable")[: min(INTEREST_COMPONENTS, len(eigval))]
    axes = eigvec[:, order]
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
    return axes * np.where(signs == 0, 1.0, signs)
