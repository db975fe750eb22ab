"""The user feature matrix that k-means segments: behaviour, affinity, interests, attributes.

Sits between the marts (``user_profiles``, the staged behaviours and events,
and the ``embeddings`` tables when ``adopt embed`` has run) and the clustering
in :mod:`adopt.audiences.kmeans`.

Audiences are built only from what is known before an impression: never from
the responses (clicks, conversions, their revenue and recency) to the logged
impressions. On logs with one impression per user those responses *are* the
labels, and k-means on them returns "CTR 0%" and "CTR 100%" segments that no
ad server can target; the response model already scores every segment with
each user's response history. Each user gets a *raw* row in up to four blocks:

- ``behaviour``: log impressions received, log behaviours, log purchases, log
  purchase amount, behaviour recency as ``exp(-days / 30)`` (0 when none), log
  active days (days with an impression or a behaviour);
- ``affinity``: the user's share of each category in their behaviours
  (``cat:<name>``, the most common categories only; ad clicks left out);
- ``interest``: the user interest text's embedding (``emb:<i>``; users without
  a vector get the mean vector);
- ``attributes``: the chosen user attributes (:mod:`adopt.attributes`): numbers
  as ``attr:<name>`` (signed log; missing: the mean), text as one column per
  common value ``attr:<name>=<value>`` (one-hot, see `attribute_columns`).

Every step from raw to the clustered space is affine (z-scores in the
behaviour block and for numeric attributes, centring in the affinity block and
for one-hot attributes, scaled so each attribute has unit variance, a PCA
projection of the interest block, then one weight per block so that each block
carries a fixed share of the total variance). So a centroid stored in raw space
(the mean raw row of a segment) maps exactly into the next run's space: that
is how segment ids stay stable between runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from adopt.attributes import Attribute, quote_ident, user_attributes
from adopt.exceptions import ParameterError
from adopt.workspace import has_table

log = logging.getLogger("adopt")

BEHAVIOUR = (
    "log_impressions", "log_behaviours", "log_purchases", "log_purchase_amount",
    "behaviour_recency", "log_active_days",
)
# Share of the total variance each block carries in the clustered space. Interests
# dominate: the optimizer needs segments that answer differently to different ads.
# Demo world, 4 seeds: 0.49 of users share their segment's true top category, vs
# 0.45 with weights 0.3 / 0.4 / 0.3 and 0.51 grouping users by their observed top
# category (the most the logs reveal). The interest vectors add little there: the
# interest text is written from the same categories.
# Attributes, when chosen, weigh as much as the affinity block would without them.
WEIGHTS = {"behaviour": 0.1, "affinity": 0.7, "interest": 0.2, "attributes": 0.7}
WEIGHTS_NO_EMBEDDINGS = {"behaviour": 0.1, "affinity": 0.9, "attributes": 0.9}
MAX_CATEGORIES = 64
MAX_LEVELS = 16  # one-hot columns per text attribute: its most common values ...
MIN_LEVEL_SHARE = 0.01  # ... each held by at least 1% of the users (and 2)
INTEREST_COMPONENTS = 32
FIT_SAMPLE = 50_000
RECENCY_SCALE_DAYS = 30.0

# Pre-impression behaviour only: exposure and the behaviours table, no ad response.
_BEHAVIOUR_SQL = """
with

behaviour as (
    select
        behaviors.user_id,
        count(*) as behaviours,
        count(*) filter (where behaviors.action = 'purchase') as purchases,
        coalesce(sum(behaviors.amount::decimal(38, 12))
            filter (where behaviors.action = 'purchase'), 0)::double as purchase_amount,
        max(behaviors.ts) as last_ts,
    from stg_behaviors as behaviors
    group by behaviors.user_id
),

days as (
    select activity.user_id, count(distinct activity.ts::date) as active_days,
    from (
        select events.user_id, events.ts, from stg_events as events
        where events.event = 'impression'
        union all
        select behaviors.user_id, behaviors.ts, from stg_behaviors as behaviors
    ) as activity
    group by activity.user_id
)

select
    ln(1 + profiles.impressions) as log_impressions,
    ln(1 + coalesce(behaviour.behaviours, 0)) as log_behaviours,
    ln(1 + coalesce(behaviour.purchases, 0)) as log_purchases,
    ln(1 + greatest(coalesce(behaviour.purchase_amount, 0), 0)) as log_purchase_amount,
    coalesce(exp(-(epoch(params.as_of::timestamp) - epoch(behaviour.last_ts))
        / 86400.0 / $scale), 0.0) as behaviour_recency,
    ln(1 + coalesce(days.active_days, 0)) as log_active_days,
from user_profiles as profiles
cross join build_params as params
left join behaviour on behaviour.user_id = profiles.user_id
left join days on days.user_id = profiles.user_id
order by profiles.user_id
"""

# Category affinity from the behaviours only (ad clicks are responses to logged
# impressions): each behaviour's action weight halved every affinity_half_life_days
# of age, as in int_user_category_affinity; shares per user.
_SHARES_SQL = """
with

terms as (
    select
        behaviors.user_id,
        behaviors.category,
        behaviors.action_weight * pow(
            0.5,
            (epoch(params.as_of::timestamp) - epoch(behaviors.ts))
                / (86400.0 * params.affinity_half_life_days)
        ) as term,
    from stg_behaviors as behaviors
    cross join build_params as params
    where behaviors.category is not null
),

decayed as (
    select terms.user_id, terms.category, list_sum(list(terms.term order by terms.term)) as w,
    from terms
    group by terms.user_id, terms.category
),

ranked as (
    select profiles.user_id, row_number() over (order by profiles.user_id) - 1 as row_ix,
    from user_profiles as profiles
)

select
    ranked.row_ix,
    decayed.category,
    decayed.w / sum(decayed.w) over (partition by decayed.user_id) as share,
from decayed
join ranked on ranked.user_id = decayed.user_id
"""

_CATEGORIES_SQL = f"""
with shares as ({_SHARES_SQL})
select category, sum(share) as total,
from shares
group by category
order by total desc, category
limit $limit
"""

_AFFINITY_SQL = f"""
with shares as ({_SHARES_SQL})
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
    attributes : tuple of str
        The user attributes in the ``attributes`` block.
    """

    user_ids: list[str]
    raw: np.ndarray
    names: list[str]
    blocks: dict[str, slice]
    embedding_model: str | None
    attributes: tuple[str, ...] = ()


def load_user_features(con: duckdb.DuckDBPyConnection, *, use_embeddings: bool = True,
                       attributes: Sequence[str] | None = ()) -> UserFeatures:
    """Read every user's raw features from ``user_profiles`` (and the embeddings tables).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Warehouse connection with a built ``user_profiles`` table.
    use_embeddings : bool
        Add the interest block when an ``embeddings`` table holds user vectors.
    attributes : sequence of str or None
        User attributes for the ``attributes`` block; ``()`` none; None: every
        attribute when the profiles hold no other pre-impression signal (no
        category affinity, no interest vectors), else none.

    Returns
    -------
    UserFeatures

    Raises
    ------
    ParameterError
        An attribute that is not a column of ``user_profiles``.
    """
    user_ids = con.sql("select user_id from user_profiles order by user_id").fetchnumpy()
    ids = [str(u) for u in user_ids["user_id"]]
    cols = con.execute(_BEHAVIOUR_SQL, {"scale": RECENCY_SCALE_DAYS}).fetchnumpy()
    behaviour = np.column_stack([np.asarray(cols[c], dtype=np.float64) for c in BEHAVIOUR])
    categories, affinity = _affinity(con, len(ids))
    model = _user_embedding_model(con) if use_embeddings else None
    dim = _vector_dim(con, model) if model is not None else 0

    if attributes is None:
        attributes = () if categories or dim else [a.name for a in profile_attributes(con)]
    attr_names, attr_values = attribute_columns(con, list(attributes))

    names = (list(BEHAVIOUR) + [f"cat:{c}" for c in categories]
             + [f"emb:{i}" for i in range(dim)] + attr_names)
    # one float32 matrix filled block by block: no second copy of the vectors
    raw = np.empty((len(ids), len(names)), dtype=np.float32)
    blocks = {"behaviour": slice(0, len(BEHAVIOUR))}
    raw[:, blocks["behaviour"]] = np.nan_to_num(behaviour, nan=0.0)
    if categories:
        blocks["affinity"] = slice(len(BEHAVIOUR), len(BEHAVIOUR) + len(categories))
        raw[:, blocks["affinity"]] = affinity
    end = len(names) - len(attr_names)
    if dim:
        blocks["interest"] = slice(end - dim, end)
        _user_vectors(con, model, raw[:, blocks["interest"]])
    if attr_names:
        blocks["attributes"] = slice(end, len(names))
        raw[:, blocks["attributes"]] = attr_values
    return UserFeatures(ids, raw, names, blocks, model, tuple(attributes))


def profile_attributes(con: duckdb.DuckDBPyConnection) -> list[Attribute]:
    """The user attributes that ``user_profiles`` carries (those of ``stg_users``)."""
    if not has_table(con, "stg_users"):
        return []
    have = {r[0].lower() for r in con.execute(
        "select column_name from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'main' and table_name = 'user_profiles'").fetchall()}
    return [a for a in user_attributes(con, "stg_users") if a.name.lower() in have]


def attribute_columns(con: duckdb.DuckDBPyConnection, attributes: list[str]
                      ) -> tuple[list[str], np.ndarray]:
    """Raw columns of the chosen user attributes, rows in ``user_id`` order.

    Numbers give one column ``attr:<name>``, the signed log ``sign(x) ln(1 + |x|)``
    (missing: the column mean); text gives one 0/1 column ``attr:<name>=<value>``
    per value among its `MAX_LEVELS` most common (ties by value) held by at least
    `MIN_LEVEL_SHARE` of the users and by 2; missing and rarer values are all 0.

    Raises
    ------
    ParameterError
        A name that is not an attribute column of ``user_profiles``.
    """
    known = {a.name.lower(): a for a in profile_attributes(con)}
    names: list[str] = []
    columns: list[np.ndarray] = []
    for name in attributes:
        attr = known.get(str(name).lower())
        if attr is None:
            raise ParameterError(
                "The 'attributes' parameter of segment_workspace must name user attributes "
                f"({', '.join(a.name for a in known.values()) or 'the users table has none'})."
                f" Got {name!r} instead.")
        col = quote_ident(attr.name)
        if attr.numeric:
            values = con.execute(f"select {col}::double as v from user_profiles "
                                 "order by user_id").fetchnumpy()["v"]
            values = np.asarray(values, dtype=np.float64)  # NULL arrives as NaN
            # signed log: counts and amounts have long tails that would make single users
            # their own clusters
            values = np.sign(values) * np.log1p(np.abs(values))
            mean = np.nanmean(values) if np.isfinite(values).any() else 0.0
            names.append(f"attr:{attr.name}")
            columns.append(np.where(np.isfinite(values), values, mean)[:, None])
            continue
        text = con.execute(f"select {col}::varchar as v from user_profiles "
                           "order by user_id").fetchnumpy()["v"]
        text = pd.Series(np.asarray(text, dtype=object))
        counts = text.dropna().value_counts()
        # a value held by a handful of users is no audience (and id-like columns give none)
        counts = counts[counts >= max(2, MIN_LEVEL_SHARE * len(text))]
        top = sorted(counts.index, key=lambda v: (-counts[v], v))[:MAX_LEVELS]
        for value in top:
            names.append(f"attr:{attr.name}={value}")
            columns.append((text == value).to_numpy(dtype=np.float64)[:, None])
    n = int(con.execute("select count(*) from user_profiles").fetchall()[0][0])
    matrix = np.hstack(columns) if columns else np.zeros((n, 0))
    return names, matrix


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
        elif block == "attributes":
            unit = np.diag(_attribute_scale(features.names[cols], values))
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


def _attribute_scale(names: list[str], centred: np.ndarray) -> np.ndarray:
    """Per-column factors giving each attribute unit variance (its one-hot columns together)."""
    groups = [name.split("=", 1)[0] for name in names]
    variance = (centred**2).mean(axis=0)
    scale = np.zeros(len(names))
    for group in dict.fromkeys(groups):
        cols = [i for i, g in enumerate(groups) if g == group]
        total = float(variance[cols].sum())
        if total > 1e-12:
            scale[cols] = 1.0 / np.sqrt(total)
    return scale


def _principal_axes(centred: np.ndarray) -> np.ndarray:
    """``(d, c)`` first principal axes of the centred rows, each with a fixed sign."""
    # eigenvectors of the d x d scatter matrix: far cheaper than an SVD of the rows
    eigval, eigvec = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(-eigval, kind="stable")[: min(INTEREST_COMPONENTS, len(eigval))]
    axes = eigvec[:, order]
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
    return axes * np.where(signs == 0, 1.0, signs)
