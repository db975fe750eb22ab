"""The plan as a linear program over exposure profiles.

Data flow: `CurveGrid` + `PlanSpec` (+ placement inventory) -> `PlanLP`, which
every solver reads. Frequency is a property of a person: a user's k-th
impression of a campaign is counted over all placements, and an ad server
caps a user's impressions of a campaign but cannot choose the order in which
the user meets them. So per campaign x segment *group* g the plan decides

- ``u[g, N]``: users who receive exactly N impressions of the campaign in all
  (N = 1..K), and
- ``m[j, N]``: impressions at cell j (the group at one placement) received by
  those users,

with ``sum_{j in g} m[j, N] = N u[g, N]``. A user's impressions come in random
order, so each of them is the user's k-th with probability 1/N for k = 1..N,
and an impression at cell j of a user with N carries the mean of the cell's
curve over k = 1..N: the objective ``sum vbar[j, N] m[j, N]`` is exact for
random-order delivery (`adopt.delivery` delivers it that way).

Local rows (one group each; the structured method prices them group by group):

- ``sum_{j in g} m[j, N] - N u[g, N] = 0``;
- ``m[j, N] <= cap[j, N] u[g, N]`` with ``cap = min(N, f_j) * users_j /
  reachable_g``: at most f_j impressions per user at the placement (its
  frequency cap), and only the share ``users_j / reachable_g`` of the group's
  reachable users is reachable there;
- ``sum_N u[g, N] <= reachable_g``: the plan's users are drawn among the
  segment's users some placement of the group reaches, ``reachable_g =
  segment_users (1 - prod_j (1 - users_j / segment_users))`` when placements
  reach users independently. A single placement that reaches half a segment
  can so give its users every impression (drawn from all the segment's users,
  no N-user would fit there).

Everything else is a *coupling* row of ``A x <= b`` (``>=`` rows stored negated,
pins as equalities): budget, inventory, spend limits, flights, pins, reach,
CPA/ROAS and, when the curves carry ``impressions_per_user``, the impressions a
segment's reachable users can take at a placement (all campaigns together).
The cap across placements is local: ``u[g, N] = 0`` for N above it.

x is one flat vector: the m block (cells x K, cell-major), then the u block
(groups x K).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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

GROUP = ["campaign_id", "segment"]


def position_means(values: np.ndarray) -> np.ndarray:
    """Mean over k = 1..N of the values along the last axis, for N = 1..K (random order)."""
    return np.cumsum(values, axis=-1) / np.arange(1, values.shape[-1] + 1)


@dataclass
class PlanLP:
    """max c.x  s.t.  A x <= b (rows with `eq` as equalities), local rows, 0 <= x <= ub.

    Attributes
    ----------
    grid : CurveGrid
    spec : PlanSpec
    groups : DataFrame
        campaign_id, segment, segment_users: one row per group g.
    cell_group : ndarray of int (n_cells,)
        The group of each cell.
    cap : ndarray (n_cells, K)
        Impressions per user of the N-group the cell may take (see the module docstring).
    c, ub : ndarray (n_vars,)
        Objective coefficient (maximised) and upper bound of each variable.
    A : csr_matrix (m, n_vars); b : ndarray (m,)
    eq : ndarray of bool (m,)
    labels, kinds : list of str
        A readable name of each coupling row ("budget", "inventory[p1]") and its kind.
    sign : ndarray (m,)
        +1 for rows written as <=, -1 for >= rows stored negated.
    minimise_spend : bool
        True when the objective is "least spend for a target"; then c = -spend.
    """

    grid: CurveGrid
    spec: PlanSpec
    groups: pd.DataFrame
    cell_group: np.ndarray
    cap: np.ndarray
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
    def K(self) -> int:  # noqa: N802 - the most impressions per user, as in the curves
        return self.grid.K

    @property
    def n_cells(self) -> int:
        return self.grid.n_cells

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def n_m(self) -> int:
        return self.n_cells * self.K

    @property
    def n_vars(self) -> int:
        return self.n_m + self.n_groups * self.K

    @property
    def segment_users(self) -> np.ndarray:
        return self.groups["segment_users"].to_numpy(dtype=float)

    @property
    def group_users(self) -> np.ndarray:
        """Users a group can reach at any of its placements: the bound on sum_N u[g, N]."""
        return self.groups["reachable_users"].to_numpy(dtype=float)

    def with_budget(self, budget: float) -> PlanLP:
        """This LP at another total budget: the budget row's bound is all that changes.

        The frontier solves the plan at several budgets on one built LP.
        """
        b = self.b.copy()
        b[self.kinds.index("budget")] = float(budget)
        spec = self.spec.model_copy(update={"budget": float(budget)})
        return replace(self, spec=spec, b=b, notes=list(self.notes))

    def m_part(self, x: np.ndarray) -> np.ndarray:
        """Impressions m[j, N] of a solution (cells x K)."""
        return np.asarray(x)[: self.n_m].reshape(self.n_cells, self.K)

    def u_part(self, x: np.ndarray) -> np.ndarray:
        """Users u[g, N] with exactly N impressions of a solution (groups x K)."""
        return np.asarray(x)[self.n_m:].reshape(self.n_groups, self.K)

    def stack(self, m: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The flat x of an m block and a u block."""
        return np.r_[np.asarray(m, float).ravel(), np.asarray(u, float).ravel()]

    def value(self, name: str) -> np.ndarray:
        """Coefficients of a total: spend, impressions, reach, clicks, conversions, revenue."""
        zeros_u = np.zeros((self.n_groups, self.K))
        if name == "reach":
            return self.stack(np.zeros((self.n_cells, self.K)), np.ones_like(zeros_u))
        if name == "impressions":
            return self.stack(np.ones((self.n_cells, self.K)), zeros_u)
        per = self.grid.cpi if name == "spend" else self.grid.metric(name)
        return self.stack(position_means(per), zeros_u)

    def local_rows(self) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray]:
        """The local rows as (A_ub, b_ub, A_eq, b_eq) over the flat x."""
        n, K, G = self.n_cells, self.K, self.n_groups  # noqa: N806
        j, k = np.meshgrid(np.arange(n), np.arange(K), indexing="ij")
        m_col = (j * K + k).ravel()
        u_col = self.n_m + (self.cell_group[j] * K + k).ravel()
        # sum_j m[j, N] - N u[g, N] = 0, one row per group x N
        g, kk = np.meshgrid(np.arange(G), np.arange(K), indexing="ij")
        eq_rows = np.r_[(self.cell_group[j] * K + k).ravel(), (g * K + kk).ravel()]
        eq_cols = np.r_[m_col, self.n_m + (g * K + kk).ravel()]
        eq_vals = np.r_[np.ones(m_col.size), -(kk + 1.0).ravel()]
        a_eq = sp.csr_matrix((eq_vals, (eq_rows, eq_cols)), shape=(G * K, self.n_vars))
        # m[j, N] <= cap[j, N] u[g, N] where the cap binds below N (else the equality implies it)
        binding = ((self.cap < (k + 1) - 1e-12) & (self.ub[: self.n_m].reshape(n, K) > 0)).ravel()
        r = np.arange(int(binding.sum()))
        a_cap = sp.csr_matrix((np.r_[np.ones(r.size), -self.cap.ravel()[binding]],
                               (np.r_[r, r], np.r_[m_col[binding], u_col[binding]])),
                              shape=(r.size, self.n_vars))
        # sum_N u[g, N] <= reachable users of the group
        a_users = sp.csr_matrix((np.ones(G * K), (g.ravel(), self.n_m + (g * K + kk).ravel())),
                                shape=(G, self.n_vars))
        a_ub = sp.vstack([a_cap, a_users], format="csr")
        b_ub = np.r_[np.zeros(r.size), self.group_users]
        return a_ub, b_ub, a_eq, np.zeros(G * K)


class _Rows:
    """Collects sparse coupling rows as COO triples over the flat x."""

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
        self.add_groups(coef, mask, np.zeros(coef.size, int), np.array([rhs]), sense, kind,
                        [label])

    def add_groups(self, coef: np.ndarray, mask: np.ndarray, group: np.ndarray,
                   rhs: np.ndarray, sense: str, kind: str, labels: list[str]) -> None:
        """One row per group: sum over variables v with mask[v] and group[v] == g."""
        cols = np.flatnonzero(mask)
        s = -1.0 if sense == ">=" else 1.0
        self.rows.append(len(self.b) + group[cols])
        self.cols.append(cols)
        self.vals.append(s * coef[cols])
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


class _Vars:
    """Masks over the flat x: the m block of some cells, the u block of some groups."""

    def __init__(self, n_cells: int, n_groups: int, K: int) -> None:  # noqa: N803
        self.n_cells, self.n_groups, self.K = n_cells, n_groups, K

    def m(self, cells: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.n_cells * self.K + self.n_groups * self.K, bool)
        mask[: self.n_cells * self.K] = np.repeat(cells, self.K)
        return mask

    def u(self, groups: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.n_cells * self.K + self.n_groups * self.K, bool)
        mask[self.n_cells * self.K:] = np.repeat(groups, self.K)
        return mask


def _groups(grid: CurveGrid) -> tuple[pd.DataFrame, np.ndarray]:
    cells = grid.cells
    gid = cells.groupby(GROUP, sort=False).ngroup().to_numpy()
    first = np.unique(gid, return_index=True)[1]
    groups = cells.iloc[first][GROUP].reset_index(drop=True)
    seg_users = cells.groupby(gid)["segment_users"].max().to_numpy(float)
    groups["segment_users"] = seg_users
    share = np.clip(np.divide(grid.users, seg_users[gid], out=np.ones(len(gid)),
                              where=seg_users[gid] > 0), 0.0, 1.0)
    missed = np.bincount(gid, weights=np.log(np.maximum(1.0 - share, 1e-300)),
                         minlength=len(groups))
    groups["reachable_users"] = seg_users * (1.0 - np.exp(missed))
    return groups, gid


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
    cells = grid.cells
    groups, gid = _groups(grid)
    G = len(groups)  # noqa: N806
    group_users = groups["reachable_users"].to_numpy()
    ks = np.arange(1, K + 1)
    # a cell can take the impressions of an N-user only where its curve reaches N
    allowed = ks[None, :] <= grid.depth[:, None]
    per_cell_cap = np.full(n, np.inf)
    across = np.inf
    v = _Vars(n, G, K)
    n_vars = n * K + G * K
    rows = _Rows(n_vars)
    lp = PlanLP(grid, spec, groups, gid, np.zeros((n, K)), np.zeros(n_vars), np.zeros(n_vars),
                sp.csr_matrix((0, n_vars)), np.zeros(0), np.zeros(0, bool), [], [], np.zeros(0),
                spec.objective.target is not None)
    cost, imps = lp.value("spend"), lp.value("impressions")
    users_u = lp.value("reach")
    metric = spec.objective.metric
    obj = lp.value(metric)
    lp.c = -cost if lp.minimise_spend else obj.copy()
    closed = np.zeros(n, bool)  # cells a pin of 0 or an ended flight shuts
    every = np.ones(n_vars, bool)

    if spec.budget is not None:
        rows.add(cost, every, spec.budget, "<=", "budget", "budget")
    if lp.minimise_spend:
        rows.add(obj, every, spec.objective.target, ">=", "target", f"target[{metric}]")

    inventory: dict[str, float] = {}
    if placements is not None:
        for pid, inv in zip(placements["placement_id"].astype(str), placements["inventory"],
                            strict=True):
            if pd.notna(inv):
                inventory[pid] = float(inv)
    for i, con in enumerate(spec.constraints):
        if isinstance(con, Inventory):
            # an unknown placement is refused, never silently dropped
            _index(grid, "placement_id", con.placement_id, f"constraints[{i}].placement_id")
            inventory[con.placement_id] = con.impressions
    pid = cells["placement_id"].to_numpy()
    for p, inv in sorted(inventory.items()):
        mask = pid == p
        if mask.any():
            rows.add(imps, v.m(mask), inv, "<=", "inventory", f"inventory[{p}]")
    lp.inventory = inventory
    if "impressions_per_user" in cells.columns:
        _reachable_capacity(rows, grid, v, imps)

    camp = cells["campaign_id"].to_numpy()
    gcamp, gseg = groups["campaign_id"].to_numpy(), groups["segment"].to_numpy()
    for i, con in enumerate(spec.constraints):
        where = f"constraints[{i}]"
        if isinstance(con, CampaignBudget):
            mask = _index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
            label = f"campaign_budget[{con.campaign_id}]"
            if con.max_spend is not None:
                rows.add(cost, v.m(mask), con.max_spend, "<=", "campaign_budget", label)
            if con.min_spend > 0:
                rows.add(cost, v.m(mask), con.min_spend, ">=", "campaign_min_spend",
                         f"campaign_min_spend[{con.campaign_id}]")
            if con.start or con.end:
                share = _overlap(con, spec)
                if share == 0:
                    closed |= mask
                    lp.notes.append(f"campaign {con.campaign_id}: flight outside the period")
                for p, inv in sorted(inventory.items()):
                    m = mask & (pid == p)
                    if 0 < share < 1 and m.any():
                        rows.add(imps, v.m(m), share * inv, "<=", "flight",
                                 f"flight[{con.campaign_id}@{p}]")
        elif isinstance(con, FrequencyCap) and not con.across_placements:
            mask = np.ones(n, bool)
            if con.placement_id is not None:
                mask = _index(grid, "placement_id", con.placement_id, f"{where}.placement_id")
            per_cell_cap[mask] = np.minimum(per_cell_cap[mask], np.floor(con.cap))
        elif isinstance(con, FrequencyCap):
            across = min(across, np.floor(con.cap))
        elif isinstance(con, SpendLimit):
            _spend_limit(rows, grid, v, con, cost, where)
        elif isinstance(con, Pin):
            mask = (_index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
                    & _index(grid, "segment", con.segment, f"{where}.segment")
                    & _index(grid, "placement_id", con.placement_id, f"{where}.placement_id"))
            label = f"pin[{con.campaign_id}/{con.segment}/{con.placement_id}]"
            if not mask.any():
                raise InputError("plan", where, f"no curve cell {label}")
            if con.impressions == 0:
                closed |= mask
            else:
                rows.add(imps, v.m(mask), con.impressions, "==", "pin", label)
        elif isinstance(con, MinReach):
            gmask = _index(grid, "segment", con.segment, f"{where}.segment")
            if con.campaign_id is not None:
                gmask &= _index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
            for c in np.unique(camp[gmask]):
                chosen = (gcamp == c) & (gseg == con.segment)
                rows.add(users_u, v.u(chosen), con.users, ">=", "min_reach",
                         f"min_reach[{c}/{con.segment}]")
        elif isinstance(con, TargetRatio):
            mask = np.ones(n, bool)
            if con.campaign_id is not None:
                mask = _index(grid, "campaign_id", con.campaign_id, f"{where}.campaign_id")
            if con.type == "target_cpa":
                coef = cost - con.value * lp.value("conversions")
            else:
                coef = con.value * cost - lp.value("revenue")
            rows.add(coef, v.m(mask), 0.0, "<=", con.type,
                     f"{con.type}[{con.campaign_id or 'all'}]")

    if spec.max_spend_multiple is not None and "observed_spend" in cells.columns:
        closed |= _guard_rail(rows, grid, v, cost, spec.max_spend_multiple)

    reachable = np.divide(grid.users, group_users[gid], out=np.zeros(n), where=group_users[gid] > 0)
    cap = np.minimum(ks[None, :], per_cell_cap[:, None]) * np.minimum(reachable, 1.0)[:, None]
    open_m = allowed & ~closed[:, None] & (cap > 0) & (ks[None, :] <= across)
    lp.cap = np.where(open_m, cap, 0.0)
    # the most any variable can be: every user of the group at N
    ub_m = np.where(open_m, lp.cap * group_users[gid][:, None], 0.0)
    ub_u = np.where(ks[None, :] <= across, group_users[:, None], 0.0) * np.ones((G, K))
    lp.ub = lp.stack(ub_m, ub_u)
    lp.A, lp.b = rows.matrix(), np.asarray(rows.b, float)
    lp.eq, lp.sign = np.asarray(rows.eq, bool), np.asarray(rows.sign, float)
    lp.labels, lp.kinds = rows.labels, rows.kinds
    return lp


def _reachable_capacity(rows: _Rows, grid: CurveGrid, v: _Vars, imps: np.ndarray) -> None:
    """Impressions a segment's reachable users can take at a placement, all campaigns together."""
    cells = grid.cells
    per_user = pd.to_numeric(cells["impressions_per_user"], errors="coerce").to_numpy(float)
    key = cells["segment"].astype(str) + "\x1f" + cells["placement_id"].astype(str)
    code, names = pd.factorize(key, sort=True)
    room = pd.Series(grid.users * per_user).groupby(code).max().to_numpy()
    keep = np.isfinite(room)
    if not keep.any():
        return
    remap = np.cumsum(keep) - 1
    cell_mask = keep[code]
    group = np.zeros(v.n_cells * v.K + v.n_groups * v.K, int)
    group[: v.n_cells * v.K] = np.repeat(np.where(cell_mask, remap[code], 0), v.K)
    labels = [f"reachable[{name.replace(chr(31), '@')}]" for name in names[keep]]
    rows.add_groups(imps, v.m(cell_mask), group, room[keep], "<=", "reachable", labels)


def _spend_limit(rows: _Rows, grid: CurveGrid, v: _Vars, con: SpendLimit, cost: np.ndarray,
                 where: str) -> None:
    if con.level == "total":
        mask, label = np.ones(grid.n_cells, bool), "total"
    else:
        column = {"campaign": "campaign_id", "segment": "segment"}.get(con.level, "placement_id")
        mask = _index(grid, column, con.key, f"{where}.key")
        label = f"{con.level}={con.key}"
    inside_m = v.m(mask)
    if con.min is not None:
        rows.add(cost, inside_m, con.min, ">=", "min_spend", f"min_spend[{label}]")
    if con.max is not None:
        rows.add(cost, inside_m, con.max, "<=", "max_spend", f"max_spend[{label}]")
    every = v.m(np.ones(grid.n_cells, bool))
    inside = inside_m.astype(float)
    if con.max_share is not None:
        rows.add((inside - con.max_share) * cost, every, 0.0, "<=", "max_share",
                 f"max_share[{label}]")
    if con.min_share is not None:
        rows.add((con.min_share - inside) * cost, every, 0.0, "<=", "min_share",
                 f"min_share[{label}]")


def _guard_rail(rows: _Rows, grid: CurveGrid, v: _Vars, cost: np.ndarray,
                multiple: float) -> np.ndarray:
    """Spend of each cell <= multiple x the largest spend observed for it; the cells it shuts.

    Only curves fitted to aggregates carry ``observed_spend``; a cell without
    a finite one is left alone, a cell that never had spend is shut.
    """
    observed = grid.cells["observed_spend"].to_numpy(float)
    known = np.isfinite(observed)
    shut = known & (observed <= 0)
    keep = known & ~shut
    if keep.any():
        remap = np.cumsum(keep) - 1
        group = np.zeros(v.n_cells * v.K + v.n_groups * v.K, int)
        group[: v.n_cells * v.K] = np.repeat(np.where(keep, remap, 0), v.K)
        names = grid.cells.loc[keep, ["campaign_id", "segment", "placement_id"]].astype(str)
        labels = [f"guard_rail[{c}/{s}/{p}]" for c, s, p in names.itertuples(index=False)]
        rows.add_groups(cost, v.m(keep), group, multiple * observed[keep], "<=", "guard_rail",
                        labels)
    return shut
