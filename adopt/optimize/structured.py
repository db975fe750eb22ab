"""The fast exact method: minimise the Lagrangian dual over the few coupling rows.

Data flow: `PlanLP` -> (x, y), the same answer as `highs.solve_highs`, in a
fraction of the time on large plans. Priced by multipliers y of the coupling
rows (budget, inventory, campaign limits...), every cell decouples into a chain
whose best plan is a prefix: give the first m positions to all its users
(`certificate.best_prefix`). The dual g(y) = y.b + sum_cells max_m S[j, m](y),
with S[j, m] the value of prefix m under the reduced values c - A'y, is a
convex piecewise-linear function of the m numbers y, and one evaluation is a
few vectorised passes over the variables. Its minimum equals the LP optimum.

The method is a trust region on g whose model is exact:

1. around the current y take a box y +- tau * sigma (sigma: each row's price
   scale). A cell's best prefix can only change inside the box if a rival
   prefix's deficit is within the most the box can move it (the rows' box
   widths times the cell's use of them); every other cell is *fixed* at its
   prefix, and its value is affine in y over the whole box. tau is set so
   that `work` cells stay *open*, and of those only the positions between
   their shortest and longest possible prefix are variables (mostly one);
2. one small LP (HiGHS) over the open positions, the fixed cells' use of each
   row moved to the right-hand side and the box written as elastic columns
   (row i may be exceeded at price upper_i, left slack at price lower_i), is
   exactly min g over the box. Its duals are the new y;
3. if y lies inside the box, it minimises g everywhere (g is convex), the
   elastic columns are zero, and the fixed prefixes plus the LP's positions
   form a plan whose value equals g(y): the certificate. Otherwise g fell;
   recentre the box on y with GROWTH times the open cells (wider on rows
   whose price hit its edge) and repeat. Once the box holds every cell whose
   prefix can change at all, its LP is the whole plan's, so it ends.

With prices from the samples below, a 1,000,000-variable plan needs four to
six rounds of 1,000 to 8,000 open cells: the LPs stay small, and the passes
over all variables are a few tens of milliseconds each.

The start comes from nested random samples of the plan (a quarter of the
cells, each row's right-hand side scaled to their share, itself solved this way
from a smaller sample, down to a sample whose LP is solved whole). Rows that
touch few cells (pins, segment limits) keep their cells always open and their
prices unboxed. Where it cannot finish (too many coupling rows, no convergence)
it says so and the caller falls back to HiGHS on the whole LP.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from adopt.optimize.certificate import GAP_TOL, dual_value, reduced_values
from adopt.optimize.lp import PlanLP

SHRINK = 4  # each pricing sample holds 1/SHRINK of the cells of the one above
ROUNDS = 8  # rounds a pricing sample gets
GROWTH = 1.5  # open cells grow by this factor a round (2: fewer rounds, bigger LPs)
LP_METHOD = "highs-ds"  # dual simplex: faster than interior point on the box LPs


@dataclass
class StructuredInfo:
    """What the structured method did: rounds, open cells per round, why it stopped."""

    rounds: int = 0
    working_set: list[int] = field(default_factory=list)
    converged: bool = False
    reason: str = ""


@dataclass
class _Open:
    """One round's box: the open cells, their prefix range [lo, hi], the y bounds."""

    lo: np.ndarray
    hi: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class _Plan:
    """A `PlanLP` with what every round reuses: A by columns, |A|', row price scales.

    Rows that touch at most `small` cells (pins, segment limits) are *free*:
    their cells (*forced*) are always open, so their prices need no box. A
    sample of the plan inherits them (`forced` and `free` given).
    """

    def __init__(self, lp: PlanLP, small: int, forced: np.ndarray | None = None,
                 free: np.ndarray | None = None) -> None:
        self.lp = lp
        K = lp.shape[1]  # noqa: N806
        self.A_csc = lp.A.tocsc()
        self.abs_t = abs(lp.A).T.tocsr()
        if forced is None or free is None:
            forced, free = np.zeros(lp.shape[0], bool), np.zeros(len(lp.b), bool)
            for i in np.flatnonzero(np.diff(lp.A.indptr) <= small * K):
                cells = np.unique(lp.A.indices[lp.A.indptr[i]:lp.A.indptr[i + 1]] // K)
                if len(cells) <= small:
                    forced[cells] = free[i] = True
        self.forced, self.free = forced, free
        # a price scale for rows priced at 0: value per unit of the row
        value = (abs(lp.A) > 0) @ abs(lp.c.ravel())
        use = np.asarray(abs(lp.A).sum(axis=1)).ravel()
        self.typical = np.divide(value, use, out=np.ones(len(lp.b)), where=(use > 0) & (value > 0))


def _open_cells(plan: _Plan, y: np.ndarray, sigma: np.ndarray, work: int) -> _Open:
    """The box y +- tau * sigma holding `work` open cells, and each cell's prefix range."""
    lp = plan.lp
    n, K = lp.shape  # noqa: N806
    s = np.zeros((n, K + 1))
    np.cumsum(reduced_values(lp, y), axis=1, out=s[:, 1:])
    j = np.arange(n)
    best = np.argmax(s, axis=1)
    # the most the box (tau = 1) moves prefix m against the best: the rows'
    # widths times the cell's use of them over the positions in between
    v = np.zeros((n, K + 1))
    np.cumsum(np.where(lp.ub > 0, (plan.abs_t @ sigma).reshape(n, K), 0.0), axis=1,
              out=v[:, 1:])
    move = abs(v - v[j, best][:, None])
    deficit = s[j, best][:, None] - s
    with np.errstate(invalid="ignore", divide="ignore"):
        crit = np.where(move > 0, deficit / move, np.inf)
    crit[~np.isfinite(s)] = np.inf
    crit[j, best] = 0.0
    rival = crit.copy()
    rival[j, best] = np.inf
    cell = rival.min(axis=1)
    # the box holds `work` cells besides the forced ones and those already tied
    cell = cell[~plan.forced & (cell > 0) & np.isfinite(cell)]
    if cell.size <= work:
        tau = np.inf
        cand = np.isfinite(crit)
    else:
        tau = float(np.partition(cell, work - 1)[work - 1])
        cand = crit <= tau
    cand[plan.forced] = np.isfinite(s[plan.forced])
    lo = np.argmax(cand, axis=1)
    hi = K - np.argmax(cand[:, ::-1], axis=1)
    width = np.where(plan.free, np.inf, tau * sigma)
    lower = np.where(lp.eq, y - width, np.maximum(y - width, 0.0))
    return _Open(lo, hi, lower, y + width)


def _box_lp(
    plan: _Plan, box: _Open
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, str]:
    """min g over the box: an LP over the open positions, written in increments.

    w[j, k] = x[j, k] - x[j, k+1] >= 0 for k in [lo, hi) (x[j, hi] = 0 and
    x[j, k] = 1 below lo), so the chain is one row sum_k w[j, k] <= 1 per cell
    (a bound where only one position is open). Elastic columns s (row i
    exceeded at price upper_i) and t (row i left slack, paid lower_i) bound
    its duals to the box.

    Returns x (n_cells, K) or None, y, the elastic amounts used, and why it failed.
    """
    lp = plan.lp
    n, K = lp.shape  # noqa: N806
    m = len(lp.b)
    x = (np.arange(K)[None, :] < box.lo[:, None]).astype(float)
    length = box.hi - box.lo
    owner = np.repeat(np.arange(n), length)
    nv = owner.size
    first = np.repeat(np.cumsum(length) - length, length)
    pos = np.arange(nv) - first
    cols = owner * K + box.lo[owner] + pos
    # variable v's column sums the positions lo..k of its cell
    upto = np.repeat(np.arange(nv), pos + 1)
    back = np.arange(upto.size) - np.repeat(np.cumsum(pos + 1) - (pos + 1), pos + 1)
    cum = sp.csr_matrix((np.ones(upto.size), (upto - back, upto)), shape=(nv, nv))
    a_w = plan.A_csc[:, cols] @ cum
    c_w = lp.c.ravel()[cols] @ cum
    rhs = lp.b - lp.A @ x.ravel()
    hi_cost = np.isfinite(box.upper)
    lo_gain = np.isfinite(box.lower) & (lp.eq | (box.lower > 0))
    elastic = sp.hstack([sp.eye(m, format="csr")[:, hi_cost] * -1.0,
                         sp.eye(m, format="csr")[:, lo_gain]])
    a_all = sp.hstack([a_w, elastic], format="csr")
    obj = np.r_[c_w, -box.upper[hi_cost], box.lower[lo_gain]]
    # a row no variable touches only constrains the fixed cells
    empty = np.diff(a_all.indptr) == 0
    tol = 1e-9 * np.maximum(1, abs(lp.b[empty]))
    bad = np.where(lp.eq[empty], abs(rhs[empty]) > tol, rhs[empty] < -tol)
    if bad.any():
        return None, np.zeros(m), np.zeros(0), "a row cannot hold with the fixed cells"
    ineq, eq = ~empty & ~lp.eq, ~empty & lp.eq
    multi = np.flatnonzero(length > 1)
    in_multi = np.isin(owner, multi)
    gub = sp.csr_matrix((np.ones(int(in_multi.sum())),
                         (np.searchsorted(multi, owner[in_multi]), np.flatnonzero(in_multi))),
                        shape=(multi.size, obj.size))
    a_ub = sp.vstack([a_all[ineq], gub], format="csr")
    b_ub = np.r_[rhs[ineq], np.ones(multi.size)]
    kw = {"A_eq": a_all[eq], "b_eq": rhs[eq]} if eq.any() else {}
    bounds = np.c_[np.zeros(obj.size), np.r_[np.ones(nv), np.full(obj.size - nv, np.inf)]]
    res = linprog(-obj, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method=LP_METHOD, **kw)
    y = np.zeros(m)
    if res.status != 0:
        return None, y, np.zeros(0), res.message
    y[np.flatnonzero(ineq)] = -res.ineqlin.marginals[: int(ineq.sum())]
    if eq.any():
        y[np.flatnonzero(eq)] = -res.eqlin.marginals
    w = np.maximum(res.x[:nv], 0.0)
    # x[j, k] sums the increments of positions k..hi-1
    x.ravel()[cols] = np.minimum(cum @ w, 1.0)
    used = np.zeros(m)
    used[hi_cost] = res.x[nv:nv + int(hi_cost.sum())]
    used[lo_gain] += np.where(lp.eq[lo_gain], res.x[nv + int(hi_cost.sum()):], 0.0)
    return x, y, used, ""


def _descend(
    plan: _Plan, y: np.ndarray, work: int, max_rounds: int, tol: float, info: StructuredInfo
) -> tuple[np.ndarray | None, np.ndarray, bool]:
    """Trust-region rounds from prices y until the certificate gap is <= tol."""
    lp = plan.lp
    grow = np.ones(len(lp.b))
    for info.rounds in range(1, max_rounds + 1):
        sigma = grow * np.maximum(abs(y), 0.1 * plan.typical)
        # more cells each round: a start far off costs log rounds, and at
        # the latest when the box takes every cell its LP is the whole plan's
        box = _open_cells(plan, y, sigma, int(work * GROWTH ** (info.rounds - 1)))
        info.working_set.append(int((box.hi > box.lo).sum()))
        x, y_new, used, why = _box_lp(plan, box)
        if x is None:
            info.reason = f"the box LP failed: {why}"
            return None, y, False
        primal = float((lp.c * x).sum())
        inside = np.all(used <= 1e-7 * np.maximum(1.0, abs(lp.b)))
        if inside and abs(dual_value(lp, y_new) - primal) <= tol * max(1.0, abs(primal)):
            return x, y_new, True
        # widen the box on rows whose price reached its edge, narrow it back elsewhere
        edge = np.isclose(y_new, box.upper, rtol=1e-9, atol=0) | (
            np.isclose(y_new, box.lower, rtol=1e-9, atol=0) & (lp.eq | (box.lower > 0)))
        grow = np.where(edge, 2 * grow, np.maximum(grow / 2, 1.0))
        y = y_new
    info.reason = f"no certificate after {max_rounds} rounds"
    return None, y, False


def _subset(lp: PlanLP, cells: np.ndarray) -> PlanLP:
    """The plan restricted to `cells`, each row's rhs scaled to the share they hold."""
    K = lp.shape[1]  # noqa: N806
    cols = (cells[:, None] * K + np.arange(K)).ravel()
    a = lp.A.tocsc()[:, cols].tocsr()
    total = np.asarray(abs(lp.A).sum(axis=1)).ravel()
    share = np.divide(np.asarray(abs(a).sum(axis=1)).ravel(), total, out=np.ones(len(lp.b)),
                      where=total > 0)
    return replace(lp, c=lp.c[cells], ub=lp.ub[cells], A=a, b=lp.b * share)


def _start(plan: _Plan, rng: np.random.Generator, sample: int, work: int) -> np.ndarray:
    """Starting prices: those of a random 1/SHRINK of the cells, solved this way from theirs."""
    lp = plan.lp
    n = lp.shape[0]
    y = np.zeros(len(lp.b))
    if n <= sample:
        return y
    pick = plan.forced.copy()
    pick[rng.choice(n, size=max(sample, n // SHRINK), replace=False)] = True
    cells = np.flatnonzero(pick)
    if cells.size > n // 2:  # the forced cells leave nothing to sample
        return y
    sub = _Plan(_subset(lp, cells), 0, plan.forced[cells], plan.free)
    _, y, _ = _descend(sub, _start(sub, rng, sample, work), work, ROUNDS, 1e-6, StructuredInfo())
    return y


def solve_structured(
    lp: PlanLP,
    work: int = 1000,
    sample: int = 1000,
    max_rows: int = 256,
    max_rounds: int = 50,
    seed: int = 0,
) -> tuple[np.ndarray | None, np.ndarray | None, StructuredInfo]:
    """Solve the plan LP by minimising its Lagrangian dual in exact trust regions.

    Parameters
    ----------
    lp : PlanLP
    work : int
        Cells left open in each round's box LP (the box is sized to hold them).
    sample : int
        Cells in the smallest pricing sample (its LP is solved whole).
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
    plan = _Plan(lp, small=max(64, work // 10))
    y = _start(plan, np.random.default_rng(seed), sample, work)
    x, y, ok = _descend(plan, y, work, max_rounds, 0.1 * GAP_TOL, info)
    info.converged = ok
    return (x, y, info) if ok else (None, None, info)
