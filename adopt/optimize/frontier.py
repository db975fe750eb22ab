"""The budget frontier: the optimal objective over a range of budgets.

Data flow: curves + spec + budgets -> a table (budget, objective, marginal
value of the next unit of budget, spend, certified). The LP value is concave
and non-decreasing in the budget, so the marginal value never rises.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adopt.exceptions import InputError
from adopt.optimize.certificate import certify
from adopt.optimize.curves import CurveGrid, build_grid
from adopt.optimize.lp import build_lp
from adopt.optimize.result import totals_of
from adopt.optimize.solve import solve_lp
from adopt.optimize.spec import PlanSpec


def budget_frontier(
    curves: pd.DataFrame | CurveGrid,
    spec: PlanSpec,
    budgets: np.ndarray | list[float],
    placements: pd.DataFrame | None = None,
    method: str = "auto",
) -> pd.DataFrame:
    """Solve the plan at each budget.

    Parameters
    ----------
    curves : DataFrame or CurveGrid
    spec : PlanSpec
        Its budget is replaced by each of `budgets`; a target objective is not allowed.
    budgets : array-like of float
        Positive budgets.
    placements : DataFrame, optional
    method : str

    Returns
    -------
    DataFrame
        budget, objective, marginal_value (objective per extra unit of budget:
        the budget's shadow price), spend, gap, certified.
    """
    if spec.objective.target is not None:
        raise InputError("plan", "objective.target", "the frontier needs a maximised objective")
    budgets = np.sort(np.asarray(budgets, dtype=float))
    if budgets.size == 0 or (budgets <= 0).any():
        raise InputError("plan", "budgets", f"must be positive numbers, got {budgets.tolist()}")
    grid = curves if isinstance(curves, CurveGrid) else build_grid(curves)
    rows = []
    for b in budgets:
        lp = build_lp(grid, spec.model_copy(update={"budget": float(b)}), placements)
        x, y, _, _ = solve_lp(lp, method)
        cert = certify(lp, x, y)
        rows.append({
            "budget": float(b),
            "objective": cert.primal,
            "marginal_value": float(y[lp.labels.index("budget")]),
            "spend": totals_of(lp, x)["spend"],
            "gap": cert.gap,
            "certified": cert.certified,
        })
    return pd.DataFrame(rows)
