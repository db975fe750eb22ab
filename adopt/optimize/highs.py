"""The general path: the whole plan LP handed to `scipy.optimize.linprog` (HiGHS).

Data flow: `PlanLP` -> (x, y). It is the cross-check of the structured method
and its fallback for constraint sets the structured method does not cover.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeResult, linprog

from adopt.optimize.lp import PlanLP


def linprog_args(lp: PlanLP) -> dict:
    """The keyword arguments of `linprog` for the full LP: coupling rows first, then local ones."""
    ineq = ~lp.eq
    l_ub, lb_ub, l_eq, lb_eq = lp.local_rows()
    return {
        "c": -lp.c,
        "A_ub": sp.vstack([lp.A[ineq], l_ub], format="csr"),
        "b_ub": np.r_[lp.b[ineq], lb_ub],
        "A_eq": sp.vstack([lp.A[lp.eq], l_eq], format="csr"),
        "b_eq": np.r_[lp.b[lp.eq], lb_eq],
        "bounds": np.c_[np.zeros(lp.n_vars), lp.ub],
    }


def solve_highs(
    lp: PlanLP, method: str = "highs", time_limit: float | None = None
) -> tuple[np.ndarray | None, np.ndarray | None, OptimizeResult]:
    """Solve the full LP with HiGHS.

    Parameters
    ----------
    lp : PlanLP
    method : str
        ``"highs"``, ``"highs-ds"`` or ``"highs-ipm"``.
    time_limit : float, optional
        Seconds HiGHS may run.

    Returns
    -------
    x : ndarray (n_vars,) or None
    y : ndarray (m,) or None
        Multipliers of the coupling rows (None unless solved to optimality).
    res : OptimizeResult
        The raw solver result, so a caller can see why it stopped.
    """
    options = {"time_limit": time_limit} if time_limit else {}
    res = linprog(**linprog_args(lp), method=method, options=options)
    if res.status != 0:
        return None, None, res
    x = np.clip(res.x, 0.0, lp.ub)
    y = np.zeros(len(lp.b))
    ineq = ~lp.eq
    y[ineq] = -res.ineqlin.marginals[: int(ineq.sum())]
    y[lp.eq] = -res.eqlin.marginals[: int(lp.eq.sum())]
    return x, y, res
