"""Model inputs built from training examples: tabular, categorical and embedding features.

One row of ``training_examples`` is one impression. `Features` decides which
columns a response model reads (numeric history features, categoricals such as
placement or brand, the user and ad embedding vectors and their cosine),
learns what it must from the training split (category lists, means and
standard deviations) and turns any split into model input: a DataFrame with
pandas categoricals for LightGBM, or a dense standardised matrix (one-hot
categoricals) that the BERT cross-encoder fuses before its heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from adopt.exceptions import InputError, NotFittedError

# Columns that identify, label or date an impression; never features. `day_index`
# counts days since the first: test days lie outside every value seen in training.
NOT_FEATURES = frozenset(
    {"ts", "user_id", "ad_id", "campaign_id", "impression_id", "impression_key", "clicked",
     "converted", "user_text", "ad_text", "day", "day_index"}
)
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


class Features:
    """Which columns feed a response model, and how they become model input.

    Parameters
    ----------
    numeric : numeric feature columns; None infers every numeric column that is
        not an id, label or timestamp.
    categorical : categorical columns; None infers the known ones plus every
        text-typed column that is not an id.
    vectors : names of the (user, ad) embedding columns; used when present, as
        their components and their cosine.
    """

    def __init__(
        self,
        numeric: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        vectors: tuple[str, str] = ("user_vec", "ad_vec"),
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.vectors = vectors

    def fit(self, df: pd.DataFrame) -> Features:
        """Choose the columns and learn categories and scales from ``df``; returns self."""
        cols = [c for c in df.columns if c not in NOT_FEATURES and c not in self.vectors]
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
        self.vectors_ = [v for v in self.vectors if v in df.columns]
        self.dims_ = {v: int(stack_vectors(df[v]).shape[1]) for v in self.vectors_}
        self.categories_ = {
            c: sorted(df[c].dropna().astype(str).unique().tolist()) for c in categorical
        }
        self.mean_ = {c: float(df[c].mean()) for c in numeric}
        self.std_ = {c: float(df[c].std(ddof=0)) or 1.0 for c in numeric}
        return self

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
        names = [f"{v}_{i}" for v in self.vectors_ for i in range(self.dims_[v])]
        return names + (["cosine_user_ad"] if len(self.vectors_) == 2 else [])

    def _vector_block(self, df: pd.DataFrame) -> np.ndarray:
        blocks = [stack_vectors(df[v]) for v in self.vectors_]
        for v, b in zip(self.vectors_, blocks, strict=True):
            if b.shape[1] != self.dims_[v]:
                raise InputError("training_examples", v,
                                 f"vectors must have {self.dims_[v]} dimensions; got {b.shape[1]}")
        if len(blocks) == 2:
            u, a = blocks
            norms = np.linalg.norm(u, axis=1) * np.linalg.norm(a, axis=1)
            cos = (u * a).sum(axis=1) / np.maximum(norms, 1e-12)
            blocks.append(cos[:, None])
        return np.hstack(blocks)

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """LightGBM input: numeric columns, pandas categoricals with the learned categories
        (unseen values become missing), vector components and the cosine."""
        self._require_fitted()
        out = {c: pd.to_numeric(df[c], errors="coerce").astype(float) for c in self.numeric_}
        for c in self.categorical_:
            out[c] = pd.Categorical(df[c].astype(str), categories=self.categories_[c])
        frame = pd.DataFrame(out, index=df.index)
        if self.vectors_:
            vec = pd.DataFrame(self._vector_block(df), index=df.index,
                               columns=self._vector_names())
            frame = pd.concat([frame, vec], axis=1)
        return frame

    def dense(self, df: pd.DataFrame) -> np.ndarray:
        """Dense float32 input: standardised numerics (missing = 0), one-hot categoricals,
        vector components and cosine."""
        self._require_fitted()
        parts = []
        for c in self.numeric_:
            x = (pd.to_numeric(df[c], errors="coerce").to_numpy(float) - self.mean_[c])
            parts.append(np.nan_to_num(x / self.std_[c])[:, None])
        for c in self.categorical_:
            codes = pd.Categorical(df[c].astype(str), categories=self.categories_[c]).codes
            onehot = np.zeros((len(df), len(self.categories_[c])), dtype=np.float32)
            known = codes >= 0
            onehot[np.flatnonzero(known), codes[known]] = 1.0
            parts.append(onehot)
        if self.vectors_:
            parts.append(self._vector_block(df))
        if not parts:
            return np.zeros((len(df), 0), dtype=np.float32)
        return np.hstack(parts).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Learned state as JSON-ready values."""
        self._require_fitted()
        return {k: v for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Features:
        """Rebuild fitted `Features` from `to_dict` output."""
        obj = cls(data["numeric"], data["categorical"], tuple(data["vectors"]))
        for key, value in data.items():
            if key.endswith("_"):
                setattr(obj, key, value)
        return obj
