"""Metrics of probabilistic response predictions: ranking, log loss, calibration.

Response models (``adopt.response.lgbm``, ``adopt.response.bert``) are judged by
these before curves and plans trust them. Everything here is plain numpy on a
label vector ``y`` (0/1) and a probability vector ``p``; ``evaluate`` assembles
the table a model card shows, with a constant base-rate predictor beside the
model, overall and per group (placement, cold-start ads).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from adopt.exceptions import InputError

EPS = 1e-15


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise InputError(
            "predictions", "p", f"y and p must have the same length; got {y.size} and {p.size}"
        )
    if y.size == 0:
        raise InputError("predictions", "y", "y and p must not be empty")
    bad = np.flatnonzero(~np.isin(y, (0.0, 1.0)))
    if bad.size:
        raise InputError("predictions", "y", f"labels must be 0 or 1; got {y[bad[0]]}", bad[0] + 1)
    bad = np.flatnonzero(~((p >= 0) & (p <= 1)))  # also catches NaN
    if bad.size:
        raise InputError(
            "predictions", "p", f"probabilities must lie in [0, 1]; got {p[bad[0]]}", bad[0] + 1
        )
    return y, p


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count one half).

    Parameters
    ----------
    y : array of 0/1 labels.
    p : array of scores, same length.

    Returns
    -------
    float
        AUC in [0, 1]; NaN when ``y`` holds a single class.
    """
    y, p = _check(y, p)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)  # average ranks make ties count one half
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood (natural log); ``p`` is clipped to [1e-15, 1 - 1e-15]."""
    y, p = _check(y, p)
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def entropy(rate: float) -> float:
    """Binary entropy (nats) of a Bernoulli(rate): the log loss of predicting the rate itself."""
    r = min(max(float(rate), EPS), 1 - EPS)
    return float(-(r * np.log(r) + (1 - r) * np.log1p(-r)))


def normalized_entropy(y: np.ndarray, p: np.ndarray) -> float:
    """Log loss over the entropy of the observed base rate; below 1 beats the base rate.

    NaN when every label is the same: the base rate then has no entropy to compare with.
    """
    y, p = _check(y, p)
    if y.min() == y.max():
        return float("nan")
    return log_loss(y, p) / entropy(y.mean())


def calibration_ratio(y: np.ndarray, p: np.ndarray) -> float:
    """Mean predicted over observed rate; 1 is calibrated on average (inf if no positives)."""
    y, p = _check(y, p)
    observed = y.mean()
    return float(p.mean() / observed) if observed > 0 else float("inf")


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-mass bins of ``p``: count, mean predicted and observed rate per bin.

    Rows are sorted by ``p`` and cut into ``n_bins`` bins of (nearly) equal size,
    so sparse tails do not get bins of a handful of rows.

    Returns
    -------
    DataFrame
        Columns ``bin, count, p_min, p_max, mean_predicted, observed``.
    """
    y, p = _check(y, p)
    if n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins}.")
    order = np.argsort(p, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, min(n_bins, y.size))):
        rows.append(
            {
                "bin": i,
                "count": int(idx.size),
                "p_min": float(p[idx].min()),
                "p_max": float(p[idx].max()),
                "mean_predicted": float(p[idx].mean()),
                "observed": float(y[idx].mean()),
            }
        )
    return pd.DataFrame(rows)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE over equal-mass bins: size-weighted mean of |mean predicted - observed|."""
    table = reliability_table(y, p, n_bins)
    gap = (table["mean_predicted"] - table["observed"]).abs()
    return float((gap * table["count"]).sum() / table["count"].sum())


def score(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """All scalar metrics of one prediction vector, as a dict."""
    y, p = _check(y, p)
    return {
        "n": int(y.size),
        "positives": int(y.sum()),
        "rate": float(y.mean()),
        "auc": roc_auc(y, p),
        "logloss": log_loss(y, p),
        "ne": normalized_entropy(y, p),
        "calibration_ratio": calibration_ratio(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
    }


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    groups: Mapping[str, np.ndarray] | None = None,
    base_rate: float | None = None,
    n_bins: int = 10,
) -> pd.DataFrame:
    """Metrics of a model and of a constant base-rate predictor, overall and per group.

    Parameters
    ----------
    y : array of 0/1 labels.
    p : array of predicted probabilities.
    groups : mapping of a breakdown name (e.g. ``"placement_id"``, ``"cold_start"``)
        to an array of group values, one per row.
    base_rate : the constant the base-rate predictor predicts; the training rate
        when known, else the rate of ``y``.
    n_bins : equal-mass bins for the ECE.

    Returns
    -------
    DataFrame
        One row per (slice, group, predictor) with the columns of `score`;
        ``slice`` is ``"overall"`` or the breakdown name, ``predictor`` is
        ``"model"`` or ``"base_rate"``. Groups with a single class get NaN AUC.
    """
    y, p = _check(y, p)
    rate = float(y.mean()) if base_rate is None else float(base_rate)
    if not 0 < rate < 1:
        raise ValueError(f"base_rate must lie strictly between 0 and 1; got {rate}.")
    slices: list[tuple[str, object, np.ndarray]] = [("overall", "all", np.ones(y.size, bool))]
    for name, values in (groups or {}).items():
        values = np.asarray(values)
        if values.shape != y.shape:
            raise ValueError(
                f"groups['{name}'] must have one value per row ({y.size}); got {values.size}."
            )
        for value in pd.unique(values):
            slices.append((name, value, values == value))
    rows = []
    for name, value, mask in slices:
        for predictor, pred in (("model", p[mask]), ("base_rate", np.full(mask.sum(), rate))):
            rows.append({"slice": name, "group": value, "predictor": predictor}
                        | score(y[mask], pred, n_bins))
    return pd.DataFrame(rows)


def _group_label(slice_: str, group: object) -> str:
    if slice_ == "overall":
        return "overall"
    if slice_ == "cold_start":
        return "cold-start ads" if str(group) == "True" else "ads with history"
    return f"{slice_.removesuffix('_id')} {group}"


def format_metrics(table: pd.DataFrame) -> str:
    """The metrics table (`evaluate` rows with a ``target`` column) as plain text to read.

    One block per target; one line per slice (overall, each placement, cold-start
    ads and ads with history) with the model's AUC, NE, calibration ratio and ECE
    beside the base-rate predictor's NE and calibration ratio (its AUC is 0.5).
    """
    blocks = []
    targets = table["target"].unique() if "target" in table else [None]
    for target in targets:
        part = table if target is None else table[table["target"] == target]
        model = part[part["predictor"] == "model"].reset_index(drop=True)
        base = part[part["predictor"] == "base_rate"].reset_index(drop=True)
        labels = [_group_label(s, g) for s, g in zip(model["slice"], model["group"], strict=True)]
        width = max(map(len, labels), default=0)
        lines = pd.DataFrame({
            "slice": [label.ljust(width) for label in labels],
            "rows": model["n"], "positives": model["positives"],
            "rate": model["rate"].map("{:.2%}".format),
            "AUC": model["auc"].map("{:.3f}".format),
            "NE": model["ne"].map("{:.3f}".format),
            "cal. ratio": model["calibration_ratio"].map("{:.2f}".format),
            "ECE": model["ece"].map("{:.4f}".format),
            "| base NE": base["ne"].map("{:.3f}".format),
            "base cal. ratio": base["calibration_ratio"].map("{:.2f}".format),
        })
        title = {"click": "p(click) on impressions", "conversion": "p(conversion | click) on "
                 "clicks"}.get(str(target), str(target or "model"))
        blocks.append(f"{title}: model vs base rate (test days)\n"
                      + lines.to_string(index=False))
    return "\n\n".join(blocks)
