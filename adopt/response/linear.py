"""An L2-regularised logistic regression over the model features: the base of small-data boosters.

With a few hundred positives (the conversions of a small shop), trees that
must be kept shallow and few cannot draw a smooth trend such as "dearer
items convert less" across every product; a logistic regression can. On the
demo world's ~450 conversions the regression tracked the true p(conversion |
click) per ad at a rank correlation of 0.89 where 3-leaf trees alone reached
0.77 (logit correlation per impression 0.67 against 0.60).
`adopt.response.lgbm` starts such a target's booster from this model's logit
(LightGBM's ``init_score``), so the trees only add what the line misses.

Input is what `Features.frame` returns. Each numeric column enters twice,
as itself and as its signed log ``sign(x) * log1p(|x|)`` (counts and prices
act on a log scale), both standardised on the training rows, with a missing
value set to the training median and every value held to the training rows'
1st-99th percentile range: a line extrapolates, and the rows the curves stage
scores sit at the edge of that range (the serving state at the end of the log:
every ad at its oldest, every count at its largest); each categorical enters one-hot over the
categories seen in training (unseen and missing: all zeros). Fitted by
L-BFGS on the mean log loss plus ``l2 / (2 n)`` times the squared weights
(the intercept is not penalised): ``l2`` plays the role of scikit-learn's
``1 / C``; the default 100 did better on the demo's conversions than 10 or
1,000. The columns in `UNPENALIZED` (the item's price, the user's affinity to
the item's category) keep their slopes unshrunk: a ridge shares a slope out
among the columns that move with it. The brand's and category's one-hots move
with the price, so on a few hundred conversions it read dearer items as
converting less mostly through their brand, and a campaign's cheaper and
dearer creatives as alike (the model's elasticity (median over users and
creatives) -0.27 to -0.45 per log price on five generated worlds whose truth
is -0.5, 0.16 from it on average; unshrunk, -0.35 to -0.65, 0.08 from it, and
plan / oracle +0.005 on nineteen worlds, docs/curves.md session 20). The
users' demographics and the item's category move with the affinity, so the
segments that care most for a category read nearer the rest than they are:
the conversions the plan's best cells bring came out compressed (the truth's
log on the model's across cells with a slope of 1.14-1.22 on an unseen world,
whose forecasts fell a fifth short of delivery; with the affinity unshrunk too,
plan / oracle +0.0025 and the forecasts' mean |log| error 0.100 -> 0.097 on
twenty-five worlds, docs/curves.md session 21).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from adopt.exceptions import NotFittedError

CLIP = 0.01  # each numeric input is held to its training 1st-99th percentile range
# numeric columns whose slopes the ridge leaves alone (docstring)
UNPENALIZED = ("price", "user_category_affinity")


class LinearLogit:
    """Logistic regression on a features frame, returning logits.

    Parameters
    ----------
    l2 : ridge penalty on the summed log loss (scikit-learn's ``1 / C``).
    max_iter : L-BFGS iterations.
    unpenalized : numeric columns whose weights (the column and its signed log) the
        ridge does not shrink; a name the frame lacks is passed over.
    """

    def __init__(self, l2: float = 100.0, max_iter: int = 500,
                 unpenalized: tuple[str, ...] = UNPENALIZED) -> None:
        self.l2 = l2
        self.max_iter = max_iter
        self.unpenalized = unpenalized

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> LinearLogit:
        """Learn the design (medians, scales, categories) and the weights; returns self."""
        self.numeric_ = [c for c in x.columns if not isinstance(x[c].dtype, pd.CategoricalDtype)]
        self.categories_ = {c: list(x[c].cat.categories) for c in x.columns
                            if isinstance(x[c].dtype, pd.CategoricalDtype)}
        raw = x[self.numeric_].to_numpy(dtype=float)
        self.median_ = np.zeros(raw.shape[1])
        seen = ~np.isnan(raw).all(axis=0)  # a column never filled in (or no rows) gets 0
        if seen.any():
            self.median_[seen] = np.nanmedian(raw[:, seen], axis=0)
        filled = np.where(np.isnan(raw), self.median_, raw)
        if len(raw):
            self.low_, self.high_ = np.quantile(filled, [CLIP, 1.0 - CLIP], axis=0)
        else:
            self.low_ = self.high_ = np.zeros(0)
        dense = _signed_logs(np.clip(filled, self.low_, self.high_))
        self.mean_ = dense.mean(axis=0)
        scale = dense.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        design = self._design(x)
        y = np.asarray(y, dtype=float)
        n, d = design.shape
        rate = np.clip(y.mean(), 1e-6, 1 - 1e-6)
        start = np.r_[np.log(rate / (1 - rate)), np.zeros(d)]
        penalty = np.full(d, self.l2 / n)
        free = np.isin(self.numeric_, _names(self.unpenalized))
        # the design's columns: the numeric ones, their signed logs, then the one-hots
        penalty[:2 * len(free)][np.r_[free, free]] = 0.0

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = w[0] + design @ w[1:]
            p = expit(z)
            value = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * (penalty * w[1:]) @ w[1:]
            g = p - y
            grad = np.r_[g.mean(), design.T @ g / n + penalty * w[1:]]
            return value, grad

        result = minimize(loss, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": self.max_iter})
        self.intercept_ = float(result.x[0])
        self.coef_ = result.x[1:]
        return self

    def decision(self, x: pd.DataFrame) -> np.ndarray:
        """The logit of each row."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("This LinearLogit is not fitted yet; call fit(x, y) first.")
        # no one-hot matrix: the curves stage scores millions of rows
        dense, codes = self._parts(x)
        z = self.intercept_ + dense @ self.coef_[:dense.shape[1]]
        start = dense.shape[1]
        for code, cats in zip(codes, self.categories_.values(), strict=True):
            weights = np.append(self.coef_[start:start + len(cats)], 0.0)  # code -1: 0
            z = z + weights[code]
            start += len(cats)
        return z

    def _parts(self, x: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]]:
        """Standardised numeric columns with their signed logs, and each categorical's codes
        over the training categories (-1: unseen or missing)."""
        raw = x[self.numeric_].to_numpy(dtype=float)
        filled = np.where(np.isnan(raw), self.median_, raw)
        dense = _signed_logs(filled if self.low_ is None
                             else np.clip(filled, self.low_, self.high_))
        codes = [pd.Categorical(x[col], categories=cats).codes
                 for col, cats in self.categories_.items()]
        return (dense - self.mean_) / self.scale_, codes

    def _design(self, x: pd.DataFrame) -> np.ndarray:
        """The regression's design matrix: `_parts` with each categorical one-hot."""
        dense, codes = self._parts(x)
        # row k of eye(k + 1) is all zeros once cut to k columns: code -1 gets no category
        one_hots = [np.eye(len(cats) + 1)[code][:, :len(cats)]
                    for code, cats in zip(codes, self.categories_.values(), strict=True)]
        return np.hstack([dense, *one_hots])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (see `from_dict`)."""
        return {"l2": self.l2, "max_iter": self.max_iter,
                "unpenalized": list(_names(self.unpenalized)), "numeric": self.numeric_,
                "categories": self.categories_, "median": self.median_.tolist(),
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "low": self.low_.tolist(), "high": self.high_.tolist(),
                "intercept": self.intercept_, "coef": self.coef_.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearLogit:
        """Rebuild a fitted model from `to_dict` output."""
        # saved before the price went unshrunk: every slope was
        model = cls(l2=data["l2"], max_iter=data["max_iter"],
                    unpenalized=tuple(data.get("unpenalized", ())))
        model.numeric_, model.categories_ = data["numeric"], data["categories"]
        for name in ("median", "mean", "scale", "coef"):
            setattr(model, f"{name}_", np.asarray(data[name], dtype=float))
        # saved before the range was kept: values are not held to it
        model.low_, model.high_ = (
            (np.asarray(data["low"], dtype=float), np.asarray(data["high"], dtype=float))
            if "low" in data else (None, None))
        model.intercept_ = float(data["intercept"])
        return model


def _names(columns: str | tuple[str, ...]) -> tuple[str, ...]:
    """Column names as a tuple (one name given alone is one name, not its letters)."""
    return (columns,) if isinstance(columns, str) else tuple(columns)


def _signed_logs(values: np.ndarray) -> np.ndarray:
    """Each column beside its signed log."""
    return np.hstack([values, np.sign(values) * np.log1p(np.abs(values))])
