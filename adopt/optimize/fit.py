"""Saturating curves fitted to aggregate performance, written as a curves table.

Data flow: planners without logs bring one row per segment x placement x
period (spend, impressions, clicks, conversions, revenue); `fit_curves` fits
metric(I) = a * (1 - exp(-I / s)) to each segment x placement (exponential
saturation in impressions I, least squares: a in closed form, s by a search
over a log grid refined by golden section) and cuts it into a curves table.
With U users, the k-th impression per user covers impressions ((k-1)U, kU],
so its value per user is a/U * (exp(-(k-1)U/s) - exp(-kU/s)). U is the
``users`` column when given, else the fitted clicks scale s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from adopt.exceptions import InputError

TABLE = "aggregates"
REQUIRED = ("segment", "placement_id", "period", "spend", "impressions", "clicks",
            "conversions", "revenue")
METRICS = ("clicks", "conversions", "revenue")


def _fit_one(imps: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares a, s of a * (1 - exp(-I/s)) and the fit's R^2."""
    top = float(imps.max())

    def sse(log_s: float) -> float:
        f = -np.expm1(-imps / np.exp(log_s))
        a = float(f @ y / max(f @ f, 1e-300))
        return float(((y - a * f) ** 2).sum())

    grid = np.log(top) + np.linspace(np.log(0.02), np.log(100.0), 40)
    i = int(np.argmin([sse(g) for g in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    log_s = minimize_scalar(sse, bounds=(lo, hi), method="bounded").x if hi > lo else grid[i]
    s = float(np.exp(log_s))
    f = -np.expm1(-imps / s)
    a = float(f @ y / max(f @ f, 1e-300))
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - sse(log_s) / ss_tot if ss_tot > 0 else 1.0
    return a, s, r2


def fit_curves(aggregates: pd.DataFrame, positions: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit saturating curves per (campaign x) segment x placement.

    Parameters
    ----------
    aggregates : DataFrame
        segment, placement_id, period, spend, impressions, clicks, conversions,
        revenue; optional campaign_id (default "all") and users.
    positions : int
        Number of positions k written per cell.

    Returns
    -------
    curves : DataFrame
        A curves table (see `adopt.optimize.curves`).
    fit : DataFrame
        One row per cell x metric: a, s, r2 (how good the fit is), periods.

    Raises
    ------
    InputError
        A missing column, a negative or missing number, or a cell with fewer
        than 2 periods of distinct impressions.
    """
    if positions < 1:
        raise InputError(TABLE, "positions", f"must be >= 1, got {positions}")
    for col in REQUIRED:
        if col not in aggregates.columns:
            raise InputError(TABLE, col, f"required column is missing (required: {list(REQUIRED)})")
    df = aggregates.reset_index(drop=True)  # labels: input positions (errors: 1-based rows)
    if "campaign_id" not in df.columns:
        df["campaign_id"] = "all"
    for col in REQUIRED[3:]:
        v = pd.to_numeric(df[col], errors="coerce")
        bad = (v.isna() | (v < 0)).to_numpy()
        if bad.any():
            row = df.index[np.flatnonzero(bad)[0]]
            raise InputError(
                TABLE, col, f"needs a number >= 0, got {df[col].loc[row]!r}", int(row) + 1
            )
        df[col] = v.astype(float)
    curves, fits = [], []
    for (c, s, p), g in df.groupby(["campaign_id", "segment", "placement_id"], sort=True):
        imps = g["impressions"].to_numpy()
        if np.unique(imps).size < 2:
            raise InputError(TABLE, "impressions", f"cell {c}/{s}/{p} needs at least 2 periods "
                             "with different impressions to fit a curve", int(g.index[0]) + 1)
        params = {m: _fit_one(imps, g[m].to_numpy()) for m in METRICS}
        users = float(g["users"].max()) if "users" in g.columns else params["clicks"][1]
        cpi = float(g["spend"].sum() / max(g["impressions"].sum(), 1e-300))
        k = np.arange(1, positions + 1)
        row = {"campaign_id": c, "segment": s, "placement_id": p, "k": k,
               "users": users, "cost_per_impression": cpi}
        for m, (a, scale, r2) in params.items():
            row[m] = a / users * (np.exp(-(k - 1) * users / scale) - np.exp(-k * users / scale))
            fits.append({"campaign_id": c, "segment": s, "placement_id": p, "metric": m,
                         "a": a, "s": scale, "r2": r2, "periods": len(g)})
        curves.append(pd.DataFrame(row))
    return pd.concat(curves, ignore_index=True), pd.DataFrame(fits)
