"""The optimality certificate: Lagrangian dual value, duality gap and KKT checks.

Data flow: a solver hands back x (the plan) and y (one multiplier per coupling
row of `PlanLP`); this module proves (or refutes) that x is optimal. The dual
value is g(y) = y.b + sum_j max over prefixes m of sum_{k<m} (c - A'y)[j, k]:
every cell's best prefix under the reduced values (the chain polytope is
integral, so its LP maximum sits at a prefix). By weak duality g(y) bounds the
optimum from above for any y with y >= 0 on inequality rows; equality with the
plan's value proves the plan optimal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from adopt.optimize.lp import PlanLP

GAP_TOL = 1e-6


def reduced_values(lp: PlanLP, y: np.ndarray) -> np.ndarray:
    """c - A'y as an (n_cells, K) array, with -inf where x must stay 0."""
    r = lp.c - (lp.A.T @ y).reshape(lp.shape) if len(y) else lp.c.copy()
    return np.where(lp.ub > 0, r, -np.inf)


def best_prefix(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cell's best prefix length m (x[:m] = 1), its value and the margin to the next best.

    Parameters
    ----------
    r : ndarray (n_cells, K)
        Reduced values; -inf marks positions a cell may not use.

    Returns
    -------
    m, value, margin : ndarray (n_cells,)
    """
    n = r.shape[0]
    s = np.empty((n, r.shape[1] + 1))
    s[:, 0] = 0.0
    np.cumsum(r, axis=1, out=s[:, 1:])
    m = np.argmax(s, axis=1)
    value = s[np.arange(n), m]
    s[np.arange(n), m] = -np.inf
    margin = value - s.max(axis=1)
    return m, value, margin


def dual_value(lp: PlanLP, y: np.ndarray) -> float:
    """The Lagrangian dual function g(y), an upper bound on the optimum."""
    _, value, _ = best_prefix(reduced_values(lp, y))
    return float(y @ lp.b + value.sum())


@dataclass(frozen=True)
class Certificate:
    """Proof of optimality (or of how far from it a plan is).

    Attributes
    ----------
    primal : float
        The plan's objective in the LP's sense (maximised; minus spend when
        the objective is least spend).
    dual : float
        g(y), the Lagrangian bound.
    gap : float
        ``|dual - primal| / max(1, |primal|)``; the plan is certified when <= 1e-6.
    primal_violation : float
        Largest relative violation of a row, a bound or the chain.
    dual_violation : float
        Largest negative multiplier on an inequality row (relative).
    complementarity : float
        Largest ``y * slack`` relative to the objective.
    """

    primal: float
    dual: float
    gap: float
    primal_violation: float
    dual_violation: float
    complementarity: float

    @property
    def certified(self) -> bool:
        return self.gap <= GAP_TOL and self.primal_violation <= GAP_TOL

    def to_dict(self) -> dict:
        return {**asdict(self), "certified": self.certified, "tolerance": GAP_TOL}


def certify(lp: PlanLP, x: np.ndarray, y: np.ndarray) -> Certificate:
    """Check a plan x and multipliers y against the LP (primal, dual, gap, KKT).

    Parameters
    ----------
    lp : PlanLP
    x : ndarray (n_cells, K)
    y : ndarray (m,)
        Multipliers of the coupling rows (>= 0 on inequality rows).

    Returns
    -------
    Certificate
    """
    primal = float((lp.c * x).sum())
    dual = dual_value(lp, y)
    scale = max(1.0, abs(primal))
    lhs = lp.A @ x.ravel() if lp.A.shape[0] else np.zeros(0)
    row_scale = np.maximum(1.0, np.maximum(abs(lp.b), abs(lp.A).max(axis=1).toarray().ravel()))
    viol = np.where(lp.eq, abs(lhs - lp.b), np.maximum(lhs - lp.b, 0)) / row_scale
    bound = max(float(np.max(-x, initial=0)), float(np.max(x - lp.ub, initial=0)))
    chain = float(np.max(x[:, 1:] - x[:, :-1], initial=0))
    ineq = ~lp.eq
    dual_viol = float(np.max(-y[ineq], initial=0)) / max(1.0, float(np.max(abs(y), initial=0)))
    slack = np.where(ineq, lp.b - lhs, 0.0)
    comp = float(np.max(abs(y * slack), initial=0)) / scale
    return Certificate(
        primal=primal,
        dual=dual,
        gap=abs(dual - primal) / scale,
        primal_violation=max(float(np.max(viol, initial=0)), bound, chain),
        dual_violation=dual_viol,
        complementarity=comp,
    )
