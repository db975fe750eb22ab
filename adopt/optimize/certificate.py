"""The optimality certificate: Lagrangian dual value, duality gap and KKT checks.

Data flow: a solver hands back x (the plan) and y (one multiplier per coupling
row of `PlanLP`); this module proves (or refutes) that x is optimal. The dual
value is g(y) = y.b + sum_g group_users * max(0, best pattern value): every
campaign x segment group priced alone over its local polytope
(`adopt.optimize.pricing`). By weak duality g(y) bounds the optimum from
above for any y with y >= 0 on inequality rows; equality with the plan's value
proves the plan optimal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from adopt.optimize.lp import PlanLP
from adopt.optimize.pricing import Pricer

GAP_TOL = 1e-6


def dual_value(lp: PlanLP, y: np.ndarray) -> float:
    """The Lagrangian dual function g(y), an upper bound on the optimum."""
    return Pricer(lp).dual_value(y)[0]


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
        Largest relative violation of a row, a bound or a local row.
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
    x : ndarray (n_vars,)
    y : ndarray (m,)
        Multipliers of the coupling rows (>= 0 on inequality rows).

    Returns
    -------
    Certificate
    """
    x = np.asarray(x, float).ravel()
    primal = float(lp.c @ x)
    dual = dual_value(lp, y)
    scale = max(1.0, abs(primal))
    lhs = lp.A @ x.ravel() if lp.A.shape[0] else np.zeros(0)
    row_scale = np.maximum(1.0, np.maximum(abs(lp.b), abs(lp.A).max(axis=1).toarray().ravel()))
    viol = np.where(lp.eq, abs(lhs - lp.b), np.maximum(lhs - lp.b, 0)) / row_scale
    bound = max(float(np.max(-x, initial=0)), float(np.max(x - lp.ub, initial=0)))
    local = _local_violation(lp, x)
    ineq = ~lp.eq
    dual_viol = float(np.max(-y[ineq], initial=0)) / max(1.0, float(np.max(abs(y), initial=0)))
    slack = np.where(ineq, lp.b - lhs, 0.0)
    comp = float(np.max(abs(y * slack), initial=0)) / scale
    return Certificate(
        primal=primal,
        dual=dual,
        gap=abs(dual - primal) / scale,
        primal_violation=max(float(np.max(viol, initial=0)), bound, local),
        dual_violation=dual_viol,
        complementarity=comp,
    )


def _local_violation(lp: PlanLP, x: np.ndarray) -> float:
    """Largest violation of the local rows, relative to the group's users."""
    a_ub, b_ub, a_eq, b_eq = lp.local_rows()
    scale = max(1.0, float(np.max(lp.segment_users, initial=1.0)))
    over = np.max(a_ub @ x - b_ub, initial=0.0)
    off = np.max(abs(a_eq @ x - b_eq), initial=0.0)
    return float(max(over, off)) / scale
