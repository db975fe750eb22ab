"""The general path: the whole plan LP handed to `scipy.optimize.linprog` (HiGHS).

Data flow: `PlanLP` -> (x, y). It is the cross-check of the structured method
and its fallback for constraint sets the structured method does not cover.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeResult, linprog

from adopt.optimize.lp import PlanLP, chain_matrix


def linprog_args(lp: PlanLP) -> dict:
    """The keyword arguments of `linprog` for the full LP (chain rows included)."""
    n, K = lp.shape  # noqa: N806
    ineq = ~lp.eq
    a_ub = sp.vstack([lp.A[ineq], chain_matrix(n, K)], format="csr")
    b_ub = np.r_[lp.b[ineq], np.zeros(a_ub.shape[0] - int(ineq.sum()))]
    args = {
        "c": -lp.c.ravel(),
        "A_ub": a_ub,
        "b_ub": b_ub,
        "bounds": np.c_[np.zeros(n * K), lp.ub.ravel()],
    }
    if lp.eq.any():
        args["A_eq"], args["b_eq"] = lp.A[lp.eq], lp.b[lp.eq]
    return args


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
    x : ndarray (n_cells, K) or None
    y : ndarray (m,) or None
        Multipliers of the coupling rows (None unless solved to optimality).
    res : OptimizeResult
        The raw solver result, so a caller can see why it stopped.
    """
    options = {"time_limit": time_limit} if time_limit else {}
    res = linprog(**linprog_args(lp), method=method, options=options)
    if res.status != 0:
        return None, None, res
    x = np.clip(res.x.reshape(lp.shape), 0.0, lp.ub)
    y = np.zeros(len(lp.b))
    ineq = ~lp.eq
    y[ineq] = -res.ineqlin.marginals[: int(ineq.sum())]
    if lp.eq.any():
        y[lp.eq] = -res.eqlin.marginals
    return x, y, res
