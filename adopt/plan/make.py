"""`make_plan`: the one way to make a plan (the API, the CLI and the pipeline call it).

Data flow: a plan spec (a `PlanSpec`, a dict or a TOML file, read once) with
the arguments over it (checked by `adopt.planner_args`) + the curves (a table
or a file; default the workspace's ``curves/``) -> one `PlanSpec` ->
``plan_id`` (a hash of the spec, the chosen campaigns and the curves' content,
unless named) -> one LP, solved once (`adopt.optimize.solve.solve`) -> the frontier
on the same LP, the plan's own budget read from the solve
(`adopt.optimize.frontier.plan_frontier`) -> baselines, forecast and the
aggregates block -> `Plan` -> `Plan.save` under ``plans/<plan_id>/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from adopt._validation import check_choice, check_positive
from adopt.configs import creative_metric_for
from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize.curves import build_grid, curves_digest, read_table
from adopt.optimize.forecast import CurvesContext, curves_context, forecast_interval
from adopt.optimize.frontier import plan_frontier
from adopt.optimize.lp import build_lp
from adopt.optimize.observed import aggregates_summary, has_history
from adopt.optimize.solve import METHODS, solve
from adopt.optimize.spec import PlanSpec, load_spec, parse_spec
from adopt.plan.baselines import plan_baselines
from adopt.plan.evidence import creative_evidence_line
from adopt.plan.folder import plan_folder
from adopt.plan.plan import Plan
from adopt.planner_args import select_campaigns, spec_data
from adopt.workspace import Workspace

log = logging.getLogger("adopt")

Table = pd.DataFrame | str | os.PathLike[str] | None


def make_plan(
    spec: PlanSpec | dict | str | os.PathLike[str] | None = None,
    *,
    workspace: str | os.PathLike[str] | None = None,
    curves: Table = None,
    placements: Table = None,
    campaigns: Sequence[Any] | None = None,
    budget: float | None = None,
    objective: Any = None,
    constraints: Sequence[Any] = (),
    integer_caps: bool | None = None,
    plan_id: str | None = None,
    max_spend_multiple: float | bool | None = None,
    frontier: bool | Sequence[float] = True,
    baselines: bool = True,
    method: str = "auto",
    save: bool = True,
    out: str | os.PathLike[str] | None = None,
    where: str = "make_plan",
) -> Plan:
    """Find the certified-optimal plan, with its frontier, baselines and forecast.

    Parameters
    ----------
    spec : PlanSpec, dict or path, optional
        A plan spec, or a TOML plan file (format: ``adopt/optimize/README.md``).
    workspace : path, optional
        Where the curves come from by default, the plans are saved, and the
        logs for the historical baseline are.
    curves : DataFrame or path, optional
        The curves table; default ``<workspace>/curves/curves.parquet``.
    placements : DataFrame or path, optional
        placement_id, inventory; default the workspace's when the curves are.
    campaigns : sequence, optional
        Campaign ids or `CampaignBudget` objects to plan (default: all).
    budget, objective, constraints, integer_caps, plan_id
        Over the spec's: see `adopt.Planner.plan`.
    max_spend_multiple : float or False, optional
        Replaces the spec's guard rail (False: off); None keeps it.
    frontier : bool or sequence of float
        True for budgets around the plan's, or the budgets to solve.
    baselines : bool
        Evaluate the uniform and historical allocations at the same budget.
    method : str
        Solver: "auto", "structured", "highs", "highs-ds" or "highs-ipm".
    save : bool
        Write ``<out>/<plan_id>/`` (`Plan.save`).
    out : path, optional
        The folder that receives the plan folder; default ``<workspace>/plans``.
    where : str
        The caller, for messages ("Planner.plan", "adopt plan").

    Returns
    -------
    Plan

    Raises
    ------
    ParameterError
        An argument outside what it allows.
    InputError
        A bad plan file or curves table, or a constraint naming an unknown
        campaign, segment or placement.
    WorkspaceError
        No curves given and none in the workspace.
    InfeasibleError
        The constraints conflict (the message says which, and by how much).
    """
    ws = None if workspace is None else Workspace.of(workspace)
    base, config = _spec(where, spec)
    data = spec_data(where, base, budget, objective, constraints, integer_caps, plan_id)
    check_choice(where, "method", method, METHODS)
    if max_spend_multiple is not None:
        data["max_spend_multiple"] = None if max_spend_multiple is False else check_positive(
            where, "max_spend_multiple", max_spend_multiple)
    frontier = _frontier(where, frontier)
    table, places, sources = _tables(where, ws, curves, placements)
    context = curves_context(sources["curves"] if sources["curves"] != "DataFrame" else None)
    table, chosen, budgets = select_campaigns(where, table, campaigns)
    data["constraints"] = (*data["constraints"], *budgets)
    plan_spec = parse_spec(data, source=where)

    spec_json = plan_spec.model_dump(mode="json")
    rows = pd.util.hash_pandas_object(table, index=False).values.tobytes()
    key = json.dumps({"spec": spec_json, "campaigns": chosen}, sort_keys=True).encode()
    pid = plan_spec.plan_id or f"plan-{hashlib.sha256(key + rows).hexdigest()[:12]}"
    folder = None
    if save:
        root = out if out is not None or ws is None else ws.plans
        if root is None:
            raise ParameterError(f"{where} needs a workspace or an output folder to save the "
                                 "plan in. Got neither.")
        folder = plan_folder(root, pid, where)  # refused before solving

    inputs = {
        "workspace": None if ws is None else str(ws.root),
        "config": config,
        **sources,
        "curves_hash": curves_digest(table),
        "campaigns": chosen,
        "spec": spec_json,
        "model_run": None,
        "fall_with_k": None,
        **context.assumptions,
    }
    history = None if ws is None or not ws.warehouse.exists() else ws.root
    plan = _solve(pid, inputs, table, plan_spec, places, history, frontier, baselines, method,
                  context)
    if folder is not None:
        plan.save(folder)
    log.info("plan: %r", plan)
    return plan


def _creative_choice_mismatch(inputs: dict, metric: str) -> str | None:
    """What the plan says when the curves chose creatives for another metric than its
    objective's (None when they chose for it, or the curves say nothing of it)."""
    chosen_by = inputs.get("creative_metric")
    wanted = creative_metric_for(metric)
    if chosen_by is None or chosen_by == wanted:
        return None
    return (f"creatives chosen by {inputs['creative_choice']}, not the plan's {metric}: "
            f"rebuild the curves with creative_metric='{wanted}' for the creatives this "
            "plan's objective would choose")


def _solve(
    plan_id: str,
    inputs: dict,
    curves: pd.DataFrame,
    spec: PlanSpec,
    placements: pd.DataFrame | None,
    workspace: Path | None,
    frontier: bool | list[float],
    baselines: bool,
    method: str,
    context: CurvesContext,
) -> Plan:
    """Build the LP once, solve it, and add the frontier, baselines, forecast and aggregates."""
    grid = build_grid(curves)
    lp = build_lp(grid, spec, placements)
    result = solve(lp, method)
    table = None
    if frontier is not False:
        budgets = None if frontier is True else frontier
        # an integer-cap plan is not the LP optimum the frontier's other points are
        table = plan_frontier(lp, budgets, method, None if spec.integer_caps else result)
    found: dict[str, dict[str, float]] = {}
    if baselines:
        budget = spec.budget if spec.budget is not None else result.totals["spend"]
        found, notes = plan_baselines(curves, budget, placements, workspace)
        result.notes.extend(notes)
    m = result.x[: grid.n_cells * grid.K].reshape(grid.n_cells, grid.K)
    forecast = forecast_interval(grid, m, context.replicates, context.evidence,
                                 context.unlogged)
    aggregates = {}
    if has_history(curves):
        aggregates = aggregates_summary(curves, result.allocation, spec.max_spend_multiple,
                                        result.totals)
        result.notes.append(aggregates["text"])
        result.notes.append(aggregates["historical_check"]["text"])
        if aggregates["plan_against_history"]["text"]:
            result.notes.append(aggregates["plan_against_history"]["text"])
    mismatch = _creative_choice_mismatch(inputs, spec.objective.metric)
    if mismatch is not None:
        inputs = {**inputs, "creative_choice": mismatch}
        result.notes.append(mismatch)
        log.warning("plan: %s", mismatch)
    bought = creative_evidence_line(result.allocation, context.creatives, spec.objective.metric)
    if bought is not None:
        inputs = {**inputs, "creative_evidence": bought}
    return Plan.from_result(plan_id, result, inputs, audiences=result.audiences, frontier=table,
                            baselines=found, forecast=forecast, aggregates=aggregates)


def _spec(where: str, spec: Any) -> tuple[PlanSpec | None, str | None]:
    """The spec, and the plan file's path when it came from one (read here, once)."""
    if spec is None or isinstance(spec, PlanSpec):
        return spec, None
    if isinstance(spec, dict):
        return parse_spec(spec, source=f"{where} spec"), None
    if isinstance(spec, str | os.PathLike):
        path = Path(spec)
        if not path.exists():
            raise ParameterError(
                f"The 'spec' parameter of {where} must be a PlanSpec, a dict or an existing "
                f"TOML file. Got {str(spec)!r} (no such file) instead."
            )
        return load_spec(path), str(path.resolve())
    raise ParameterError(
        f"The 'spec' parameter of {where} must be a PlanSpec, a dict or a path to a TOML "
        f"file. Got {type(spec).__name__} instead."
    )


def _frontier(where: str, frontier: Any) -> bool | list[float]:
    if isinstance(frontier, bool):
        return frontier
    if isinstance(frontier, Sequence) and not isinstance(frontier, str) and frontier:
        return [check_positive(where, "frontier", b) for b in frontier]
    raise ParameterError(
        f"The 'frontier' parameter of {where} must be True, False or a "
        f"list of positive budgets. Got {frontier!r} instead."
    )


def _tables(
    where: str, ws: Workspace | None, curves: Table, placements: Table
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    """The curves and placements tables, and where they came from (plan.json's inputs)."""
    if curves is None:
        if ws is None:
            raise ParameterError(f"{where} needs curves or a workspace with curves. Got neither.")
        folder = ws.curves
        curves = folder / "curves.parquet"
        if not curves.is_file():
            raise WorkspaceError(
                f"{curves} is missing: run Planner.curves() (or `adopt curves`) to run the "
                "curve stage first, or pass curves (--curves)."
            )
        if placements is None and (folder / "placements.parquet").is_file():
            placements = folder / "placements.parquet"
    curves_table, curves_src = _table(where, curves, "curves")
    places, places_src = _table(where, placements, "placements")
    if places is not None and not {"placement_id", "inventory"} <= set(places.columns):
        raise InputError("placements", "inventory",
                         "the placements table needs placement_id and inventory columns")
    return curves_table, places, {"curves": curves_src, "placements": places_src}


def _table(where: str, value: Table, name: str) -> tuple[pd.DataFrame | None, str | None]:
    if value is None or isinstance(value, pd.DataFrame):
        return value, None if value is None else "DataFrame"
    if isinstance(value, str | os.PathLike) and Path(value).is_file():
        return read_table(str(value), name), str(Path(value).resolve())
    raise ParameterError(
        f"The '{name}' parameter of {where} must be a DataFrame or a Parquet/CSV file. "
        f"Got {str(value)!r} instead."
    )
