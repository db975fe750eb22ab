"""Baseline exposure profiles a plan is compared with: uniform and the logging policy's.

Data flow: a curves table (the model's, or a world's true curves) + a budget
(+ the placements' inventory) -> `uniform_exposure` (the budget spread evenly
over campaign x segment groups, every reached user getting `cap` impressions
split evenly over the group's placements) or `historical_exposure` (the
logging policy's exposure profile from the logs, scaled to the budget) -> an
exposure table (see `adopt.delivery`), which `adopt.delivery.evaluate_exposure`
forecasts on any curves and `adopt.delivery.deliver` delivers on a truth. The
report and `adopt.scoring` put these beside the optimized plan.

Both keep each reached user's profile (exactly N impressions of the campaign,
the same split over placements) and scale the number of users of a campaign x
segment: never above the segment's users; a placement over its inventory
scales down every group that uses it (by the placement's factor, the smallest
when a group uses several), and the budget this frees goes to the others.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from adopt.delivery import COLUMNS, exposure_outcomes
from adopt.exceptions import InputError, ParameterError
from adopt.optimize.curves import CurveGrid, build_grid
from adopt.workspace import PROFILES_HINT, SEGMENT_HINT, Workspace

CELL = ["campaign_id", "segment", "placement_id"]
PAIR = ["campaign_id", "segment"]
DEFAULT_CAP = 3  # impressions per user: a common default frequency cap in display buying


def _check_budget(name: str, budget: float) -> None:
    if not np.isfinite(budget) or budget <= 0:
        raise ParameterError(f"The 'budget' parameter of {name} must be a positive number. "
                             f"Got {budget} instead.")


def _inventory(placement_ids: pd.Index, placements: pd.DataFrame | None) -> np.ndarray:
    """Inventory of each placement (inf when not given)."""
    if placements is None or "inventory" not in placements.columns:
        return np.full(len(placement_ids), np.inf)
    inv = placements.set_index(placements["placement_id"].astype(str))["inventory"]
    return inv.reindex(placement_ids).fillna(np.inf).to_numpy(float)


def _fill(base: pd.DataFrame, curves: pd.DataFrame, budget: float, limit: np.ndarray,
          placements: pd.DataFrame | None, equal_spend: bool) -> pd.DataFrame:
    """Scale each campaign x segment of `base` by s = min(t * w, limit), t bisected so
    spend = budget, placements over inventory scaling down the groups that use them.

    `base` is an exposure table with a ``pair`` column (the campaign x segment's
    code, 0..n-1) whose users and impressions are those of scale 1. w is 1 / the
    pair's spend at scale 1 when `equal_spend` (t is then each pair's spend),
    else 1 (one factor for all). When even the largest t spends less than the
    budget, that exposure is returned.
    """
    rows = exposure_outcomes(curves, base.drop(columns="pair"))
    pair = base.set_index([*CELL, "frequency"])["pair"].reindex(
        pd.MultiIndex.from_frame(rows[[*CELL, "frequency"]])).to_numpy()
    n_pairs = len(limit)
    cost = np.bincount(pair, weights=rows["spend"].to_numpy(), minlength=n_pairs)
    weight = np.ones(n_pairs)
    if equal_spend:
        weight = np.divide(1.0, cost, out=np.zeros_like(cost), where=cost > 0)
    pl_code, pl_names = pd.factorize(rows["placement_id"])
    inv = _inventory(pd.Index(pl_names), placements)
    imps = rows["impressions"].to_numpy()

    def scales(t: float) -> np.ndarray:
        s = np.minimum(t * weight, limit)
        load = np.bincount(pl_code, weights=s[pair] * imps, minlength=len(pl_names))
        factor = np.divide(inv, load, out=np.ones_like(load), where=load > inv)
        worst = np.ones(n_pairs)
        used = imps > 0
        np.minimum.at(worst, pair[used], factor[pl_code[used]])
        return s * worst

    def spend(t: float) -> float:
        return float((scales(t) * cost).sum())

    lo, hi = 0.0, 1.0
    while spend(hi) < budget and hi < 1e15:
        hi *= 2.0
    if spend(hi) >= budget:
        for _ in range(100):
            mid = (lo + hi) / 2.0
            lo, hi = (mid, hi) if spend(mid) < budget else (lo, mid)
    s = scales(hi)[pair]
    out = rows[list(COLUMNS)].assign(users=rows["users"] * s, impressions=rows["impressions"] * s)
    return out.loc[out["users"] > 0].reset_index(drop=True)


def _pairs(grid: CurveGrid) -> pd.DataFrame:
    """The reachable cells (users > 0) with their campaign x segment code ``pair``."""
    cells = grid.cells.assign(depth=grid.depth)
    if "ad_id" not in cells.columns:
        cells["ad_id"] = ""
    cells = cells.loc[cells["users"] > 0].reset_index(drop=True)
    cells["pair"] = cells.groupby(PAIR, sort=True).ngroup()
    return cells


def uniform_exposure(curves: pd.DataFrame, budget: float,
                     placements: pd.DataFrame | None = None, cap: int = DEFAULT_CAP
                     ) -> pd.DataFrame:
    """The budget spread evenly over campaign x segment groups, `cap` impressions per user.

    Every campaign x segment gets the same spend; each reached user gets N =
    `cap` impressions of the campaign in all (fewer where the group's curves
    are shallower), N / P on average at each of the group's P reachable
    placements, with the curves' creative of each cell. Reach is scaled so
    spend equals the budget, limited by the segment's users and the
    placements' inventory (see the module docstring).

    Parameters
    ----------
    curves : DataFrame
        A curves table (cells, positions, costs, and ad_id when given).
    budget : float
        Total spend.
    placements : DataFrame, optional
        placement_id, inventory.
    cap : int
        Impressions of a campaign per reached user.

    Returns
    -------
    DataFrame
        An exposure table (`adopt.delivery`). Spend equals the budget unless
        every segment is fully reached or the inventory is used up.
    """
    _check_budget("uniform_exposure", budget)
    if cap < 1:
        raise ParameterError(f"The 'cap' parameter of uniform_exposure must be at least 1. "
                             f"Got {cap} instead.")
    cells = _pairs(build_grid(curves))
    group = cells.groupby("pair")
    n = np.minimum(cap, group["depth"].transform("min")).astype(np.int64)
    width = group["placement_id"].transform("size")
    base = cells[[*CELL, "ad_id", "pair"]].assign(frequency=n, users=1.0, impressions=n / width)
    limit = group["segment_users"].max().to_numpy(float)
    return _fill(base, curves, budget, limit, placements, equal_spend=True)


_HISTORY_SQL = """
-- one row per campaign x segment x frequency x placement of the curves' cells:
-- logged users whose impressions of the campaign at these cells number n over
-- the whole log (frequency = least(n, $max_k)) and their impressions at the
-- placement, times frequency / n (so a user above $max_k keeps the split of
-- the log over $max_k impressions).
-- Parameters: $max_k. Tables: int_impressions, audiences, cells (registered).
with

impressions as (
    select
        i.campaign_id::varchar as campaign_id,
        a.segment::varchar as segment,
        i.placement_id::varchar as placement_id,
        i.user_id,
    from int_impressions as i
    inner join audiences as a on a.user_id = i.user_id
),

at_cells as (
    select impressions.*
    from impressions
    inner join cells as c
        on c.campaign_id = impressions.campaign_id
        and c.segment = impressions.segment
        and c.placement_id = impressions.placement_id
),

per_placement as (
    select campaign_id, segment, user_id, placement_id, count(*) as n_at,
    from at_cells
    group by all
),

per_user as (
    select
        *,
        sum(n_at) over (partition by campaign_id, segment, user_id) as n,
    from per_placement
),

groups as (
    select campaign_id, segment, least(n, $max_k) as frequency, count(distinct user_id) as users,
    from per_user
    group by all
),

final as (
    select
        p.campaign_id,
        p.segment,
        least(p.n, $max_k) as frequency,
        p.placement_id,
        sum(p.n_at * least(p.n, $max_k) / p.n) as impressions,
    from per_user as p
    group by all
)

select final.*, groups.users,
from final
inner join groups using (campaign_id, segment, frequency)
"""


def historical_profile(workspace: str | os.PathLike[str], cells: pd.DataFrame, max_k: int
                       ) -> pd.DataFrame:
    """The logging policy's exposure profile over `cells` (campaign_id, segment, placement_id).

    Users of a campaign x segment with exactly N impressions of the campaign at
    these cells over the whole log (N = min(n, max_k): a user with n > max_k
    counts at max_k, their impressions per placement scaled by max_k / n), and
    their impressions per placement. See ``_HISTORY_SQL``.
    """
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require("int_impressions", PROFILES_HINT, con)
        ws.require("audiences", SEGMENT_HINT, con)
        con.register("cells", cells[CELL].astype(str).drop_duplicates())
        out = con.execute(_HISTORY_SQL, {"max_k": int(max_k)}).df()
    out["frequency"] = out["frequency"].astype(np.int64)
    return out


def historical_exposure(workspace: str | os.PathLike[str], curves: pd.DataFrame,
                        budget: float, placements: pd.DataFrame | None = None
                        ) -> pd.DataFrame:
    """The logging policy's exposure profile from the logs, scaled to the budget.

    The profile of `historical_profile` over the curves' reachable cells (N
    up to the shallowest cell's depth), with the curves' creative of each
    cell, scaled by one factor so spend equals the budget; a campaign x
    segment never gets more users than its segment, and placements over
    their inventory scale down the groups that use them.

    Parameters
    ----------
    workspace : path
        Workspace whose warehouse has the logs and ``audiences``.
    curves : DataFrame
        The curves whose cells and costs price the exposure.
    budget : float
        Total spend.
    placements : DataFrame, optional
        placement_id, inventory.

    Raises
    ------
    InputError
        No logged impression falls in a cell of the curves.
    """
    _check_budget("historical_exposure", budget)
    cells = _pairs(build_grid(curves))
    logged = historical_profile(workspace, cells, int(cells["depth"].min()))
    logged = logged.loc[logged["users"] > 0]
    if logged.empty:
        raise InputError("events", "campaign_id", "no logged impression falls in a cell of the "
                         "curves: the historical exposure is empty")
    base = logged.merge(cells[[*CELL, "ad_id", "pair", "segment_users"]], on=CELL, how="inner")
    users = base.groupby(["pair", "frequency"])["users"].first().groupby("pair").sum()
    seg_users = base.groupby("pair")["segment_users"].max()
    base["pair"] = users.index.get_indexer(base["pair"])
    limit = (seg_users / users).to_numpy(float)
    return _fill(base[[*CELL, "ad_id", "frequency", "users", "impressions", "pair"]], curves,
                 budget, limit, placements, equal_spend=False)
