"""The uniform and historical baselines of a plan, at its budget and on its curves.

Data flow: the plan's curves + budget -> the uniform exposure and the logging
policy's historical mix (`adopt.curves.baselines`), or the aggregates'
historical allocation (`adopt.optimize.observed`) -> forecast totals
(`adopt.delivery.evaluate_exposure`) -> plan.json's ``baselines``.
"""

from __future__ import annotations

import os

import pandas as pd

from adopt.curves.baselines import historical_exposure, uniform_exposure
from adopt.delivery import evaluate_exposure
from adopt.exceptions import InputError, WorkspaceError
from adopt.optimize.observed import has_history, historical_totals
from adopt.optimize.result import TOTALS


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
