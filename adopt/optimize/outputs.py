"""Everything a plan folder holds besides the solve: frontier, baselines, audiences.

Data flow: curves + spec -> `solve_plan` -> `PlanOutputs` (the `PlanResult`,
the audiences table, the budget frontier and the uniform / historical
baselines at the same budget, evaluated on the same curves) -> `io.write_plan`.
`adopt plan` and `adopt.Planner.plan` both go through `solve_plan`, so a plan
folder has the same content whichever way it was made.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from adopt.exceptions import InfeasibleError, InputError, WorkspaceError
from adopt.optimize.curves import CurveGrid, build_grid
from adopt.optimize.forecast import forecast_interval
from adopt.optimize.frontier import budget_frontier
from adopt.optimize.observed import aggregates_summary, has_history
from adopt.optimize.result import TOTALS, PlanResult
from adopt.optimize.solve import optimize
from adopt.optimize.spec import PlanSpec

log = logging.getLogger("adopt")

# Budgets of the default frontier, as multiples of the plan's budget (1.0 marks the plan).
FRONTIER_SCALES = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
FRONTIER_COLUMNS = ("budget", "objective", "marginal", "spend", "gap", "certified")


@dataclass
class PlanOutputs:
    """A solved plan with what the plan folder stores beside it.

    Attributes
    ----------
    result : PlanResult
    audiences : DataFrame
        One row per campaign x segment (`adopt.optimize.result.audiences_table`).
    frontier : DataFrame or None
        budget, objective, marginal (objective per extra unit of budget),
        spend, gap, certified; None when not computed (e.g. a least-spend plan).
    baselines : dict
        ``{"uniform": totals, "historical": totals}``; a key is absent when
        that baseline could not be made (historical needs a workspace's logs).
    forecast : dict
        Per metric the plan's forecast with its interval
        (`adopt.optimize.forecast.forecast_interval`).
    aggregates : dict
        For curves fitted to aggregates (`adopt.optimize.observed.aggregates_summary`):
        fit quality, spend beyond observed, the guard rail, the historical
        check; empty otherwise.
    """

    result: PlanResult
    audiences: pd.DataFrame
    frontier: pd.DataFrame | None
    baselines: dict[str, dict[str, float]]
    forecast: dict = field(default_factory=dict)
    aggregates: dict = field(default_factory=dict)


def frontier_budgets(budget: float, scales: Sequence[float] = FRONTIER_SCALES) -> list[float]:
    """The default frontier budgets around `budget` (it is one of them)."""
    return [float(budget) * s for s in scales]


def plan_frontier(
    curves: pd.DataFrame | CurveGrid,
    spec: PlanSpec,
    placements: pd.DataFrame | None = None,
    budgets: Sequence[float] | None = None,
    method: str = "auto",
) -> pd.DataFrame | None:
    """The optimal objective at each budget, skipping budgets where the plan is infeasible.

    Parameters
    ----------
    curves : DataFrame or CurveGrid
    spec : PlanSpec
        A maximised objective; its budget is replaced by each of `budgets`.
    placements : DataFrame, optional
    budgets : sequence of float, optional
        Default: `frontier_budgets(spec.budget)`.
    method : str

    Returns
    -------
    DataFrame or None
        Columns `FRONTIER_COLUMNS`, sorted by budget; None for a least-spend
        objective (it has no budget to vary) or when no budget is feasible.
    """
    if spec.objective.target is not None or (budgets is None and spec.budget is None):
        return None
    grid = curves if isinstance(curves, CurveGrid) else build_grid(curves)
    rows = []
    for budget in sorted(budgets if budgets is not None else frontier_budgets(spec.budget)):
        try:
            rows.append(budget_frontier(grid, spec, [budget], placements, method))
        except InfeasibleError as exc:
            # e.g. minimum spends above a small budget: that point has no plan
            log.info("frontier: budget %.6g skipped: %s", budget, exc)
    if not rows:
        return None
    table = pd.concat(rows, ignore_index=True).rename(columns={"marginal_value": "marginal"})
    return table[list(FRONTIER_COLUMNS)]


def plan_baselines(
    curves: pd.DataFrame,
    budget: float,
    placements: pd.DataFrame | None = None,
    workspace: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Forecast totals of the uniform and historical exposures at `budget`, on the same curves.

    Parameters
    ----------
    curves : DataFrame
        The curves the plan was solved on.
    budget : float
        The plan's budget (its spend for a least-spend plan).
    placements : DataFrame, optional
        placement_id, inventory: both baselines respect it.
    workspace : path, optional
        A workspace with logs and audiences; without one there is no
        historical baseline.

    Returns
    -------
    baselines : dict
        ``{"uniform": totals, "historical": totals}`` with the `TOTALS` keys;
        "historical" is absent when it cannot be made.
    notes : list of str
        Why a baseline is missing.
    """
    from adopt.curves.baselines import historical_exposure, uniform_exposure
    from adopt.delivery import evaluate_exposure
    from adopt.optimize.observed import has_history, historical_totals

    def totals(exposure: pd.DataFrame) -> dict[str, float]:
        found = evaluate_exposure(curves, exposure)
        return {name: float(found[name]) for name in TOTALS}

    out = {"uniform": totals(uniform_exposure(curves, budget, placements))}
    if has_history(curves):
        # curves fitted to aggregates: the historical allocation they were fitted on
        out["historical"] = historical_totals(curves, budget)
        return out, ["historical baseline: the aggregates' historical allocation, scaled to "
                     "the budget"]
    if workspace is None:
        return out, ["no historical baseline: the plan has no workspace with logs"]
    try:
        out["historical"] = totals(historical_exposure(workspace, curves, budget, placements))
    except (WorkspaceError, InputError) as exc:
        # e.g. curves a planner wrote for campaigns the logs do not have
        return out, [f"no historical baseline: {exc}"]
    return out, []


def solve_plan(
    curves: pd.DataFrame,
    spec: PlanSpec,
    placements: pd.DataFrame | None = None,
    *,
    workspace: str | os.PathLike[str] | None = None,
    frontier: bool | Sequence[float] = True,
    baselines: bool = True,
    method: str = "auto",
    replicates: pd.DataFrame | None = None,
) -> PlanOutputs:
    """Optimise, then compute the audiences, the frontier, the baselines and the forecast.

    Parameters
    ----------
    curves : DataFrame
        The curves table.
    spec : PlanSpec
    placements : DataFrame, optional
        placement_id, inventory.
    workspace : path, optional
        For the historical baseline (the logging policy's mix).
    frontier : bool or sequence of float
        True: the default budgets (`frontier_budgets`); a sequence: these budgets.
    baselines : bool
        Compute the uniform and historical baselines.
    method : str
        Solver choice (see `optimize`).
    replicates : DataFrame, optional
        Bootstrap replicates of the curves, for the forecast's interval
        (`adopt.optimize.forecast.curves_context`).

    Returns
    -------
    PlanOutputs
    """
    grid = build_grid(curves)
    result = optimize(grid, spec, placements, method=method)
    audiences = result.audiences
    table = None
    if frontier is not False:
        budgets = None if frontier is True else [float(b) for b in frontier]
        table = plan_frontier(grid, spec, placements, budgets, method)
    found: dict[str, dict[str, float]] = {}
    if baselines:
        budget = spec.budget if spec.budget is not None else result.totals["spend"]
        found, notes = plan_baselines(curves, budget, placements, workspace)
        result.notes.extend(notes)
    m = result.x[: grid.n_cells * grid.K].reshape(grid.n_cells, grid.K)
    forecast = forecast_interval(grid, m, replicates)
    aggregates = {}
    if has_history(curves):
        aggregates = aggregates_summary(curves, result.allocation, spec.max_spend_multiple,
                                        result.totals)
        result.notes.append(aggregates["text"])
        result.notes.append(aggregates["historical_check"]["text"])
        if aggregates["plan_against_history"]["text"]:
            result.notes.append(aggregates["plan_against_history"]["text"])
    return PlanOutputs(result=result, audiences=audiences, frontier=table, baselines=found,
                       forecast=forecast, aggregates=aggregates)


def default_plan_id(spec_bytes: bytes, curves: pd.DataFrame) -> str:
    """``plan-<hash>`` of the spec's bytes and the curves' content."""
    digest = hashlib.sha256(spec_bytes)
    digest.update(pd.util.hash_pandas_object(curves, index=False).values.tobytes())
    return f"plan-{digest.hexdigest()[:12]}"
