"""Saturating curves fitted to aggregate performance, written as a curves table.

Data flow: planners without logs bring aggregates (`adopt.optimize.aggregates_input`
reads and maps them to points); `fit_curves` fits, per cell and metric,

    y = b + a * (1 - exp(-I / s))

to the cell's points (I impressions, y the outcome): `b` is the base (what a
unit produced without spend), `a` the most spend can add, `s` the scale.
b and a are non-negative least squares for a given s, s is a search over a
log grid refined by golden section. A cell with fewer than `min_points`
distinct impression levels is *pooled*: it takes the shape (b : a, s) of the
first coarser level that has enough points (campaign x placement, then
placement, then all rows) and keeps its own level, the ratio of what it
produced to what that shape predicts at its points. A cell with no
impressions at all is *skipped* (listed with the reason, kept in the table
with no users so its history still counts).

The cell's curve in its own terms: with units i = 1..n (rows of an export
without period; one with periods) that had shares w_i of the cell's
impressions, F(I) = n b + sum_i a (1 - exp(-w_i I / s)): more or less of the
same mix, so F at the historical impressions is the fit at every unit's own
spend. With U users (the audience size, see
`adopt.optimize.aggregates_input`), the k-th impression per user covers
impressions ((k-1)U, kU], so its value per user is (F(kU) - F((k-1)U)) / U.
The base n b is not bought by spend: it is carried as ``base_<metric>`` and
added to forecasts only where they are compared with what a period produced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from adopt.exceptions import InputError
from adopt.optimize.aggregates_input import METRICS, TABLE, CellPoints, aggregate_points

MIN_POINTS = 5  # distinct impression levels a cell needs for a fit of its own
LEVELS = ("cell", "campaign x placement", "placement", "all")


def _fits(imps: np.ndarray, y: np.ndarray, scales: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-negative (b, a) and the sum of squared errors for each scale s.

    Two unknowns: the unconstrained least squares where both are >= 0, else the
    better of the two one-column fits (the NNLS solution, in closed form).
    """
    f = -np.expm1(-imps[None, :] / np.asarray(scales, float)[:, None])
    n, sy = len(y), y.sum()
    sf, ff, fy = f.sum(axis=1), (f * f).sum(axis=1), f @ y
    det = n * ff - sf * sf
    ok = det > 1e-12 * np.maximum(n * ff, 1e-300)
    safe = np.where(ok, det, 1.0)
    b = np.where(ok, (ff * sy - sf * fy) / safe, -1.0)
    a = np.where(ok, (n * fy - sf * sy) / safe, -1.0)
    both = (b >= 0) & (a >= 0)
    b_only, a_only = max(sy / n, 0.0), np.where(ff > 0, np.maximum(fy, 0) / np.where(
        ff > 0, ff, 1.0), 0.0)
    err_b = float(((y - b_only) ** 2).sum())
    err_a = (y @ y) - 2 * a_only * fy + a_only**2 * ff
    use_b = err_b <= err_a
    b = np.where(both, b, np.where(use_b, b_only, 0.0))
    a = np.where(both, a, np.where(use_b, 0.0, a_only))
    err = ((y[None, :] - b[:, None] - a[:, None] * f) ** 2).sum(axis=1)
    return b, a, err


def _sse_fit(imps: np.ndarray, y: np.ndarray, s: float) -> tuple[float, float, float]:
    """Non-negative (b, a) for scale s, and the sum of squared errors."""
    b, a, err = _fits(imps, y, np.array([s]))
    return float(b[0]), float(a[0]), float(err[0])


def fit_one(imps: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """b, a, s of b + a (1 - exp(-I/s)) by least squares, and R^2 (NaN when y never varies).

    Parameters
    ----------
    imps, y : ndarray
        Impressions and outcome of each point (same length, impressions > 0
        somewhere).

    Returns
    -------
    b, a, s, r2 : float
    """
    imps, y = np.asarray(imps, float), np.asarray(y, float)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    top = float(imps.max())
    if ss_tot == 0 or top <= 0:
        # a metric that never varies: a constant, nothing to explain
        return float(y.mean()), 0.0, max(top, 1.0), float("nan")
    scale = max(top, 1e-12)

    def sse(log_s: float) -> float:
        return _sse_fit(imps, y, float(np.exp(log_s)))[2]

    grid = np.log(scale) + np.linspace(np.log(0.02), np.log(100.0), 40)
    i = int(np.argmin(_fits(imps, y, np.exp(grid))[2]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    log_s = minimize_scalar(sse, bounds=(lo, hi), method="bounded").x if hi > lo else grid[i]
    s = float(np.exp(log_s))
    b, a, err = _sse_fit(imps, y, s)
    return b, a, s, 1.0 - err / ss_tot


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(((y - y.mean()) ** 2).sum())
    if len(y) < 3 or ss_tot == 0:
        return float("nan")
    return 1.0 - float(((y - pred) ** 2).sum()) / ss_tot


def _distinct(imps: np.ndarray) -> int:
    return int(np.unique(imps[imps > 0]).size)


def fit_curves(aggregates: pd.DataFrame, positions: int = 5, *,
               users: float | dict | None = None, min_points: int = MIN_POINTS
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit saturating curves with a base term per (campaign x) segment x placement.

    Parameters
    ----------
    aggregates : DataFrame
        segment, spend, impressions and at least one of clicks, conversions,
        revenue; optional campaign_id, placement_id (default "all"), period
        (without it each row is one unit, e.g. an ad, of its cell in one
        period) and users. Format: ``docs/curves.md``.
    positions : int
        Number of positions k written per cell.
    users : float or dict, optional
        The audience size: one number for every cell, or a mapping segment ->
        users. Overrides a ``users`` column. Default: the column, else the
        cell's historical impressions (one impression per user; its largest
        period's when it had none in the historical one).
    min_points : int
        Distinct impression levels a cell needs to be fitted on its own;
        below, it is pooled toward a coarser level.

    Returns
    -------
    curves : DataFrame
        A curves table (see `adopt.optimize.curves`) with, per cell, the
        observed and historical figures, the base and the fit quality as
        extra columns (``observed_spend``, ``historical_<metric>``,
        ``base_<metric>``, ``r2_<metric>``, ``fit_level``, ...).
    fit : DataFrame
        One row per cell x metric: b (base per unit), a, s, r2 (NaN where the
        metric never varies or a pooled cell has under 3 points), points,
        units, level (cell, a coarser level, or skipped) and reason.

    Raises
    ------
    InputError
        A missing column, a missing id, a negative or non-numeric number
        (naming the 1-based data row), or no cell that can be fitted.
    """
    if positions < 1:
        raise InputError(TABLE, "positions", f"must be >= 1, got {positions}")
    if min_points < 2:
        raise InputError(TABLE, "min_points", f"must be >= 2, got {min_points}")
    cells = aggregate_points(aggregates, users)
    metrics = [m for m in METRICS if cells.metrics_given[m]]
    parents: dict[tuple, tuple | None] = {}

    def parent_fit(level: int, key: tuple, m: str) -> tuple | None:
        if (level, key, m) not in parents:
            pts = cells.points_at(level, key)
            ok = _distinct(pts["impressions"].to_numpy()) >= min_points
            parents[(level, key, m)] = (fit_one(pts["impressions"].to_numpy(),
                                                pts[m].to_numpy()) if ok else None)
        return parents[(level, key, m)]

    curves, fits = [], []
    k = np.arange(1, positions + 1)
    for cell in cells:
        row = cell.curve_row(k)
        imps = cell.points["impressions"].to_numpy()
        n = cell.units
        found = {}
        for m in METRICS:
            y = cell.points[m].to_numpy() if m in metrics else np.zeros(len(imps))
            found[m] = _fit_cell(cell, imps, y, min_points, parent_fit, m)
        level = found[METRICS[0]][0]
        if level == "skipped":
            row["users"] = 0.0
        u = row["users"]
        weights = cell.weights()
        for m, (level, reason, (b, a, s, r2)) in found.items():
            cum = a * -np.expm1(-np.outer(np.arange(positions + 1) * u, weights) / s).sum(axis=1)
            row[m] = np.zeros(positions) if u <= 0 else np.diff(cum) / u
            row[f"base_{m}"] = b * n if level != "skipped" else cell.historical[m]
            row[f"r2_{m}"] = r2
            fits.append({"campaign_id": cell.key[0], "segment": cell.key[1],
                         "placement_id": cell.key[2], "metric": m, "b": b, "a": a, "s": s,
                         "r2": r2, "points": len(imps), "units": n, "level": level,
                         "reason": reason})
        row["fit_level"] = level
        row["fit_points"] = len(imps)
        curves.extend({name: (value[j] if isinstance(value, np.ndarray) else value)
                       for name, value in row.items()} for j in range(positions))
    fit = pd.DataFrame(fits)
    if (fit["level"] == "skipped").all():
        raise InputError(TABLE, "impressions", "no cell could be fitted: "
                         f"{fit['reason'].iloc[0]}")
    return pd.DataFrame(curves), fit


def _fit_cell(cell: CellPoints, imps: np.ndarray, y: np.ndarray, min_points: int,
              parent_fit, m: str) -> tuple[str, str, tuple[float, float, float, float]]:
    """The cell's (b, a, s, r2): its own fit, a pooled shape with its own level, or skipped."""
    if not (imps > 0).any():
        return "skipped", "no impressions observed: spend cannot be tied to outcome", \
            (0.0, 0.0, 1.0, float("nan"))
    distinct = _distinct(imps)
    if distinct >= min_points:
        return "cell", "", fit_one(imps, y)
    for level in (1, 2, 3):
        shape = parent_fit(level, cell.parent_key(level), m)
        if shape is None:
            continue
        b, a, s, _ = shape
        pred = b + a * -np.expm1(-imps / s)
        total = float(pred.sum())
        lam = float(y.sum()) / total if total > 0 else 0.0
        reason = (f"{distinct} impression level(s) < {min_points}: shape of its "
                  f"{LEVELS[level]}, level of its own (x{lam:.3g})")
        return LEVELS[level], reason, (lam * b, lam * a, s, _r2(y, lam * pred))
    return "skipped", (f"{distinct} impression level(s) < {min_points} and no coarser level "
                       f"with {min_points}"), (0.0, 0.0, 1.0, float("nan"))
