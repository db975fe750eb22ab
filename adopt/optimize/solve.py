"""`optimize`: curves + plan spec -> a certified `PlanResult`.

Data flow: the entry point of `adopt.optimize`. It validates, builds the LP,
rejects visibly infeasible plans, runs the Lagrangian decomposition
(`lagrangian`; the method is named "structured" in the API and in plan.json)
or HiGHS, falls back to HiGHS where the decomposition cannot certify, explains
infeasibility, and packages the answer with its certificate.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from adopt.exceptions import InfeasibleError, InputError
from adopt.optimize.curves import CurveGrid, build_grid
from adopt.optimize.highs import solve_highs
from adopt.optimize.infeasible import explain, precheck
from adopt.optimize.integer import integer_plan
from adopt.optimize.lagrangian import solve_lagrangian
from adopt.optimize.lp import PlanLP, build_lp
from adopt.optimize.result import PlanResult, package
from adopt.optimize.spec import PlanSpec

log = logging.getLogger("adopt")
METHODS = ("auto", "structured", "highs", "highs-ds", "highs-ipm")


def solve_lp(lp: PlanLP, method: str = "auto") -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """Solve a `PlanLP`; returns x, y, the method used and notes.

    Raises
    ------
    InfeasibleError
        With the conflicting constraints named (see `adopt.optimize.infeasible`).
    """
    if method not in METHODS:
        raise InputError("plan", "method", f"must be one of {list(METHODS)}, got {method!r}")
    precheck(lp)
    notes: list[str] = []
    if method in ("auto", "structured"):
        x, y, info = solve_lagrangian(lp)
        if x is not None:
            notes.append(f"structured: {info.rounds} round(s), {info.working_set[-1]} columns")
            return x, y, "structured", notes
        notes.append(f"structured method not used ({info.reason}); solved by HiGHS instead")
        log.info("optimize: %s", notes[-1])
        method = "highs"
    x, y, res = solve_highs(lp, method=method)
    if x is None:
        if res.status == 2:
            raise explain(lp)
        if res.status == 3:
            raise InfeasibleError(
                "The plan is unbounded: the objective has no limit; add a budget or a target."
            )
        raise InfeasibleError(f"HiGHS stopped before the optimum: {res.message}")
    return x, y, method, notes


def optimize(
    curves: pd.DataFrame | CurveGrid,
    spec: PlanSpec,
    placements: pd.DataFrame | None = None,
    method: str = "auto",
) -> PlanResult:
    """Find the certified-optimal plan.

    Parameters
    ----------
    curves : DataFrame or CurveGrid
        The curves table (see `adopt.optimize.curves`).
    spec : PlanSpec
        Budget, objective and constraints.
    placements : DataFrame, optional
        placement_id, inventory.
    method : str
        "auto" (structured, HiGHS fallback), "structured", "highs", "highs-ds"
        or "highs-ipm".

    Returns
    -------
    PlanResult

    Raises
    ------
    InputError
        Bad curves or a constraint naming an unknown campaign/segment/placement.
    InfeasibleError
        The constraints conflict; the message says which and by how much.
    """
    grid = curves if isinstance(curves, CurveGrid) else build_grid(curves)
    return solve(build_lp(grid, spec, placements), method)


def solve(lp: PlanLP, method: str = "auto") -> PlanResult:
    """The certified-optimal plan of a built `PlanLP` (integer caps when its spec asks).

    `optimize` builds the LP and calls this; `adopt.plan.make_plan` keeps the
    LP to solve the frontier on it too.
    """
    start = time.perf_counter()
    x, y, used, notes = solve_lp(lp, method)
    result = package(lp, x, y, used, time.perf_counter() - start, notes)
    if lp.spec.integer_caps:
        result = integer_plan(lp, result)
    return result
