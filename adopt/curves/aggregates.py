"""Curves for planners without logs: saturating curves fitted to aggregate performance.

Data flow: a Parquet/CSV export with one row per (campaign x) segment x
[placement x] [period] or per ad (spend, impressions, clicks, conversions,
revenue, optional users) -> `adopt.optimize.fit_curves` -> a curves table
written atomically to `out` (Parquet or CSV by its suffix), with the observed
and historical figures the plan's guard rail and historical check read, and
the fit table (b, a, s, r2, level per cell and metric), whose quality is
printed: ``adopt curves --aggregates perf.csv --out curves.parquet``.
The format and the mapping are in ``docs/curves.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from adopt.exceptions import InputError, ParameterError
from adopt.optimize import fit_curves, validate_curves
from adopt.optimize.curves import read_table
from adopt.optimize.fit import MIN_POINTS
from adopt.optimize.observed import POOR_FIT, historical_check
from adopt.workspace import atomic_path


def fit_report(fit: pd.DataFrame, poor: float = POOR_FIT, limit: int = 40) -> str:
    """The fit quality in words: per cell and metric r2, level, poor and skipped fits flagged.

    Parameters
    ----------
    fit : DataFrame
        The fit table of `adopt.optimize.fit_curves`.
    poor : float
        r2 below this is flagged ``POOR FIT``.
    limit : int
        Most rows listed (the worst first); skipped cells are always listed.
    """
    cells = fit[["campaign_id", "segment", "placement_id"]].drop_duplicates().shape[0]
    r2 = pd.to_numeric(fit["r2"], errors="coerce")
    level = fit["level"] if "level" in fit.columns else pd.Series("cell", index=fit.index)
    per_cell = fit.assign(level=level).drop_duplicates(["campaign_id", "segment",
                                                        "placement_id"])["level"]
    head = (f"fitted {cells} cells: {int((per_cell == 'cell').sum())} on their own, "
            f"{int(((per_cell != 'cell') & (per_cell != 'skipped')).sum())} pooled, "
            f"{int((per_cell == 'skipped').sum())} skipped")
    if r2.notna().any():
        head += f"; r2 median {r2.median():.3f}, min {r2.min():.3f}"
    lines = [head, f"  {'campaign':<12}{'segment':<18}{'placement':<14}{'metric':<13}{'r2':>8}"
                   f"{'points':>8}  level"]
    order = fit.assign(_r2=r2.fillna(-1.0)).sort_values("_r2")
    shown = order[(order["_r2"] < poor) | (level.loc[order.index] == "skipped")].head(limit)
    shown = pd.concat([shown, order.drop(shown.index)]).head(max(limit, len(shown)))
    for row in shown.itertuples(index=False):
        value = row.r2
        text = "     nan" if value is None or math.isnan(value) else f"{value:>8.3f}"
        flag = "  POOR FIT" if value is not None and value < poor else ""
        lvl = getattr(row, "level", "cell")
        reason = getattr(row, "reason", "")
        lines.append(f"  {row.campaign_id!s:<12}{row.segment!s:<18}{row.placement_id!s:<14}"
                     f"{row.metric:<13}{text}{getattr(row, 'points', 0):>8}  {lvl}"
                     f"{': ' + reason if reason else ''}{flag}")
    if len(fit) > len(shown):
        lines.append(f"  ... {len(fit) - len(shown)} more rows (the fit table has them all)")
    n_poor = int((r2 < poor).sum())
    if n_poor:
        lines.append(f"{n_poor} fit(s) with r2 < {poor}: those curves are guesses; bring more "
                     "points (periods or units) with different spend levels")
    n_nan = int(r2.isna().sum())
    if n_nan:
        lines.append(f"{n_nan} fit(s) with r2 = nan: the metric never varies there (or a pooled "
                     "cell has under 3 points)")
    return "\n".join(lines)


def audience_sizes(value: float | str | os.PathLike[str] | Mapping | None
                   ) -> float | Mapping | None:
    """The audience-size input: a number, a mapping segment -> users, or a Parquet/CSV of them.

    Raises
    ------
    InputError
        A file without segment and users columns.
    """
    if value is None or isinstance(value, int | float | Mapping):
        return value
    table = read_table(str(value), "users")
    for col in ("segment", "users"):
        if col not in table.columns:
            raise InputError("users", col, "the audience-size file needs segment and users "
                             "columns")
    return dict(zip(table["segment"].astype(str), pd.to_numeric(table["users"], errors="coerce"),
                    strict=True))


def curves_from_aggregates(path: str | os.PathLike[str], out: str | os.PathLike[str],
                           positions: int = 5, *, users: float | str | Mapping | None = None,
                           min_points: int = MIN_POINTS, verbose: bool = True
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit curves to aggregate performance and write them as a curves table.

    Parameters
    ----------
    path : path
        Aggregates, Parquet or CSV: segment, spend, impressions and at least
        one of clicks, conversions, revenue; optional campaign_id,
        placement_id, period and users (``docs/curves.md``).
    out : path
        The curves file to write (``.parquet`` or ``.csv``), atomically. The
        fit table goes beside it as ``<stem>.fit.csv``.
    positions : int
        Positions k per cell.
    users : float, mapping or path, optional
        The audience size: one number, segment -> users, or a Parquet/CSV
        with segment and users. Default: the ``users`` column, else each
        cell's historical impressions (one impression per user), said in the
        fit table.
    min_points : int
        Distinct impression levels a cell needs for a fit of its own.
    verbose : bool
        Print the fit quality (`fit_report`) and the historical check.

    Returns
    -------
    curves, fit : DataFrame
        The curves table and the fit table.

    Raises
    ------
    InputError
        Bad aggregates (see `adopt.optimize.fit_curves`) or an unknown suffix.
    """
    if positions < 1:
        raise ParameterError("The 'positions' parameter of curves_from_aggregates must be at "
                             f"least 1. Got {positions} instead.")
    if min_points < 2:
        raise ParameterError("The 'min_points' parameter of curves_from_aggregates must be at "
                             f"least 2. Got {min_points} instead.")
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError("curves", None, f"output file {out} must end in .parquet or .csv")
    curves, fit = fit_curves(read_table(str(path), "aggregates"), positions=positions,
                             users=audience_sizes(users), min_points=min_points)
    curves = validate_curves(curves)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            curves.to_csv(tmp, index=False)
        else:
            curves.to_parquet(tmp, index=False)
    with atomic_path(out.with_name(out.stem + ".fit.csv")) as tmp:
        fit.to_csv(tmp, index=False)
    if verbose:
        print(fit_report(fit))
        print(historical_check(curves)["text"])
    return curves, fit
