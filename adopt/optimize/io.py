"""Plan files: write a `PlanResult` under ``plans/<plan_id>/`` and plan from files.

Data flow: the last step of the optimizer stage. ``allocation.parquet`` (and
``.csv``), ``audiences.parquet``, ``frontier.parquet`` and ``plan.json`` (with
``baselines`` and ``inputs.workspace``) are all written to temporary names
first and then renamed (`adopt.workspace.atomic_path`), plan.json last, so a
killed run leaves the previous plan whole.
"""

from __future__ import annotations

import json
import os
import platform
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize.curves import read_table
from adopt.optimize.forecast import curves_context
from adopt.optimize.outputs import PlanOutputs, default_plan_id, solve_plan
from adopt.optimize.result import PlanResult
from adopt.optimize.spec import PlanSpec, check_plan_id, load_spec, parse_spec
from adopt.workspace import Workspace, atomic_path


def _jsonable(v: object) -> object:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def plan_document(
    result: PlanResult,
    inputs: dict | None = None,
    baselines: dict | None = None,
    plan_id: str | None = None,
    forecast: dict | None = None,
    aggregates: dict | None = None,
) -> dict:
    """The content of plan.json.

    Parameters
    ----------
    result : PlanResult
    inputs : dict, optional
        What the plan was made from; ``inputs["workspace"]`` is the workspace's
        absolute path when there is one.
    baselines : dict, optional
        ``{"uniform": totals, "historical": totals}`` (see `outputs.plan_baselines`).
    plan_id : str, optional
        Stored as ``plan_id``.
    forecast : dict, optional
        The forecast with its interval (see `outputs.PlanOutputs.forecast`).
    aggregates : dict, optional
        For curves fitted to aggregates: fit quality, spend beyond observed,
        guard rail, historical check (see `outputs.PlanOutputs.aggregates`).
    """
    duals = result.duals
    doc = {
        "plan_id": plan_id,
        "status": result.status,
        "method": result.method,
        "objective": result.objective,
        "totals": result.totals,
        "forecast": forecast or {},
        "certificate": result.certificate.to_dict(),
        "integer_gap": result.integer_gap,
        "duals": {n: p for n, p in zip(duals["name"], duals["shadow_price"], strict=True)},
        "constraints": duals.to_dict(orient="records"),
        "binding_constraints": result.binding,
        "solve_seconds": result.solve_seconds,
        "notes": result.notes,
        "inputs": inputs or {},
        "baselines": baselines or {},
        "aggregates": aggregates or {},
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
        },
    }
    return _jsonable(doc)


def write_plan_folder(
    folder: str | os.PathLike[str],
    allocation: pd.DataFrame,
    document: dict,
    audiences: pd.DataFrame | None = None,
    frontier: pd.DataFrame | None = None,
    exposure: pd.DataFrame | None = None,
) -> Path:
    """Write the files of a plan folder; plan.json is renamed into place last.

    Every file is first written to a temporary name; only when all are
    written are they renamed over the old ones, so a killed run leaves the
    previous plan whole. An optional table that is not given is removed, so
    the folder never mixes two plans.

    Parameters
    ----------
    folder : path
        The plan folder; created when missing.
    allocation : DataFrame
        Written as allocation.parquet and allocation.csv.
    document : dict
        plan.json (see `plan_document`).
    audiences, frontier, exposure : DataFrame, optional
        audiences.parquet, frontier.parquet, exposure.parquet (and exposure.csv).

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"audiences.parquet": audiences, "frontier.parquet": frontier,
              "exposure.parquet": exposure}
    with ExitStack() as stack:
        # atomic_path renames on exit, in reverse order: plan.json goes last
        tmp = stack.enter_context(atomic_path(folder / "plan.json"))
        tmp.write_text(json.dumps(document, indent=2, default=str))
        for name, table in tables.items():
            if table is not None:
                table.to_parquet(stack.enter_context(atomic_path(folder / name)), index=False)
        if exposure is not None:
            exposure.to_csv(stack.enter_context(atomic_path(folder / "exposure.csv")), index=False)
        allocation.to_csv(stack.enter_context(atomic_path(folder / "allocation.csv")), index=False)
        allocation.to_parquet(
            stack.enter_context(atomic_path(folder / "allocation.parquet")), index=False
        )
    for name, table in tables.items():
        if table is None:
            (folder / name).unlink(missing_ok=True)
    if exposure is None:
        (folder / "exposure.csv").unlink(missing_ok=True)
    return folder


def write_plan(
    result: PlanResult,
    folder: str | os.PathLike[str],
    inputs: dict | None = None,
    audiences: pd.DataFrame | None = None,
    *,
    frontier: pd.DataFrame | None = None,
    baselines: dict | None = None,
    forecast: dict | None = None,
    aggregates: dict | None = None,
) -> Path:
    """Write allocation and exposure (.parquet/.csv), audiences, frontier and plan.json.

    Parameters
    ----------
    result : PlanResult
    folder : path
        The plan folder (``plans/<plan_id>``); created when missing. Its
        name is the plan id stored in plan.json.
    inputs : dict, optional
        What the plan was made from (file paths, the spec, the workspace).
    audiences : DataFrame, optional
        One row per campaign x segment (see `result.audiences_table`).
    frontier : DataFrame, optional
        budget, objective, marginal, ... (see `outputs.plan_frontier`).
    baselines : dict, optional
        ``{"uniform": totals, "historical": totals}``.
    forecast : dict, optional
        The forecast with its interval.
    aggregates : dict, optional
        The aggregates block (see `plan_document`).

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    document = plan_document(result, inputs, baselines, plan_id=folder.name, forecast=forecast,
                             aggregates=aggregates)
    return write_plan_folder(folder, result.allocation, document, audiences, frontier,
                             result.exposure)


def write_outputs(
    outputs: PlanOutputs, folder: str | os.PathLike[str], inputs: dict | None = None
) -> Path:
    """Write a `PlanOutputs` (plan, audiences, frontier, baselines) to a plan folder."""
    return write_plan(
        outputs.result,
        folder,
        inputs,
        outputs.audiences,
        frontier=outputs.frontier,
        baselines=outputs.baselines,
        forecast=outputs.forecast,
        aggregates=outputs.aggregates,
    )


def plan_folder(root: str | os.PathLike[str], plan_id: str, where: str = "plan") -> Path:
    """``root/<plan_id>``, checked to stay inside `root`.

    Parameters
    ----------
    root : path
        The plans folder (``WS/plans``).
    plan_id : str
        1-100 of ``[A-Za-z0-9._-]``, not starting with '.'.
    where : str
        The caller, for the message.

    Raises
    ------
    ParameterError
        `plan_id` is not a plain folder name, or the folder resolves outside
        `root` (e.g. through a symbolic link).
    """
    check_plan_id(where, plan_id)
    base = Path(root).resolve()
    folder = (base / plan_id).resolve()
    if folder.parent != base:
        raise ParameterError(f"The 'plan_id' parameter of {where} must name a folder inside "
                             f"{base}. Got {plan_id!r} instead (it resolves to {folder}).")
    return folder


def with_guard_rail(spec: PlanSpec, max_spend_multiple: float | bool | None) -> PlanSpec:
    """`spec` with its guard rail replaced: a multiple, False for off, None to keep it."""
    if max_spend_multiple is None:
        return spec
    return parse_spec({**spec.model_dump(), "max_spend_multiple": max_spend_multiple},
                      source="max_spend_multiple")


def _placements(path: str | None) -> pd.DataFrame | None:
    if path is None:
        return None
    table = read_table(path, "placements")
    if "placement_id" not in table.columns or "inventory" not in table.columns:
        raise InputError(
            "placements",
            "inventory",
            "the placements table needs placement_id and inventory columns",
        )
    return table


def plan_from_files(
    curves_path: str | os.PathLike[str],
    config_path: str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    placements_path: str | os.PathLike[str] | None = None,
    method: str = "auto",
    *,
    workspace: str | os.PathLike[str] | None = None,
    frontier: bool = True,
    baselines: bool = True,
    max_spend_multiple: float | bool | None = None,
) -> tuple[str, Path]:
    """Plan from a curves file (Parquet/CSV) and a plan.toml; write ``out_root/<plan_id>/``.

    Parameters
    ----------
    curves_path : path
        The curves table (see `adopt.optimize.curves`).
    config_path : path
        The plan spec in TOML (see ``adopt/optimize/README.md``).
    out_root : path
        Folder that receives ``<plan_id>/`` (a workspace's ``plans/``).
    placements_path : path, optional
        placement_id, inventory (Parquet/CSV).
    method : str
        Solver choice (see `optimize`).
    workspace : path, optional
        The workspace the curves come from: recorded in plan.json
        (``inputs.workspace``) and used for the historical baseline.
    frontier : bool
        Also solve the budget frontier (frontier.parquet).
    baselines : bool
        Also evaluate the uniform and historical allocations at the same budget.
    max_spend_multiple : float or False, optional
        Replaces the plan file's guard rail (False: off); None keeps it.

    Returns
    -------
    plan_id, folder
    """
    spec = with_guard_rail(load_spec(config_path), max_spend_multiple)
    curves = read_table(str(curves_path), "curves")
    placements = _placements(None if placements_path is None else str(placements_path))
    ws = None if workspace is None else Workspace.of(workspace)
    config = Path(config_path).read_bytes()
    if max_spend_multiple is not None:
        config += f"\nmax_spend_multiple={max_spend_multiple!r}".encode()
    plan_id = spec.plan_id or default_plan_id(config, curves)
    folder = plan_folder(out_root, plan_id, Path(config_path).name)  # refused before solving
    assumed, replicates = curves_context(curves_path)
    outputs = solve_plan(
        curves,
        spec,
        placements,
        workspace=None if ws is None else ws.root,
        frontier=frontier,
        baselines=baselines,
        method=method,
        replicates=replicates,
    )
    inputs = {
        "workspace": None if ws is None else str(ws.root),
        "curves": str(Path(curves_path).resolve()),
        "config": str(Path(config_path).resolve()),
        "placements": None if placements_path is None else str(placements_path),
        "spec": spec.model_dump(mode="json"),
    }
    inputs |= assumed
    folder = write_outputs(outputs, folder, inputs)
    return plan_id, folder


def plan_from_workspace(
    workspace: str | os.PathLike[str],
    config_path: str | os.PathLike[str],
    method: str = "auto",
    *,
    frontier: bool = True,
    baselines: bool = True,
    max_spend_multiple: float | bool | None = None,
) -> tuple[str, Path]:
    """Plan from the curves the curve stage wrote into a workspace.

    Reads ``<workspace>/curves/curves.parquet`` and, when present,
    ``<workspace>/curves/placements.parquet`` (placement_id, inventory);
    writes ``<workspace>/plans/<plan_id>/`` with the frontier and the
    uniform / historical baselines (see `plan_from_files`).
    """
    ws = Workspace.of(workspace)
    curves = ws.curves / "curves.parquet"
    if not curves.exists():
        raise WorkspaceError(
            f"{curves} is missing: run the curve stage first, or pass "
            f"--curves to plan from a curves file"
        )
    placements = ws.curves / "placements.parquet"
    return plan_from_files(
        curves,
        config_path,
        ws.plans,
        placements if placements.exists() else None,
        method=method,
        workspace=ws.root,
        frontier=frontier,
        baselines=baselines,
        max_spend_multiple=max_spend_multiple,
    )
