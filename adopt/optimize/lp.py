"""The plan as a linear program over x[cell, k] in [0, 1].

Data flow: `CurveGrid` + `PlanSpec` (+ placement inventory) -> `PlanLP`, which
both solvers read. x[j, k] is the share of cell j's users (campaign x segment x
placement) who receive a (k+1)-th impression there; nobody gets a k-th without
a (k-1)-th, so x[j, k] <= x[j, k-1] (the *chain*). Everything else is a
coupling row of ``A x <= b`` (``>=`` rows are stored negated, pins as equalities).

Reach model: a campaign x segment reaches sum_p users[p] * x[p, 0] users,
counted at most once per segment user: when reach is the objective or a target,
the rows ``reach_cap`` bound it by ``segment_users`` (placements overlap, so
the planner targets distinct users until the segment is exhausted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from adopt.exceptions import InputError
from adopt.optimize.curves import CurveGrid
from adopt.optimize.spec import (
    CampaignBudget,
    FrequencyCap,
    Inventory,
    MinReach,
    Pin,
    PlanSpec,
    SpendLimit,
    TargetRatio,
)


@dataclass
class PlanLP:
    """max c.x  s.t.  A x <= b (rows with `eq` as equalities), chain, 0 <= x <= ub.

    Attributes
    ----------
    grid : CurveGrid
    c : ndarray (n_cells, K)
        Objective coefficient of each variable (maximised).
    ub : ndarray (n_cells, K)
        Upper bound, 0 or 1 (0: beyond the curve, a cap, a flight or a pin).
    A : csr_matrix (m, n_cells * K); b : ndarray (m,)
    eq : ndarray of bool (m,)
    labels, kinds : list of str
        A readable name of each row ("budget", "inventory[p1]") and its kind.
    sign : ndarray (m,)
        +1 for rows written as <=, -1 for >= rows stored negated.
    minimise_spend : bool
        True when the objective is "least spend for a target"; then c = -spend.
    """

    grid: CurveGrid
    spec: PlanSpec
    c: np.ndarray
    ub: np.ndarray
    A: sp.csr_matrix
    b: np.ndarray
    eq: np.ndarray
    labels: list[str]
    kinds: list[str]
    sign: np.ndarray
    minimise_spend: bool
    inventory: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return self.c.shape

    @property
    def cost(self) -> np.ndarray:
        """Spend of each variable at x = 1."""
        return self.grid.users[:, None] * self.grid.cpi

    def value(self, name: str) -> np.ndarray:
        """Coefficients of a total: spend, impressions, reach, clicks, conversions, revenue."""
        users = self.grid.users[:, None]
        if name == "spend":
            return self.cost
        if name == "impressions":
            return np.broadcast_to(users, self.shape) * (self.grid.depth[:, None] > 0)
        if name == "reach":
            out = np.zeros(self.shape)
            out[:, 0] = self.grid.users
            return out
        return users * self.grid.metric(name)


class _Rows:
    """Collects sparse coupling rows as COO triples."""

    def __init__(self, n_vars: int) -> None:
        self.n_vars = n_vars
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.b: list[float] = []
        self.eq: list[bool] = []
        self.sign: list[float] = []
        self.labels: list[str] = []
        self.kinds: list[str] = []

    def add(self, coef: np.ndarray, mask: np.ndarray, rhs: float, sense: str, kind: str,
            label: str) -> None:
        """Add sum(coef[mask] x[mask]) <sense> rhs; sense is '<=', '>=' or '=='."""
        cols = np.flatnonzero(mask.ravel())
        vals = coef.ravel()[cols]
        s = -1.0 if sense == ">=" else 1.0
        self.rows.append(np.full(len(cols), len(self.b)))
        self.cols.append(cols)
        self.vals.append(s * vals)
        self.b.append(s * rhs)
        self.eq.append(sense == "==")
        self.sign.append(s)
        self.labels.append(label)
        self.kinds.append(kind)

    def add_groups(self, coef: np.ndarray, mask: np.ndarray, group: np.ndarray,
                   rhs: np.ndarray, sense: str, kind: str, labels: list[str]) -> None:
        """One row per group: sum over cells j with group[j] == g (g = 0..len(rhs)-1)."""
        cols = np.flatnonzero(mask.ravel())
        g = np.broadcast_to(group[:, None], mask.shape).ravel()[cols]
        s = -1.0 if sense == ">=" else 1.0
        self.rows.append(len(self.b) + g)
        self.cols.append(cols)
        self.vals.append(s * coef.ravel()[cols])
        self.b.extend(s * np.asarray(rhs, float))
        self.eq.extend([sense == "=="] * len(rhs))
        self.sign.extend([s] * len(rhs))
        self.labels.extend(labels)
        self.kinds.extend([kind] * len(rhs))

    def matrix(self) -> sp.csr_matrix:
        m = len(self.b)
        if not m:
            return sp.csr_matrix((0, self.n_vars))
        data = (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols)))
        return sp.csr_matrix(data, shape=(m, self.n_vars))


def _index(grid: CurveGrid, column: str, key: str, where: str) -> np.ndarray:
    values = grid.cells[column].to_numpy()
    mask = values == key
    if not mask.any():
        known = sorted(set(values))[:10]
        raise InputError("plan", where, f"unknown {column} '{key}' (known: {known})")
    return mask


def _overlap(c: CampaignBudget, spec: PlanSpec) -> float:
    start = max(c.start or spec.period_start, spec.period_start)
    end = min(c.end or spec.period_end, spec.period_end)
    days = (spec.period_end - spec.period_start).days + 1
    return max((end - start).days + 1, 0) / days


def build_lp(
    grid: CurveGrid, spec: PlanSpec, placements: pd.DataFrame | None = None
) -> PlanLP:
    """Turn curves, a plan spec and placement inventory into a `PlanLP`.

    Parameters
    ----------
    grid : CurveGrid
    spec : PlanSpec
    placements : DataFrame, optional
        placement_id and inventory (impressions in the plan period). An
        ``inventory`` constraint in the spec overrides it.

    Returns
    -------
    PlanLP
    """
    n, K = grid.cpi.shape  # noqa: N806
    users = grid.users[:, None]
    cells = grid.cells
    ub = (np.arange(K)[None, :] < grid.depth[:, None]).astype(float)
    rows = _Rows(n * K)
    lp = PlanLP(grid, spec, np.zeros((n, K)), ub, sp.csr_matrix((0, n * K)), np.zeros(0),
                np.zeros(0, bool), [], [], np.zeros(0), spec.objective.target is not None)
    cost, imps = lp.cost, np.broadcast_to(users, (n, K))
    col = np.ones((n, K), bool)
    metric = spec.objective.metric
    obj = lp.value(metric)
    lp.c = -cost if lp.minimise_spend else obj.copy()

    if spec.budget is not None:
        rows.add(cost, col, spec.budget, "<=", "budget", "budget")
    if lp.minimise_spend:
        rows.add(obj, col, spec.objective.target, ">=", "target", f"target[{metric}]")

    inventory: dict[str, float] = {}
    if placements is not None:
        for pid, inv in zip(placements["placement_id"].astype(str), placements["inventory"],
                            strict=True):
            if pd.notna(inv):
                inventory[pid] = float(inv)
    for con in spec.constraints:
        if isinstance(con, Inventory):
            inventory[con.placement_id] = con.impressions
    pid = cells["placement_id"].to_numpy()
    for p, inv in sorted(inventory.items()):
        mask = pid == p
        if mask.any():
            rows.add(imps, mask[:, None] & col, inv, "<=", "inventory", f"inventory[{p}]")
    lp.inventory = inventory

    seg_id = cells.groupby(["campaign_id", "segment"], sort=False).ngroup().to_numpy()
    camp = cells["campaign_id"].to_numpy()
    for i, con in enumerate(spec.constraints):
        where = f"constraints[{i}]"
        if isinstance(con, CampaignBudget):
            mask = _index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
            label = f"campaign_budget[{con.campaign_id}]"
            if con.max_spend is not None:
                rows.add(cost, mask[:, None] & col, con.max_spend, "<=", "campaign_budget", label)
            if con.min_spend > 0:
                rows.add(cost, mask[:, None] & col, con.min_spend, ">=", "campaign_min_spend",
                         f"campaign_min_spend[{con.campaign_id}]")
            if con.start or con.end:
                share = _overlap(con, spec)
                if share == 0:
                    ub[mask] = 0
                    lp.notes.append(f"campaign {con.campaign_id}: flight outside the period")
                for p, inv in sorted(inventory.items()):
                    m = mask & (pid == p)
                    if 0 < share < 1 and m.any():
                        rows.add(imps, m[:, None] & col, share * inv, "<=", "flight",
                                 f"flight[{con.campaign_id}@{p}]")
        elif isinstance(con, FrequencyCap) and not con.across_placements:
            mask = np.ones(n, bool)
            if con.placement_id is not None:
                mask = _index(grid, "placement_id", con.placement_id, f"{where}.placement_id")
            ub[mask, int(np.floor(con.cap)):] = 0
        elif isinstance(con, FrequencyCap):
            names, seg_users = _segment_names(grid, seg_id)
            rows.add_groups(imps, col, seg_id, con.cap * seg_users, "<=", "frequency_cap",
                            [f"frequency_cap[{s}]" for s in names])
        elif isinstance(con, SpendLimit):
            _spend_limit(rows, grid, con, cost, col, where)
        elif isinstance(con, Pin):
            mask = (_index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
                    & _index(grid, "segment", con.segment, f"{where}.segment")
                    & _index(grid, "placement_id", con.placement_id, f"{where}.placement_id"))
            label = f"pin[{con.campaign_id}/{con.segment}/{con.placement_id}]"
            if not mask.any():
                raise InputError("plan", where, f"no curve cell {label}")
            if con.impressions == 0:
                ub[mask] = 0
            else:
                rows.add(imps, mask[:, None] & col, con.impressions, "==", "pin", label)
        elif isinstance(con, MinReach):
            mask = _index(grid, "segment", con.segment, f"{where}.segment")
            if con.campaign_id is not None:
                mask &= _index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
            first = np.zeros((n, K), bool)
            first[:, 0] = True
            for c in np.unique(camp[mask]):
                rows.add(imps, (mask & (camp == c))[:, None] & first, con.users, ">=",
                         "min_reach", f"min_reach[{c}/{con.segment}]")
        elif isinstance(con, TargetRatio):
            mask = np.ones(n, bool)
            if con.campaign_id is not None:
                mask = _index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
            if con.type == "target_cpa":
                coef = cost - con.value * users * grid.conversions
            else:
                coef = con.value * cost - users * grid.revenue
            rows.add(coef, mask[:, None] & col, 0.0, "<=", con.type,
                     f"{con.type}[{con.campaign_id or 'all'}]")

    if metric == "reach":
        _reach_caps(rows, grid, seg_id)
    lp.ub = ub
    lp.A, lp.b = rows.matrix(), np.asarray(rows.b, float)
    lp.eq, lp.sign = np.asarray(rows.eq, bool), np.asarray(rows.sign, float)
    lp.labels, lp.kinds = rows.labels, rows.kinds
    return lp


def _spend_limit(rows: _Rows, grid: CurveGrid, con: SpendLimit, cost: np.ndarray,
                 col: np.ndarray, where: str) -> None:
    if con.level == "total":
        mask, label = np.ones(grid.n_cells, bool), "total"
    else:
        column = {"campaign": "campaign_id", "segment": "segment"}.get(con.level, "placement_id")
        mask = _index(grid, column, con.key, f"{where}.key")
        label = f"{con.level}={con.key}"
    g = mask[:, None] & col
    if con.min is not None:
        rows.add(cost, g, con.min, ">=", "min_spend", f"min_spend[{label}]")
    if con.max is not None:
        rows.add(cost, g, con.max, "<=", "max_spend", f"max_spend[{label}]")
    inside = mask[:, None].astype(float)
    if con.max_share is not None:
        rows.add((inside - con.max_share) * cost, col, 0.0, "<=", "max_share",
                 f"max_share[{label}]")
    if con.min_share is not None:
        rows.add((con.min_share - inside) * cost, col, 0.0, "<=", "min_share",
                 f"min_share[{label}]")


def _segment_names(grid: CurveGrid, seg_id: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Name ("campaign/segment") and segment_users of each campaign x segment group."""
    first = np.unique(seg_id, return_index=True)[1]
    head = grid.cells.iloc[first]
    names = [f"{c}/{s}" for c, s in zip(head["campaign_id"], head["segment"], strict=True)]
    return names, head["segment_users"].to_numpy(dtype=float)


def _reach_caps(rows: _Rows, grid: CurveGrid, seg_id: np.ndarray) -> None:
    """Reach of a campaign x segment is at most its users (only where it could exceed)."""
    names, seg_users = _segment_names(grid, seg_id)
    total = np.bincount(seg_id, weights=grid.users)
    over = total > seg_users * (1 + 1e-12)
    if not over.any():
        return
    remap = np.cumsum(over) - 1
    keep = over[seg_id]
    first = np.zeros(grid.cpi.shape, bool)
    first[:, 0] = keep
    imps = np.broadcast_to(grid.users[:, None], grid.cpi.shape)
    rows.add_groups(imps, first, np.where(keep, remap[seg_id], 0), seg_users[over], "<=",
                    "reach_cap", [f"reach_cap[{names[g]}]" for g in np.flatnonzero(over)])


def chain_matrix(n: int, K: int) -> sp.csr_matrix:  # noqa: N803
    """Rows x[j, k] - x[j, k-1] <= 0 for every cell j and k >= 1."""
    if K < 2:
        return sp.csr_matrix((0, n * K))
    j, k = np.meshgrid(np.arange(n), np.arange(1, K), indexing="ij")
    r = np.arange(j.size)
    here, prev = (j * K + k).ravel(), (j * K + k - 1).ravel()
    data = np.r_[np.ones(r.size), -np.ones(r.size)]
    return sp.csr_matrix((data, (np.r_[r, r], np.r_[here, prev])), shape=(r.size, n * K))
