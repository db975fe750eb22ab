"""Baseline allocations a plan is compared with, and the value of any allocation on any curves.

Data flow: a curves table (the model's, or the demo world's true curves) +
a budget -> `uniform_allocation` (the budget spread evenly over cells) or
`historical_allocation` (the logging policy's mix from the logs, scaled to
the budget) -> an allocation table with the optimizer's columns (see
`adopt.optimize.result`) -> `evaluate_allocation` on any curves -> spend,
impressions, reach, clicks, conversions, revenue. The report and
`adopt.scoring` put these beside the optimized plan.

An allocation row says how many users of a cell receive how many
impressions. `evaluate_allocation` reads per-position shares ``x_1..x_K``
when the table has them; otherwise it rebuilds them from ``impressions`` and
``reach`` (or ``frequency_cap`` when reach is missing) as the optimizer's
plans are shaped: every reached user gets the first ``impressions // reach``
positions, and the remainder goes to the next position.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd

from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize.curves import METRICS, CurveGrid, build_grid
from adopt.optimize.result import cell_outcomes
from adopt.warehouse import has_table
from adopt.workspace import Workspace

CELL = ["campaign_id", "segment", "placement_id"]
DEFAULT_CAP = 3  # impressions per user: a common default frequency cap in display buying


def _check_budget(name: str, budget: float) -> None:
    if not np.isfinite(budget) or budget <= 0:
        raise ParameterError(f"The 'budget' parameter of {name} must be a positive number. "
                             f"Got {budget} instead.")


def _inventory(grid: CurveGrid, placements: pd.DataFrame | None) -> np.ndarray:
    """Inventory of each cell's placement (inf when not given)."""
    if placements is None:
        return np.full(grid.n_cells, np.inf)
    inv = placements.set_index(placements["placement_id"].astype(str))["inventory"]
    return inv.reindex(grid.cells["placement_id"]).fillna(np.inf).to_numpy(float)


def _fill(grid: CurveGrid, base: np.ndarray, budget: float, inventory: np.ndarray,
          scale: Callable[[np.ndarray, float], np.ndarray]) -> np.ndarray:
    """Shares x = scale(base, t), limited by inventory, with t bisected so spend = budget.

    `scale` must grow with t; placements over their inventory are scaled down
    as a whole. When even the largest t spends less than the budget, that
    plan is returned (the cells cannot absorb more).
    """
    users = grid.users
    pl_codes, names = pd.factorize(grid.cells["placement_id"])
    inv = np.full(len(names), np.inf)
    np.minimum.at(inv, pl_codes, inventory)

    def shares(t: float) -> np.ndarray:
        x = scale(base, t)
        imps = np.bincount(pl_codes, weights=users * x.sum(axis=1), minlength=len(names))
        factor = np.divide(inv, imps, out=np.ones_like(imps), where=imps > inv)
        return x * np.minimum(factor, 1.0)[pl_codes][:, None]

    def spend(t: float) -> float:
        return float((users[:, None] * grid.cpi * shares(t)).sum())

    lo, hi = 0.0, 1.0
    while spend(hi) < budget and hi < 1e12:
        hi *= 2.0
    if spend(hi) < budget:
        return shares(hi)
    for _ in range(100):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if spend(mid) < budget else (lo, mid)
    return shares(hi)


def allocation_frame(grid: CurveGrid, x: np.ndarray, tol: float = 1e-12) -> pd.DataFrame:
    """An allocation table (optimizer columns plus ``x_1..x_K``) from per-position shares."""
    out = cell_outcomes(grid, x, tol)
    for k in range(grid.K):
        out[f"x_{k + 1}"] = x[:, k]
    return out.loc[out["impressions"] > 0].reset_index(drop=True)


def uniform_allocation(curves: pd.DataFrame, budget: float,
                       placements: pd.DataFrame | None = None, cap: int = DEFAULT_CAP
                       ) -> pd.DataFrame:
    """The budget spread evenly over every cell, each reached user getting `cap` impressions.

    Parameters
    ----------
    curves : DataFrame
        A curves table (cells, positions, costs).
    budget : float
        Total spend.
    placements : DataFrame, optional
        placement_id, inventory: a placement's cells are scaled down together
        to fit; the budget they cannot use goes to the other cells.
    cap : int
        Impressions per reached user (fewer where a cell has fewer positions).

    Returns
    -------
    DataFrame
        The allocation (see `allocation_frame`). Spend equals the budget
        unless every cell is full or every placement's inventory is used.
    """
    _check_budget("uniform_allocation", budget)
    if cap < 1:
        raise ParameterError(f"The 'cap' parameter of uniform_allocation must be at least 1. "
                             f"Got {cap} instead.")
    grid = build_grid(curves)
    positions = (np.arange(grid.K)[None, :] < np.minimum(cap, grid.depth)[:, None]).astype(float)
    full_cost = grid.users * (grid.cpi * positions).sum(axis=1)  # spend to reach every user

    def scale(base: np.ndarray, t: float) -> np.ndarray:
        share = np.minimum(1.0, np.divide(t, full_cost, out=np.ones_like(full_cost),
                                          where=full_cost > 0))
        return base * share[:, None]

    x = _fill(grid, positions, budget, _inventory(grid, placements), scale)
    return allocation_frame(grid, x)


_HISTORY_SQL = """
with per_user as (
    select i.campaign_id, a.segment::varchar as segment, i.placement_id, i.user_id,
        count(*) as n,
    from int_impressions as i
    inner join audiences as a on a.user_id = i.user_id
    group by all
)
select campaign_id, segment, placement_id, r.range as k,
    count(*) filter (where per_user.n >= r.range) as users_at_k,
from per_user
cross join range(1, $max_k + 1) as r
group by all
"""


def historical_counts(workspace: str | os.PathLike[str], max_k: int) -> pd.DataFrame:
    """Logged users with a k-th impression per campaign x segment x placement x k (k <= max_k)."""
    ws = Workspace(workspace)
    if not ws.warehouse.exists():
        raise WorkspaceError(f"No warehouse at {ws.warehouse}; run `adopt ingest` first.")
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        for table in ("int_impressions", "audiences"):
            if not has_table(con, table):
                raise WorkspaceError(f"The warehouse {ws.warehouse} has no table {table!r}; "
                                     "build profiles and segments first.")
        return con.execute(_HISTORY_SQL, {"max_k": int(max_k)}).df()


def historical_allocation(workspace: str | os.PathLike[str], curves: pd.DataFrame,
                          budget: float, placements: pd.DataFrame | None = None
                          ) -> pd.DataFrame:
    """The logging policy's mix of the logs, scaled to the budget.

    Users with a k-th impression per campaign x segment x placement x k
    (counted over the whole log, k up to the curves' depth) are scaled by one
    factor so spend equals the budget; a position never exceeds the cell's
    users and placements over their inventory are scaled down.

    Parameters
    ----------
    workspace : path
        Workspace whose warehouse has the logs and ``audiences``.
    curves : DataFrame
        The curves whose cells and costs price the allocation.
    budget : float
        Total spend.
    placements : DataFrame, optional
        placement_id, inventory.
    """
    _check_budget("historical_allocation", budget)
    grid = build_grid(curves)
    counts = historical_counts(workspace, grid.K)
    key = pd.MultiIndex.from_frame(grid.cells[CELL].astype(str))
    counts["cell"] = key.get_indexer(pd.MultiIndex.from_frame(counts[CELL].astype(str)))
    counts = counts.loc[(counts["cell"] >= 0) & (counts["users_at_k"] > 0)]
    if counts.empty:
        raise InputError("events", "campaign_id", "no logged impression falls in a cell of the "
                         "curves: the historical mix is empty")
    base = np.zeros((grid.n_cells, grid.K))
    base[counts["cell"].to_numpy(), counts["k"].to_numpy() - 1] = counts["users_at_k"].to_numpy()
    base = np.divide(base, grid.users[:, None], out=np.zeros_like(base),
                     where=grid.users[:, None] > 0)
    base[np.arange(grid.K)[None, :] >= grid.depth[:, None]] = 0.0

    x = _fill(grid, base, budget, _inventory(grid, placements),
              lambda b, t: np.minimum(b * t, 1.0))
    return allocation_frame(grid, x)


def allocation_shares(grid: CurveGrid, allocation: pd.DataFrame) -> np.ndarray:
    """Per-position shares x (cells x K) of an allocation on a grid (see the module docstring).

    Raises
    ------
    InputError
        A missing column, or an allocation cell the curves do not have.
    """
    table = "allocation"
    for col in CELL:
        if col not in allocation.columns:
            raise InputError(table, col, f"required column is missing (required: {CELL})")
    key = pd.MultiIndex.from_frame(grid.cells[CELL].astype(str))
    rows = key.get_indexer(pd.MultiIndex.from_frame(allocation[CELL].astype(str)))
    if (rows < 0).any():
        bad = int(np.flatnonzero(rows < 0)[0])
        raise InputError(table, "placement_id", "cell not in the curves: "
                         f"{tuple(allocation[CELL].iloc[bad])}", allocation.index[bad])
    x = np.zeros((grid.n_cells, grid.K))
    users = grid.users[rows]
    xcols = [f"x_{k + 1}" for k in range(grid.K)]
    if all(c in allocation.columns for c in xcols[:1]):
        given = [c for c in xcols if c in allocation.columns]
        x[rows, : len(given)] = allocation[given].to_numpy(float)
        return x
    if "impressions" not in allocation.columns:
        raise InputError(table, "impressions", "needs impressions and reach (or frequency_cap), "
                         "or per-position shares x_1..x_K")
    imps = allocation["impressions"].to_numpy(float)
    if "reach" in allocation.columns:
        reach = allocation["reach"].to_numpy(float)
    elif "frequency_cap" in allocation.columns:
        cap = allocation["frequency_cap"].to_numpy(float)
        reach = np.divide(imps, cap, out=np.zeros_like(imps), where=cap > 0)
    else:
        raise InputError(table, "reach", "needs reach or frequency_cap beside impressions")
    per_user = np.divide(imps, reach, out=np.zeros_like(imps), where=reach > 0)
    ks = np.arange(1, grid.K + 1)[None, :]
    # positions 1..floor(per_user) at the reached share, the remainder on the next one
    whole = np.clip(per_user[:, None] - (ks - 1), 0.0, 1.0)
    share = np.divide(reach, users, out=np.zeros_like(reach), where=users > 0)
    np.add.at(x, rows, share[:, None] * whole)
    return x


def evaluate_allocation(curves: pd.DataFrame, allocation: pd.DataFrame) -> dict[str, float]:
    """Spend, impressions, reach, clicks, conversions and revenue of an allocation on curves.

    Parameters
    ----------
    curves : DataFrame
        Any curves table: the model's, or the true curves of a demo world.
        The allocation's ``ad_id`` is not read: the curves' creative counts.
    allocation : DataFrame
        campaign_id, segment, placement_id and either x_1..x_K or
        impressions with reach (or frequency_cap).

    Returns
    -------
    dict
        Totals; reach counts each campaign x segment at most its segment_users.
    """
    grid = build_grid(curves)
    x = allocation_shares(grid, allocation)
    users = grid.users[:, None]
    out = {"spend": float((users * grid.cpi * x).sum()),
           "impressions": float((users * x).sum())}
    seg = grid.cells.groupby(["campaign_id", "segment"], sort=False).ngroup().to_numpy()
    raw = np.bincount(seg, weights=grid.users * x[:, 0])
    cap = grid.cells.groupby(seg)["segment_users"].max().to_numpy()
    out["reach"] = float(np.minimum(raw, cap).sum())
    for m in METRICS:
        out[m] = float((users * grid.metric(m) * x).sum())
    return out
