"""The fast exact method: Lagrangian decomposition over the few coupling rows.

Data flow: `PlanLP` -> (x, y), the same answer as `highs.solve_highs`, in a
fraction of the time on large plans. Priced by multipliers y of the coupling
rows (budget, inventory, campaign limits...), every cell decouples into a chain
whose best plan is a prefix: give the first m positions to all its users, m
chosen greedily by marginal value (`certificate.best_prefix`). An optimal LP
basis has at most one fractional cell per coupling row, so only cells near the
margin are really in question:

1. price: y from the plan restricted to a random eighth of the cells (each
   row's right-hand side scaled to the share they hold), itself solved this
   way from a smaller sample, down to a sample HiGHS solves whole;
2. fix every cell at its best prefix under y (or slightly dearer prices, so
   the fixed cells leave room on every row), except a *working set* of the cells
   with the smallest relative margin, whose LP (with the fixed cells' use of
   each row subtracted) HiGHS solves exactly, giving new y;
3. stop when the Lagrangian dual g(y) equals the plan's value (the
   certificate); else add the cells whose fixed plan is furthest from their
   best under the new y to the working set (column generation: the previous
   plan stays feasible, so the value never falls) and repeat.

Where it cannot finish (too many coupling rows, no convergence) it says so and
the caller falls back to HiGHS on the whole LP.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from adopt.optimize.certificate import GAP_TOL, best_prefix, reduced_values
from adopt.optimize.lp import PlanLP


@dataclass
class StructuredInfo:
    """What the structured method did: rounds, working-set sizes, why it stopped."""

    rounds: int = 0
    working_set: list[int] = field(default_factory=list)
    converged: bool = False
    reason: str = ""


class _Restricted:
    """The LP over a subset of cells, the other cells' use of each row moved to the rhs.

    It is written in increments w[j, k] = x[j, k] - x[j, k+1] >= 0 (the share of
    users who get exactly k+1 impressions), so the chain becomes one row per
    cell, sum_k w[j, k] <= 1, and x[j, k] = sum_{k' >= k} w[j, k'].
    """

    # interior point + crossover (a vertex): faster than dual simplex on these LPs
    method = "highs-ipm"

    def __init__(self, lp: PlanLP) -> None:
        self.lp = lp
        self.A_csc = lp.A.tocsc()

    def solve(
        self, cells: np.ndarray, rhs: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray, str]:
        lp = self.lp
        n_w, K = len(cells), lp.shape[1]  # noqa: N806
        cols = (cells[:, None] * K + np.arange(K)).ravel()
        valid = (lp.ub[cells] > 0).ravel()
        # column k of a cell's increments sums its columns 0..k
        lo, hi = np.triu_indices(K)
        base = (np.arange(n_w) * K)[:, None]
        cum = sp.csr_matrix((np.ones(n_w * lo.size), ((base + lo).ravel(), (base + hi).ravel())),
                            shape=(n_w * K, n_w * K))
        a_w = (self.A_csc[:, cols] @ cum).tocsc()[:, np.flatnonzero(valid)].tocsr()
        c_w = np.cumsum(lp.c[cells], axis=1).ravel()[valid]
        used = np.diff(a_w.indptr) > 0
        # A row none of these cells touch only constrains the fixed cells.
        empty = ~used
        tol = 1e-9 * np.maximum(1, abs(lp.b[empty]))
        bad = np.where(lp.eq[empty], abs(rhs[empty]) > tol, rhs[empty] < -tol)
        if bad.any():
            return None, np.zeros(len(lp.b)), "a row cannot hold with the fixed cells"
        ineq, eq = used & ~lp.eq, used & lp.eq
        owner = np.repeat(np.arange(n_w), K)[valid]
        gub = sp.csr_matrix((np.ones(owner.size), (owner, np.arange(owner.size))),
                            shape=(n_w, owner.size))
        a_ub = sp.vstack([a_w[ineq], gub], format="csr")
        b_ub = np.r_[rhs[ineq], np.ones(n_w)]
        kw = {"A_eq": a_w[eq], "b_eq": rhs[eq]} if eq.any() else {}
        res = linprog(-c_w, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method=self.method, **kw)
        y = np.zeros(len(lp.b))
        if res.status != 0:
            return None, y, res.message
        y[np.flatnonzero(ineq)] = -res.ineqlin.marginals[: int(ineq.sum())]
        if eq.any():
            y[np.flatnonzero(eq)] = -res.eqlin.marginals
        w = np.zeros(n_w * K)
        w[valid] = np.maximum(res.x, 0)
        x = np.cumsum(w.reshape(n_w, K)[:, ::-1], axis=1)[:, ::-1]
        return np.minimum(x, lp.ub[cells]), y, ""


def _forced_cells(lp: PlanLP, small: int) -> np.ndarray:
    """Cells of rows that touch few cells (pins, segment limits): always solved exactly."""
    K = lp.shape[1]  # noqa: N806
    out = np.zeros(lp.shape[0], bool)
    for i in np.flatnonzero(np.diff(lp.A.indptr) <= small * K):
        cols = lp.A.indices[lp.A.indptr[i]:lp.A.indptr[i + 1]]
        cells = np.unique(cols // K)
        if len(cells) <= small:
            out[cells] = True
    return out


def _prefix_x(m: np.ndarray, K: int) -> np.ndarray:  # noqa: N803
    return (np.arange(K)[None, :] < m[:, None]).astype(float)


def _smallest(lp: PlanLP, y: np.ndarray, size: int) -> np.ndarray:
    """The `size` cells whose best prefix under y is closest to a tie (relative margin)."""
    n, K = lp.shape  # noqa: N806
    _, _, margin = best_prefix(reduced_values(lp, y))
    ay = (lp.A.T @ y).reshape(n, K) if len(y) else np.zeros((n, K))
    norm = np.where(lp.ub > 0, abs(lp.c) + abs(ay), 0).sum(axis=1)
    rel = np.divide(margin, norm, out=np.full(n, np.inf), where=norm > 0)
    return np.argpartition(rel, size - 1)[:size] if size < n else np.arange(n)


def _subset(lp: PlanLP, cells: np.ndarray) -> PlanLP:
    """The plan restricted to `cells`, each row's rhs scaled to the share they hold."""
    K = lp.shape[1]  # noqa: N806
    cols = (cells[:, None] * K + np.arange(K)).ravel()
    a = lp.A.tocsc()[:, cols].tocsr()
    total = np.asarray(abs(lp.A).sum(axis=1)).ravel()
    share = np.divide(np.asarray(abs(a).sum(axis=1)).ravel(), total, out=np.ones(len(lp.b)),
                      where=total > 0)
    return replace(lp, c=lp.c[cells], ub=lp.ub[cells], A=a, b=lp.b * share)


def _price(lp: PlanLP, forced: np.ndarray, rng: np.random.Generator, sample: int,
           work: int) -> np.ndarray:
    """Row prices from ever larger random samples (each priced by the one below)."""
    n = lp.shape[0]
    if n <= sample:
        _, y, _ = _Restricted(lp).solve(np.arange(n), lp.b.copy())
        return y
    pick = forced.copy()
    pick[rng.choice(n, size=max(sample, n // 8), replace=False)] = True
    cells = np.flatnonzero(pick)
    sub = _subset(lp, cells)
    y = _price(sub, forced[cells], rng, sample, work)
    _, y_sub, _ = _column_generation(sub, y, forced[cells], work, 8, 1e-6, StructuredInfo())
    return y if y_sub is None else y_sub


def _column_generation(
    lp: PlanLP, y: np.ndarray, forced: np.ndarray, work: int, max_rounds: int, tol: float,
    info: StructuredInfo,
) -> tuple[np.ndarray | None, np.ndarray | None, bool]:
    """Working-set rounds from prices y until the certificate gap is <= tol."""
    n, K = lp.shape  # noqa: N806
    m = len(lp.b)
    restricted = _Restricted(lp)
    # fix cells at their best prefix under slightly dearer prices, so that the
    # fixed cells leave room on every row; free the cells nearest the margin
    in_w = forced.copy()
    in_w[_smallest(lp, y, min(n, work))] = True
    x = np.zeros((n, K))
    for inflate in (1.0, 1.001, 1.01, 1.1, 1.5, None):
        y_fix = y * inflate if inflate else np.zeros(m)
        prefix, _, _ = best_prefix(reduced_values(lp, y_fix))
        x = _prefix_x(prefix, K) if inflate else np.zeros((n, K))
        x[in_w] = 0.0
        usage = lp.A @ x.ravel() if m else np.zeros(0)
        if np.all((usage <= lp.b + 1e-9 * np.maximum(1, abs(lp.b))) | lp.eq):
            break
    y_last = None
    for info.rounds in range(1, max_rounds + 1):
        info.working_set.append(int(in_w.sum()))
        x[in_w] = 0.0
        rhs = lp.b - (lp.A @ x.ravel() if m else 0.0)
        x_w, y_new, why = restricted.solve(np.flatnonzero(in_w), rhs)
        if x_w is None:
            info.reason = f"the working LP failed: {why}"
            return None, y_last, False
        x[in_w] = x_w
        y = y_last = y_new
        primal = float((lp.c * x).sum())
        r = reduced_values(lp, y)
        _, best, _ = best_prefix(r)
        dual = float(y @ lp.b + best.sum())
        if abs(dual - primal) <= tol * max(1.0, abs(primal)):
            return x, y, True
        # bring in the cells whose fixed plan is furthest from their best under
        # the new y; the current plan stays feasible, so the value never falls
        current = (np.where(lp.ub > 0, r, 0.0) * x).sum(axis=1)
        loss = np.where(in_w, 0.0, best - current)
        # the gap is the sum of these losses: add the largest until the rest is
        # negligible, at most as many as the set holds (each LP at most 2x larger)
        grow = int(min(n - 1, max(work, in_w.sum())))
        worst = np.argpartition(-loss, grow)[:grow]
        worst = worst[np.argsort(-loss[worst])]
        rest = loss.sum() - np.cumsum(loss[worst])
        enough = int(np.searchsorted(-rest, -0.01 * tol * max(1.0, abs(primal)))) + 1
        in_w[worst[:enough][loss[worst[:enough]] > 0]] = True
        in_w[_smallest(lp, y, min(n, work // 2))] = True
    info.reason = f"no certificate after {max_rounds} rounds"
    return None, y_last, False


def solve_structured(
    lp: PlanLP,
    work: int = 2000,
    sample: int = 1000,
    max_rows: int = 256,
    max_rounds: int = 20,
    seed: int = 0,
) -> tuple[np.ndarray | None, np.ndarray | None, StructuredInfo]:
    """Solve the plan LP by Lagrangian decomposition with an exact working set.

    Parameters
    ----------
    lp : PlanLP
    work : int
        Least number of cells added to the working set per round (up to its
        size is added, so the set at most doubles).
    sample : int
        Cells in the smallest pricing sample.
    max_rows : int
        Most coupling rows the method takes on; beyond it the caller uses HiGHS.
    max_rounds : int
        Rounds before giving up.
    seed : int
        Seed of the pricing samples.

    Returns
    -------
    x : ndarray (n_cells, K) or None
    y : ndarray (m,) or None
        None when the method could not certify; `info.reason` says why.
    info : StructuredInfo
    """
    info = StructuredInfo()
    m = len(lp.b)
    if m > max_rows:
        info.reason = f"{m} coupling rows (the structured method takes at most {max_rows})"
        return None, None, info
    forced = _forced_cells(lp, small=max(64, work // 10))
    y = _price(lp, forced, np.random.default_rng(seed), sample, work) if m else np.zeros(0)
    x, y, ok = _column_generation(lp, y, forced, work, max_rounds, 0.1 * GAP_TOL, info)
    info.converged = ok
    return (x, y, info) if ok else (None, None, info)
