"""Plan files: write a `PlanResult` under ``plans/<plan_id>/`` and plan from files.

Data flow: the last step of the optimizer stage. ``allocation.parquet`` (and
``.csv``), ``audiences.parquet`` and ``plan.json`` are each written to a
temporary name and renamed (`adopt.workspace.atomic_path`), so a killed run
leaves the previous plan whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

from adopt.exceptions import InputError, WorkspaceError
from adopt.optimize.curves import build_grid, read_table
from adopt.optimize.lp import build_lp
from adopt.optimize.result import PlanResult, audiences_table
from adopt.optimize.solve import optimize
from adopt.optimize.spec import load_spec
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


def plan_document(result: PlanResult, inputs: dict | None = None) -> dict:
    """The content of plan.json."""
    duals = result.duals
    return _jsonable({
        "status": result.status,
        "method": result.method,
        "objective": result.objective,
        "totals": result.totals,
        "certificate": result.certificate.to_dict(),
        "integer_gap": result.integer_gap,
        "duals": {n: p for n, p in zip(duals["name"], duals["shadow_price"], strict=True)},
        "constraints": duals.to_dict(orient="records"),
        "binding_constraints": result.binding,
        "solve_seconds": result.solve_seconds,
        "notes": result.notes,
        "inputs": inputs or {},
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__, "pandas": pd.__version__},
    })


def write_plan(result: PlanResult, folder: str | os.PathLike[str],
               inputs: dict | None = None, audiences: pd.DataFrame | None = None) -> Path:
    """Write allocation.parquet, allocation.csv, audiences.parquet and plan.json.

    Parameters
    ----------
    result : PlanResult
    folder : path
        The plan folder (``plans/<plan_id>``); created when missing.
    inputs : dict, optional
        What the plan was made from (file paths, the spec), stored in plan.json.
    audiences : DataFrame, optional
        One row per campaign x segment (see `result.audiences_table`).

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "allocation.parquet") as tmp:
        result.allocation.to_parquet(tmp, index=False)
    with atomic_path(folder / "allocation.csv") as tmp:
        result.allocation.to_csv(tmp, index=False)
    if audiences is not None:
        with atomic_path(folder / "audiences.parquet") as tmp:
            audiences.to_parquet(tmp, index=False)
    with atomic_path(folder / "plan.json") as tmp:
        tmp.write_text(json.dumps(plan_document(result, inputs), indent=2, default=str))
    return folder


def _placements(path: str | None) -> pd.DataFrame | None:
    if path is None:
        return None
    table = read_table(path, "placements")
    if "placement_id" not in table.columns or "inventory" not in table.columns:
        raise InputError("placements", "inventory",
                         "the placements table needs placement_id and inventory columns")
    return table


def plan_from_files(
    curves_path: str | os.PathLike[str],
    config_path: str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    placements_path: str | os.PathLike[str] | None = None,
    method: str = "auto",
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

    Returns
    -------
    plan_id, folder
    """
    spec = load_spec(config_path)
    curves = read_table(str(curves_path), "curves")
    placements = _placements(None if placements_path is None else str(placements_path))
    grid = build_grid(curves)
    result = optimize(grid, spec, placements, method=method)
    digest = hashlib.sha256(Path(config_path).read_bytes())
    digest.update(pd.util.hash_pandas_object(curves, index=False).values.tobytes())
    plan_id = spec.plan_id or f"plan-{digest.hexdigest()[:12]}"
    audiences = audiences_table(build_lp(grid, spec, placements), result.x)
    inputs = {"curves": str(curves_path), "config": str(config_path),
              "placements": None if placements_path is None else str(placements_path),
              "spec": spec.model_dump(mode="json")}
    folder = write_plan(result, Path(out_root) / plan_id, inputs, audiences)
    return plan_id, folder


def plan_from_workspace(
    workspace: str | os.PathLike[str], config_path: str | os.PathLike[str],
    method: str = "auto",
) -> tuple[str, Path]:
    """Plan from the curves the curve stage wrote into a workspace.

    Reads ``<workspace>/curves/curves.parquet`` and, when present,
    ``<workspace>/curves/placements.parquet`` (placement_id, inventory);
    writes ``<workspace>/plans/<plan_id>/``.
    """
    ws = Workspace(workspace)
    curves = ws.root / "curves" / "curves.parquet"
    if not curves.exists():
        raise WorkspaceError(f"{curves} is missing: run the curve stage first, or pass "
                             f"--curves to plan from a curves file")
    placements = ws.root / "curves" / "placements.parquet"
    return plan_from_files(curves, config_path, ws.plans,
                           placements if placements.exists() else None, method=method)
