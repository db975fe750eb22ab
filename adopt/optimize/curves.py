"""The curves table contract: validation and the dense cell x position grid.

Data flow: the curve stage (or a planner) writes the curves table, one row per
campaign x segment x placement x k (the k-th impression a user receives there).
This module checks it against the contract and turns it into a `CurveGrid`,
the array form every solver in `adopt.optimize` reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adopt.exceptions import InputError

TABLE = "curves"
KEY = ("campaign_id", "segment", "placement_id", "k")
NUMERIC = ("users", "cost_per_impression", "clicks", "conversions", "revenue")
REQUIRED = KEY + NUMERIC
METRICS = ("clicks", "conversions", "revenue")


def _bad_row(df: pd.DataFrame, mask: np.ndarray) -> int:
    """The index label (the 0-based input position) of the first row where `mask` holds."""
    return int(df.index[np.flatnonzero(mask)[0]])


def validate_curves(df: pd.DataFrame, table: str = TABLE) -> pd.DataFrame:
    """Check a curves table against the contract and return a clean, sorted copy.

    Parameters
    ----------
    df : DataFrame
        Columns campaign_id, segment, placement_id, k, users (segment users
        reachable there), cost_per_impression and clicks, conversions, revenue
        (expected per user for the k-th impression). Optional: segment_users
        (users of the campaign x segment across placements), ad_id (creative),
        any other column (e.g. ``clicks_lo``/``clicks_hi``) passes through.
    table : str
        Table name used in error messages.

    Returns
    -------
    DataFrame
        Ids as text, k as int, numbers as float, sorted by the key.

    Raises
    ------
    InputError
        Naming the column and an example row: a missing column, an empty table,
        a non-numeric, missing or negative value, k not 1, 2, ... without gaps
        in a cell, a duplicated key.
    """
    if len(df) == 0:
        raise InputError(table, None, "the table is empty; it needs one row per cell x k")
    for col in REQUIRED:
        if col not in df.columns:
            raise InputError(table, col, f"required column is missing (required: {list(REQUIRED)})")
    out = df.reset_index(drop=True)  # labels: input positions; errors report them 1-based
    for col in KEY[:3]:
        if out[col].isna().any():
            row = _bad_row(out, out[col].isna().to_numpy())
            raise InputError(table, col, "missing id", row + 1)
        out[col] = out[col].astype(str)
    for col in ("k", *NUMERIC, *(c for c in ("segment_users",) if c in out.columns)):
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            row = _bad_row(out, bad)
            raise InputError(
                table, col, f"needs a finite number, got {out[col].loc[row]!r}", row + 1
            )
        if (values < 0).any():
            row = _bad_row(out, (values < 0).to_numpy())
            raise InputError(table, col, f"must be >= 0, got {values.loc[row]}", row + 1)
        out[col] = values.astype(float)
    if (out["k"] != np.floor(out["k"])).any() or (out["k"] < 1).any():
        row = _bad_row(out, ((out["k"] != np.floor(out["k"])) | (out["k"] < 1)).to_numpy())
        raise InputError(table, "k", f"must be an integer >= 1, got {out['k'].loc[row]}", row + 1)
    out["k"] = out["k"].astype(np.int64)
    dup = out.duplicated(list(KEY)).to_numpy()
    if dup.any():
        raise InputError(table, "k", f"duplicate {list(KEY)}", _bad_row(out, dup) + 1)
    out = out.sort_values(list(KEY), kind="stable")
    rank = out.groupby(list(KEY[:3]), sort=False).cumcount().to_numpy() + 1
    gap = out["k"].to_numpy() != rank
    if gap.any():
        raise InputError(
            table, "k", "each cell needs k = 1, 2, ... without gaps", _bad_row(out, gap) + 1
        )
    return out


@dataclass(frozen=True)
class CurveGrid:
    """The curves as dense arrays: one row per cell (campaign x segment x placement).

    Attributes
    ----------
    cells : DataFrame
        campaign_id, segment, placement_id, users, segment_users and, when
        given, ad_id; row j describes cell j.
    cpi, clicks, conversions, revenue : ndarray, shape (n_cells, K)
        Per user values of the k-th impression (cost per impression for cpi);
        0 beyond a cell's last k.
    depth : ndarray of int, shape (n_cells,)
        Number of positions k the table gives for the cell.
    """

    cells: pd.DataFrame
    cpi: np.ndarray
    clicks: np.ndarray
    conversions: np.ndarray
    revenue: np.ndarray
    depth: np.ndarray

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def K(self) -> int:  # noqa: N802 - the paper's name for the number of positions
        return self.cpi.shape[1]

    @property
    def users(self) -> np.ndarray:
        return self.cells["users"].to_numpy(dtype=float)

    def metric(self, name: str) -> np.ndarray:
        """Per user value of each position for clicks, conversions or revenue."""
        return getattr(self, name)


def build_grid(curves: pd.DataFrame) -> CurveGrid:
    """Validate a curves table and turn it into a `CurveGrid`.

    Parameters
    ----------
    curves : DataFrame
        A table that follows the curves contract (see `validate_curves`).

    Returns
    -------
    CurveGrid
    """
    df = validate_curves(curves)
    cell_cols = list(KEY[:3])
    cell_id = df.groupby(cell_cols, sort=False).ngroup().to_numpy()
    first = np.r_[True, cell_id[1:] != cell_id[:-1]]
    head = df.loc[first]
    users = df.groupby(cell_id)["users"].max().to_numpy()
    cells = head[cell_cols].reset_index(drop=True)
    cells["users"] = users
    seg_key = [cells["campaign_id"], cells["segment"]]
    if "segment_users" in df.columns:
        cells["segment_users"] = df.groupby(cell_id)["segment_users"].max().to_numpy()
    else:
        # Placements share one segment's audience, so the segment holds at least
        # as many users as its largest placement reaches.
        cells["segment_users"] = cells.groupby(seg_key)["users"].transform("max").to_numpy()
    if "ad_id" in df.columns:
        cells["ad_id"] = head["ad_id"].astype(str).to_numpy()
    if "observed_spend" in df.columns:
        # curves fitted to aggregates: the largest spend a period saw (the guard rail's anchor)
        observed = pd.to_numeric(df["observed_spend"], errors="coerce")
        cells["observed_spend"] = observed.groupby(cell_id).max().to_numpy(float)
    k = df["k"].to_numpy() - 1
    K = int(k.max()) + 1  # noqa: N806
    arrays = {}
    for col in ("cost_per_impression", *METRICS):
        grid = np.zeros((len(cells), K))
        grid[cell_id, k] = df[col].to_numpy()
        arrays[col] = grid
    depth = np.bincount(cell_id, minlength=len(cells))
    return CurveGrid(
        cells=cells,
        cpi=arrays["cost_per_impression"],
        clicks=arrays["clicks"],
        conversions=arrays["conversions"],
        revenue=arrays["revenue"],
        depth=depth,
    )


def curves_digest(curves: pd.DataFrame) -> str:
    """The sha256 of a curves table's rows, as plan.json's ``inputs.curves_hash`` holds it
    (of the table the plan was made from, restricted to its campaigns)."""
    rows = pd.util.hash_pandas_object(curves, index=False).values.tobytes()
    return hashlib.sha256(rows).hexdigest()


def read_table(path: str, table: str) -> pd.DataFrame:
    """Read a Parquet or CSV file (by its suffix) as a DataFrame."""
    if str(path).lower().endswith(".csv"):
        return pd.read_csv(path)
    if str(path).lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    raise InputError(table, None, f"file {path!s} must end in .parquet or .csv")
