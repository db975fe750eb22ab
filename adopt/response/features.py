"""Model inputs built from training examples: tabular, categorical and embedding features.

One row of ``training_examples`` is one impression. `Features` decides which
columns a response model reads (numeric history features, categoricals such as
placement or brand, the user and ad embedding vectors added by
``adopt.response.text_features.attach_text_features``), learns what it must
from the training split (category lists, means and standard deviations, a PCA
of each embedding) and turns any rows into model input: a DataFrame with
pandas categoricals for LightGBM, or a dense standardised matrix (one-hot
categoricals) that the BERT cross-encoder fuses before its heads.

Text enters as the behaviours' topic share ``topic_share_user_ad`` (see
``attach_text_features``; the mean-cosine match ``text_match_user_ad`` beside it is read
only when named), the user-ad cosine (NaN where a vector is missing) and the first
``vector_components`` principal components of each vector (fitted on train). On the demo
world's cold-start ads the match carries the signal and the cosine alone none; on real
clicks (MIND news) the components add to both (docs/response.md,
bench/response_bench.py, bench/mind_text_bench.py). 384 raw dimensions per side mostly
add noise and time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from adopt.exceptions import InputError, NotFittedError

# Known only once the impression was sold, so never features of a plan that buys it:
# `cost` is the clearing price in auction logs (a leak: the price reflects the
# competition for that very user and moment) and otherwise the placement's cpm / 1000,
# which the `cpm` feature already carries. Planned impressions (curves) have only cpm.
AFTER_IMPRESSION = frozenset({"cost", "revenue"})
# Columns that identify, label or date an impression; never features. `day_index`
# counts days since the first: test days lie outside every value seen in training.
NOT_FEATURES = frozenset(
    {"ts", "user_id", "ad_id", "campaign_id", "impression_id", "impression_key", "clicked",
     "converted", "user_text", "ad_text", "day", "day_index"}
) | AFTER_IMPRESSION
# A creative's own logged history, and its age. Not features: in the serving state the
# curves are built from, every creative sits at its longest history and its oldest, where
# trees read values they rarely saw (and a trend of the log's last days: -15% of clicks on
# one world, docs/curves.md session 11); the curve stage adds what a creative's own outcomes
# show as its shrunk effect on the model's predictions instead (`adopt.curves.creatives`).
CREATIVE_HISTORY = frozenset(
    {"ad_prior_impressions", "ad_prior_clicks", "ad_ctr_smoothed",
     "ad_placement_prior_impressions", "ad_placement_prior_clicks", "ad_placement_ctr_smoothed",
     "ad_age_days"})
# The user's running totals since the logs began. Not features: they grow with time, so in
# the serving state every user sits at their largest, values the trees saw only for the
# heaviest users late in the logs; the model read them as a trend it carried to every user
# (`user_prior_impressions` alone took 15% of the clicks and 21% of the conversions off the
# same logged impressions rebuilt in the serving state on one world,
# bench/serving_shift_bench.py). Rates that do not grow stay features:
# `user_ctr_smoothed`, `user_category_affinity`, `user_seconds_since_last_click`.
USER_TOTALS = frozenset(
    {"user_prior_impressions", "user_prior_clicks", "user_prior_conversions",
     "user_prior_views", "user_prior_carts", "user_prior_favorites", "user_prior_purchases",
     "user_prior_searches"})
# Computed from the vectors by `Features` itself, so never read as a plain column.
COSINE = "cosine_user_ad"
# Added by attach_text_features beside the vectors: read only by a `Features` that reads
# the vectors, so `Features(vectors=())` is a true no-text baseline on the same rows.
TEXT_DERIVED = ("user_vec_missing", "ad_vec_missing", "topic_share_user_ad")
# Added beside them too but not read unless named: the topic share reads the same
# behaviours more sharply, and with both the model bought worse plans than with the share
# alone (16 generated worlds: plan / oracle -0.003 against +0.013; docs/curves.md, session 16).
TEXT_NOT_READ = ("text_match_user_ad",)
PCA_SAMPLE = 20_000  # rows the PCA of an embedding is fitted on
MAX_LEVELS = 1_000  # most categories learned per categorical column (the most frequent)
CHUNK = 50_000  # rows per block when projecting vectors
KNOWN_CATEGORICAL = ("placement_id", "category", "brand", "format", "age_band", "gender",
                     "city_tier", "advertiser")


def _is_vector_column(s: pd.Series) -> bool:
    first = s.dropna().iloc[0] if s.notna().any() else None
    return isinstance(first, (list, tuple, np.ndarray))


def stack_vectors(s: pd.Series, table: str = "training_examples") -> np.ndarray:
    """An ``(n, d)`` float32 array from a column holding one vector per row."""
    try:
        return np.stack([np.asarray(v, dtype=np.float32) for v in s.to_numpy()])
    except (ValueError, TypeError) as exc:
        raise InputError(
            table, str(s.name), f"every row must hold a vector of one length ({exc})"
        ) from exc


def distinct_vectors(s: pd.Series, table: str = "training_examples"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct vector objects of a column, stacked, and each row's position among them.

    Rows of one user or ad share one array object (`attach_text_features`), so
    a block of 50,000 rows holds a few thousand; vectors equal in value but held
    in separate objects are kept apart, which costs time but changes no result.
    """
    values = s.to_numpy()
    codes, _ = pd.factorize(np.fromiter(map(id, values), dtype=np.int64, count=len(values)))
    _, first = np.unique(codes, return_index=True)
    return stack_vectors(s.iloc[first], table), codes


def _top_levels(s: pd.Series) -> list[str]:
    """The categories a model learns for `s`: at most `MAX_LEVELS`, the most frequent (sorted).

    An id-like user attribute (a value per user, Criteo's hashed columns) would
    otherwise put millions of levels into the model and its saved card; rarer
    levels are read as missing.
    """
    counts = s.dropna().astype(str).value_counts()
    if len(counts) > MAX_LEVELS:
        frame = counts.rename_axis("level").reset_index(name="n")
        counts = frame.sort_values(["n", "level"], ascending=[False, True]).head(MAX_LEVELS)
        return sorted(counts["level"].tolist())
    return sorted(counts.index.tolist())


def _categorical(s: pd.Series, categories: list[str]) -> pd.Categorical:
    """``s`` as strings over the learned categories; unseen values and missing become NaN."""
    text = s.astype(str).where(s.notna())
    return pd.Categorical(text.where(text.isin(categories)), categories=categories)


class Features:
    """Which columns feed a response model, and how they become model input.

    Parameters
    ----------
    numeric : numeric feature columns; None infers every numeric column that is
        not an id, label, timestamp, known only after the impression
        (`AFTER_IMPRESSION`: the impression's cost, a clearing price in auction
        logs), a creative's own history (`CREATIVE_HISTORY`) or the user's running
        totals (`USER_TOTALS`). An explicit list may name them.
    categorical : categorical columns; None infers the known ones plus every
        text-typed column that is not an id.
    vectors : names of the (user, ad) embedding columns; used when present, and with
        them the other text columns `attach_text_features` adds (the missing-vector
        flags and ``topic_share_user_ad``); ``()`` reads no text column at all.
    vector_components : principal components kept per embedding column (fitted on
        train); 0 keeps only the cosine; None keeps every raw dimension.
    embedding_model_id : the embedding model the vectors come from (recorded so
        prediction attaches the same one); None when unknown or unused.
    seed : seed of the PCA's row sample.
    """

    def __init__(
        self,
        numeric: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        vectors: Sequence[str] = ("user_vec", "ad_vec"),
        vector_components: int | None = 8,
        embedding_model_id: str | None = None,
        seed: int = 0,
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.vectors = vectors
        self.vector_components = vector_components
        self.embedding_model_id = embedding_model_id
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, unchanged."""
        return {k: getattr(self, k) for k in ("numeric", "categorical", "vectors",
                                              "vector_components", "embedding_model_id", "seed")}

    def clone(self) -> Features:
        """An unfitted copy with the same parameters."""
        return Features(**self.get_params())

    def fit(self, df: pd.DataFrame) -> Features:
        """Choose the columns and learn categories, scales and PCAs from ``df``; returns self."""
        k = self.vector_components
        if k is not None and (not isinstance(k, int) or k < 0):
            raise ValueError("The 'vector_components' parameter of Features must be None or an "
                             f"int >= 0. Got {k!r} instead.")
        vectors = [v for v in self.vectors if v in df.columns]
        skip = (NOT_FEATURES | CREATIVE_HISTORY | USER_TOTALS | set(self.vectors) | {COSINE}
                | set(TEXT_DERIVED) | set(TEXT_NOT_READ))
        cols = [c for c in df.columns if c not in skip]
        if vectors:  # all-NaN: e.g. no text match without `adopt profiles`; nothing to learn
            cols += [c for c in TEXT_DERIVED if c in df.columns and df[c].notna().any()]
        if self.categorical is None:
            categorical = [c for c in cols if c in KNOWN_CATEGORICAL or (
                not pd.api.types.is_numeric_dtype(df[c]) and not _is_vector_column(df[c]))]
        else:
            categorical = list(self.categorical)
        if self.numeric is None:
            numeric = [c for c in cols if c not in categorical
                       and pd.api.types.is_numeric_dtype(df[c])]
        else:
            numeric = list(self.numeric)
        for col in [*numeric, *categorical]:
            if col not in df.columns:
                raise InputError("training_examples", col, "feature column is missing")
        self.numeric_ = numeric
        self.categorical_ = categorical
        self.vectors_ = vectors
        self.dims_ = {v: int(stack_vectors(df[v].iloc[:1]).shape[1]) for v in vectors}
        self.pca_ = {v: self._fit_pca(df[v]) for v in vectors} if k is not None else {}
        self.categories_ = {c: _top_levels(df[c]) for c in categorical}
        self.mean_ = {c: float(df[c].mean()) for c in numeric}
        self.std_ = {c: float(df[c].std(ddof=0)) or 1.0 for c in numeric}
        return self

    def _fit_pca(self, s: pd.Series) -> dict[str, list]:
        """Mean and top principal axes of the distinct vectors in a row sample of ``s``."""
        rng = np.random.default_rng(self.seed)
        rows = rng.choice(len(s), size=min(len(s), PCA_SAMPLE), replace=False)
        x = np.unique(distinct_vectors(s.iloc[np.sort(rows)])[0], axis=0).astype(np.float64)
        mean = x.mean(axis=0)
        k = min(int(self.vector_components or 0), *x.shape)
        if k == 0:
            return {"mean": mean.tolist(), "components": []}
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        vt = vt[:k] * np.sign(vt[:k, :1] + 1e-12)  # a fixed sign per axis, for stable columns
        return {"mean": mean.tolist(), "components": vt.tolist()}

    def _require_fitted(self) -> None:
        if not hasattr(self, "numeric_"):
            raise NotFittedError("This Features is not fitted yet; call fit(train) before use.")

    @property
    def names_(self) -> list[str]:
        """Column names of `frame` output, in order."""
        self._require_fitted()
        names = [*self.numeric_, *self.categorical_]
        if self.vectors_:
            names += self._vector_names()
        return names

    def _vector_names(self) -> list[str]:
        if self.pca_:
            names = [f"{v}_pc{i}" for v in self.vectors_
                     for i in range(len(self.pca_[v]["components"]))]
        else:
            names = [f"{v}_{i}" for v in self.vectors_ for i in range(self.dims_[v])]
        return names + ([COSINE] if len(self.vectors_) == 2 else [])

    def _check_columns(self, df: pd.DataFrame) -> None:
        """Refuse rows that lack a column the features were fitted on, naming it."""
        for col in [*self.vectors_, *self.numeric_, *self.categorical_]:
            if col in df.columns:
                continue
            if col in self.vectors_ or col in TEXT_DERIVED:
                raise InputError(
                    "training_examples", col, "this model was trained with embedding "
                    "features; add them with adopt.response.attach_text_features(workspace, df)")
            raise InputError("training_examples", col,
                             "the model was trained with this feature column; it is missing")

    def _vector_block(self, df: pd.DataFrame) -> np.ndarray:
        """Projected (or raw) vectors and the cosine, block by block to bound memory."""
        parts = [self._vector_chunk(df.iloc[i:i + CHUNK]) for i in range(0, len(df), CHUNK)]
        if not parts:
            return np.zeros((0, len(self._vector_names())), dtype=np.float32)
        return np.vstack(parts)

    def _vector_chunk(self, df: pd.DataFrame) -> np.ndarray:
        """Each distinct vector is projected once, each distinct (user, ad) pair's cosine
        computed once; rows gather them."""
        raw = [distinct_vectors(df[v]) for v in self.vectors_]
        blocks = []
        for v, (b, codes) in zip(self.vectors_, raw, strict=True):
            if b.shape[1] != self.dims_[v]:
                raise InputError("training_examples", v,
                                 f"vectors must have {self.dims_[v]} dimensions; got {b.shape[1]}")
            if self.pca_:
                pca = self.pca_[v]
                comps = np.asarray(pca["components"], dtype=np.float64).reshape(-1, b.shape[1])
                b = (b - np.asarray(pca["mean"])) @ comps.T
            blocks.append(b[codes])
        if len(raw) == 2:
            (u, cu), (a, ca) = raw
            pair, pairs = pd.factorize(cu * len(a) + ca)
            u, a = u[pairs // len(a)], a[pairs % len(a)]
            norms = np.linalg.norm(u, axis=1) * np.linalg.norm(a, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                cos = np.where(norms > 0, (u * a).sum(axis=1) / norms, np.nan)
            blocks.append(cos[pair][:, None])
        return np.hstack(blocks).astype(np.float32)

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """LightGBM input: numeric columns, pandas categoricals with the learned categories
        (unseen values become missing), vector components and the cosine (NaN when a
        vector is missing)."""
        self._require_fitted()
        self._check_columns(df)
        out = {c: pd.to_numeric(df[c], errors="coerce").astype(float) for c in self.numeric_}
        for c in self.categorical_:
            out[c] = _categorical(df[c], self.categories_[c])
        frame = pd.DataFrame(out, index=df.index)
        if self.vectors_:
            vec = pd.DataFrame(self._vector_block(df), index=df.index,
                               columns=self._vector_names())
            frame = pd.concat([frame, vec], axis=1)
        return frame

    def dense(self, df: pd.DataFrame) -> np.ndarray:
        """Dense float32 input: standardised numerics (missing = 0), one-hot categoricals,
        vector components and cosine (missing = 0)."""
        self._require_fitted()
        self._check_columns(df)
        parts = []
        for c in self.numeric_:
            x = (pd.to_numeric(df[c], errors="coerce").to_numpy(float) - self.mean_[c])
            parts.append(np.nan_to_num(x / self.std_[c])[:, None])
        for c in self.categorical_:
            codes = _categorical(df[c], self.categories_[c]).codes
            onehot = np.zeros((len(df), len(self.categories_[c])), dtype=np.float32)
            known = codes >= 0
            onehot[np.flatnonzero(known), codes[known]] = 1.0
            parts.append(onehot)
        if self.vectors_:
            parts.append(np.nan_to_num(self._vector_block(df)))
        if not parts:
            return np.zeros((len(df), 0), dtype=np.float32)
        return np.hstack(parts).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Parameters and learned state as JSON-ready values."""
        self._require_fitted()
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Features:
        """Rebuild fitted `Features` from `to_dict` output (older saves: raw vector dims)."""
        params = {k: data[k] for k in ("numeric", "categorical", "vectors") if k in data}
        obj = cls(**params, vector_components=data.get("vector_components"),
                  embedding_model_id=data.get("embedding_model_id"), seed=data.get("seed", 0))
        obj.vectors = tuple(obj.vectors)
        obj.pca_ = {}
        for key, value in data.items():
            if key.endswith("_"):
                setattr(obj, key, value)
        return obj
