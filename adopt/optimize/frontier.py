"""The budget frontier: the optimal objective over a range of budgets.

Data flow: a built `PlanLP` (or curves + spec) + budgets -> a table (budget,
objective, marginal value of the next unit of budget, spend, certified). The
LP is built once; each budget only moves the budget row's bound
(`PlanLP.with_budget`), and the plan's own budget reuses the plan's solve. The
LP value is concave and non-decreasing in the budget, so the marginal value
never rises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from adopt.exceptions import InfeasibleError, InputError
from adopt.optimize.certificate import certify
from adopt.optimize.curves import CurveGrid, build_grid
from adopt.optimize.lp import PlanLP, build_lp
from adopt.optimize.result import PlanResult, totals_of
from adopt.optimize.solve import solve_lp
from adopt.optimize.spec import PlanSpec

log = logging.getLogger("adopt")

# Budgets of the default frontier, as multiples of the plan's budget (1.0 marks the plan).
FRONTIER_SCALES = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
FRONTIER_COLUMNS = ("budget", "objective", "marginal", "spend", "gap", "certified")


def _point(lp: PlanLP, method: str) -> dict:
    """Solve `lp` and describe the optimum as a frontier row."""
    x, y, _, _ = solve_lp(lp, method)
    cert = certify(lp, x, y)
    return {
        "budget": float(lp.spec.budget),
        "objective": cert.primal,
        "marginal_value": float(y[lp.kinds.index("budget")]),
        "spend": totals_of(lp, x)["spend"],
        "gap": cert.gap,
        "certified": cert.certified,
    }


def _plan_point(result: PlanResult, budget: float) -> dict:
    """The frontier row of a plan already solved at `budget` (its LP optimum)."""
    cert = result.certificate
    return {
        "budget": float(budget),
        "objective": cert.primal,
        "marginal_value": result.shadow_price("budget"),
        "spend": result.totals["spend"],
        "gap": cert.gap,
        "certified": cert.certified,
    }


def budget_frontier(
    curves: pd.DataFrame | CurveGrid | PlanLP,
    spec: PlanSpec,
    budgets: np.ndarray | list[float],
    placements: pd.DataFrame | None = None,
    method: str = "auto",
) -> pd.DataFrame:
    """Solve the plan at each budget.

    Parameters
    ----------
    curves : DataFrame, CurveGrid or PlanLP
        A `PlanLP` of `spec` is solved as it is, at each budget.
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
    if isinstance(curves, PlanLP):
        lp = curves
    else:
        grid = curves if isinstance(curves, CurveGrid) else build_grid(curves)
        lp = build_lp(grid, spec.model_copy(update={"budget": float(budgets[0])}), placements)
    return pd.DataFrame([_point(lp.with_budget(b), method) for b in budgets])


def frontier_budgets(budget: float, scales: Sequence[float] = FRONTIER_SCALES) -> list[float]:
    """The default frontier budgets around `budget` (it is one of them)."""
    return [float(budget) * s for s in scales]


def plan_frontier(
    lp: PlanLP,
    budgets: Sequence[float] | None = None,
    method: str = "auto",
    plan: PlanResult | None = None,
) -> pd.DataFrame | None:
    """The optimal objective at each budget, skipping budgets where the plan is infeasible.

    Parameters
    ----------
    lp : PlanLP
        The plan's LP; a maximised objective. Its budget is replaced by each of `budgets`.
    budgets : sequence of float, optional
        Default: `frontier_budgets` of the plan's budget.
    method : str
    plan : PlanResult, optional
        The LP optimum of `lp` (not an integer-cap plan): the row at the plan's
        own budget is read from it instead of solved again.

    Returns
    -------
    DataFrame or None
        Columns `FRONTIER_COLUMNS`, sorted by budget; None for a least-spend
        objective (it has no budget to vary) or when no budget is feasible.
    """
    spec = lp.spec
    if spec.objective.target is not None or (budgets is None and spec.budget is None):
        return None
    rows = []
    for budget in sorted(budgets if budgets is not None else frontier_budgets(spec.budget)):
        if plan is not None and budget == spec.budget:
            rows.append(_plan_point(plan, budget))
            continue
        try:
            rows.append(_point(lp.with_budget(budget), method))
        except InfeasibleError as exc:
            # e.g. minimum spends above a small budget: that point has no plan
            log.info("frontier: budget %.6g skipped: %s", budget, exc)
    if not rows:
        return None
    table = pd.DataFrame(rows).rename(columns={"marginal_value": "marginal"})
    return table[list(FRONTIER_COLUMNS)]
