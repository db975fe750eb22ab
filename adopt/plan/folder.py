"""The plan folder ``plans/<plan_id>/``: plan.json's content and the files beside it.

Data flow: `adopt.plan.Plan.save` -> `write_plan_folder`. ``allocation.parquet``
(and ``.csv``), ``exposure.parquet`` (and ``.csv``), ``audiences.parquet``,
``frontier.parquet`` and ``plan.json`` (`plan_document`, with ``baselines`` and
``inputs``) are all written to temporary names first and then renamed
(`adopt.workspace.atomic_path`), plan.json last, so a killed run leaves the
previous plan whole.
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

from adopt.exceptions import ParameterError
from adopt.optimize.result import PlanResult
from adopt.optimize.spec import check_plan_id
from adopt.workspace import atomic_path


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
        ``{"uniform": totals, "historical": totals}`` (see `adopt.plan.baselines.plan_baselines`).
    plan_id : str, optional
        Stored as ``plan_id``.
    forecast : dict, optional
        The forecast with its interval (see `adopt.optimize.forecast.forecast_interval`).
    aggregates : dict, optional
        For curves fitted to aggregates: fit quality, spend beyond observed,
        guard rail, historical check (see `adopt.optimize.observed.aggregates_summary`).
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
    previous plan whole. An optional table that is not given is removed, and so
    is the previous plan's actuals.json (`adopt.actuals`), so the folder never
    mixes two plans.

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
    (folder / "actuals.json").unlink(missing_ok=True)  # another plan's delivery
    return folder


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
