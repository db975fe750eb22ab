"""Curves for planners without logs: saturating curves fitted to aggregate performance.

Data flow: a Parquet/CSV file with one row per (campaign x) segment x
placement x period (spend, impressions, clicks, conversions, revenue,
optional users) -> `adopt.optimize.fit_curves` -> a curves table written
atomically to `out` (Parquet or CSV by its suffix) + the fit table (a, s, r2
per cell and metric), whose quality is reported: ``adopt curves --aggregates
perf.csv --out curves.parquet``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from adopt.exceptions import InputError, ParameterError
from adopt.optimize import fit_curves, validate_curves
from adopt.optimize.curves import read_table
from adopt.workspace import atomic_path

POOR_FIT = 0.5  # r2 below this: the curve explains less than half of the variation


def fit_report(fit: pd.DataFrame, poor: float = POOR_FIT) -> str:
    """The fit quality in words: r2 per cell and metric, poor fits flagged."""
    cells = fit[["campaign_id", "segment", "placement_id"]].drop_duplicates().shape[0]
    lines = [f"fitted {cells} cells; r2 median {fit['r2'].median():.3f}, "
             f"min {fit['r2'].min():.3f}",
             f"  {'campaign':<12}{'segment':<16}{'placement':<18}{'metric':<13}{'r2':>8}"
             f"{'periods':>9}"]
    for row in fit.sort_values("r2").itertuples(index=False):
        flag = "  POOR FIT" if row.r2 < poor else ""
        lines.append(f"  {row.campaign_id!s:<12}{row.segment!s:<16}{row.placement_id!s:<18}"
                     f"{row.metric:<13}{row.r2:>8.3f}{row.periods:>9}{flag}")
    n_poor = int((fit["r2"] < poor).sum())
    if n_poor:
        lines.append(f"{n_poor} fit(s) with r2 < {poor}: those curves are guesses; bring more "
                     "periods with different spend levels")
    return "\n".join(lines)


def curves_from_aggregates(path: str | os.PathLike[str], out: str | os.PathLike[str],
                           positions: int = 5, *, verbose: bool = True
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit curves to aggregate performance and write them as a curves table.

    Parameters
    ----------
    path : path
        Aggregates, Parquet or CSV: segment, placement_id, period, spend,
        impressions, clicks, conversions, revenue; optional campaign_id and users.
    out : path
        The curves file to write (``.parquet`` or ``.csv``), atomically.
    positions : int
        Positions k per cell.
    verbose : bool
        Print the fit quality (`fit_report`).

    Returns
    -------
    curves, fit : DataFrame
        The curves table and the fit table (a, s, r2, periods per cell x metric).

    Raises
    ------
    InputError
        Bad aggregates (see `adopt.optimize.fit_curves`) or an unknown suffix.
    """
    if positions < 1:
        raise ParameterError("The 'positions' parameter of curves_from_aggregates must be at "
                             f"least 1. Got {positions} instead.")
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError("curves", None, f"output file {out} must end in .parquet or .csv")
    curves, fit = fit_curves(read_table(str(path), "aggregates"), positions=positions)
    curves = validate_curves(curves)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            curves.to_csv(tmp, index=False)
        else:
            curves.to_parquet(tmp, index=False)
    if verbose:
        print(fit_report(fit))
    return curves, fit
