"""Aggregate performance exports read and mapped to the points a curve is fitted to.

Data flow: a planner's export (one row per ad, ad set or segment x placement
[x period]: spend, impressions, clicks, conversions, revenue) ->
`aggregate_points` (validated, one `CellPoints` per campaign x segment x
placement) -> `adopt.optimize.fit.fit_curves`.

The mapping (``docs/curves.md``):

- with a ``period`` column, the rows of a cell in one period are added up: one
  point per cell x period, one unit; the historical allocation is the latest
  period, the observed maximum the largest period;
- without ``period`` (a cross-sectional export, e.g. one row per ad), every
  row is one unit of its cell in the same single period: one point per row;
  the historical allocation and the observed maximum are the cell's totals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adopt.exceptions import InputError

TABLE = "aggregates"
METRICS = ("clicks", "conversions", "revenue")
REQUIRED = ("segment", "spend", "impressions")
IDS = ("campaign_id", "segment", "placement_id")


@dataclass
class CellPoints:
    """One cell's points and history.

    Attributes
    ----------
    key : tuple
        (campaign_id, segment, placement_id).
    points : DataFrame
        impressions, spend and the metrics, one row per unit (or period).
    units : int
        Units the cell's impressions are spread over (rows of an export
        without period; 1 with periods).
    historical : dict
        spend, impressions and the metrics of the historical period.
    observed_spend, observed_impressions : float
        The largest spend (impressions) a period saw in the cell.
    users : float
        The audience size used for the curve's positions.
    users_source : str
        Where `users` came from.
    """

    key: tuple
    points: pd.DataFrame
    units: int
    historical: dict
    observed_spend: float
    observed_impressions: float
    users: float
    users_source: str

    def weights(self) -> np.ndarray:
        """Each unit's share of the cell's impressions (one unit with periods)."""
        imps = self.points["impressions"].to_numpy(float)
        if self.units == 1 or imps.sum() <= 0:
            return np.ones(1)
        return imps / imps.sum()

    def parent_key(self, level: int) -> tuple:
        """The key of the coarser level: 1 campaign x placement, 2 placement, 3 all."""
        return {1: (self.key[0], self.key[2]), 2: (self.key[2],), 3: ()}[level]

    def curve_row(self, k: np.ndarray) -> dict:
        """The columns of the cell's curve rows other than the metrics."""
        imps = float(self.points["impressions"].sum())
        cpi = float(self.points["spend"].sum()) / imps if imps > 0 else 0.0
        row = {"campaign_id": self.key[0], "segment": self.key[1], "placement_id": self.key[2],
               "k": k, "users": self.users, "cost_per_impression": cpi,
               "observed_spend": self.observed_spend,
               "observed_impressions": self.observed_impressions,
               "historical_spend": self.historical["spend"],
               "historical_impressions": self.historical["impressions"],
               "fit_units": self.units, "users_source": self.users_source}
        for m in METRICS:
            row[f"historical_{m}"] = self.historical[m]
        return row


@dataclass
class AggregatePoints:
    """Every cell's points, and which metrics the export had."""

    cells: list[CellPoints]
    metrics_given: dict[str, bool]
    periods: bool
    _by_level: dict = field(default_factory=dict)

    def __iter__(self) -> Iterator[CellPoints]:
        return iter(self.cells)

    def points_at(self, level: int, key: tuple) -> pd.DataFrame:
        """The points of every cell under `key` at a coarser `level` (see `parent_key`)."""
        if level not in self._by_level:
            groups: dict[tuple, list[pd.DataFrame]] = {}
            for c in self.cells:
                groups.setdefault(c.parent_key(level), []).append(c.points)
            self._by_level[level] = {k: pd.concat(v, ignore_index=True)
                                     for k, v in groups.items()}
        return self._by_level[level][key]


def _numbers(df: pd.DataFrame, col: str) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(TABLE, col, f"needs a finite number >= 0, got {df[col].iloc[i]!r}",
                         i + 1)
    return values


def _period_order(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values
    parsed = pd.to_datetime(values.astype(str), errors="coerce", format="mixed")
    return parsed if parsed.notna().all() else values.astype(str)


def _users_of(users: float | Mapping | None, segment: str) -> float | None:
    if users is None:
        return None
    if isinstance(users, Mapping):
        if segment not in users:
            raise InputError(TABLE, "users", f"the audience sizes name no segment {segment!r} "
                             f"(given for {sorted(map(str, users))[:5]})")
        value = users[segment]
    else:
        value = users
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) \
            or value <= 0:
        raise InputError(TABLE, "users", f"an audience size must be a positive number, got "
                         f"{value!r} for segment {segment!r}")
    return float(value)


def aggregate_points(aggregates: pd.DataFrame, users: float | Mapping | None = None
                     ) -> AggregatePoints:
    """Validate an aggregates table and group it into cells of points.

    Parameters
    ----------
    aggregates : DataFrame
        See the module docstring and ``docs/curves.md``.
    users : float or mapping, optional
        The audience size (one number, or segment -> users); overrides a
        ``users`` column. Default: the column, else the cell's historical
        impressions (one impression per user; its largest period's when it
        had none in the historical one).

    Returns
    -------
    AggregatePoints

    Raises
    ------
    InputError
        Naming the column and the 1-based data row: a missing column or id,
        a number that is missing, negative or not a number, no metric column.
    """
    if len(aggregates) == 0:
        raise InputError(TABLE, None, "the table is empty")
    for col in REQUIRED:
        if col not in aggregates.columns:
            raise InputError(TABLE, col, f"required column is missing (required: "
                             f"{list(REQUIRED)} and at least one of {list(METRICS)})")
    given = {m: m in aggregates.columns for m in METRICS}
    if not any(given.values()):
        raise InputError(TABLE, None, f"needs at least one outcome column of {list(METRICS)}")
    df = pd.DataFrame(index=range(len(aggregates)))
    for col in IDS:
        if col in aggregates.columns:
            ids = aggregates[col].reset_index(drop=True)
            if ids.isna().any():
                raise InputError(TABLE, col, "missing id", int(np.flatnonzero(ids.isna())[0]) + 1)
            df[col] = ids.astype(str)
        else:
            df[col] = "all"
    numeric = ["spend", "impressions", *(m for m in METRICS if given[m])]
    if "users" in aggregates.columns:
        numeric.append("users")
    for col in numeric:
        df[col] = _numbers(aggregates.reset_index(drop=True), col)
    for m in METRICS:
        if not given[m]:
            df[m] = 0.0
    periods = "period" in aggregates.columns
    if periods:
        per = aggregates["period"].reset_index(drop=True)
        if per.isna().any():
            raise InputError(TABLE, "period", "missing period", int(np.flatnonzero(per.isna())[0])
                             + 1)
        df["period"] = _period_order(per)
    value_cols = ["spend", "impressions", *METRICS, *(["users"] if "users" in df else [])]
    cells = []
    for key, g in df.groupby(list(IDS), sort=True):
        if periods:
            by = g.groupby("period", sort=True)[value_cols].sum()
            pts = by.reset_index(drop=True)
            hist = by.iloc[-1] if by.index[-1] == df["period"].max() else by.iloc[-1] * 0
            obs_spend, obs_imps = float(by["spend"].max()), float(by["impressions"].max())
            col_users = float(by["users"].max()) if "users" in by else None
            units = 1
        else:
            pts = g[value_cols].reset_index(drop=True)
            hist = pts.sum()
            obs_spend, obs_imps = float(hist["spend"]), float(hist["impressions"])
            col_users = float(hist["users"]) if "users" in pts else None
            units = len(pts)
        given_users = _users_of(users, str(key[1]))
        if given_users is not None:
            u, source = given_users, "given"
        elif col_users is not None and col_users > 0:
            u, source = col_users, "users column"
        elif hist["impressions"] > 0:
            u, source = float(hist["impressions"]), "assumed: historical impressions, one a user"
        else:
            u, source = obs_imps, "assumed: largest impressions observed, one a user"
        cells.append(CellPoints(
            key=tuple(str(k) for k in key), points=pts, units=units,
            historical={c: float(hist[c]) for c in ("spend", "impressions", *METRICS)},
            observed_spend=obs_spend, observed_impressions=obs_imps, users=u,
            users_source=source))
    return AggregatePoints(cells, given, periods)
