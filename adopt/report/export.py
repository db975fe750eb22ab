"""`export_plan`: a plan's allocation and KPIs as CSV, Parquet and JSON for analysts.

Data flow: ``plans/<plan_id>/`` -> `adopt.report.data.load_report_data`
(small segments suppressed, as in the report) -> ``out_dir/``:
``allocation_by_cell``, ``allocation_by_segment``, ``allocation_by_placement``
and ``allocation_by_campaign`` (each ``.csv`` and ``.parquet``), ``kpis.csv``
and ``kpis.json``. Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from adopt.exceptions import ParameterError
from adopt.report.data import ReportData, load_report_data
from adopt.report.privacy import MIN_SEGMENT_SIZE
from adopt.report.sections_plan import kpis
from adopt.workspace import atomic_path

SUMS = ["impressions", "reach", "spend", "clicks", "conversions", "revenue"]


def _with_ratios(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    conv, spend, clicks = (df[c].astype(float) for c in ("conversions", "spend", "clicks"))
    df["cpa"] = (spend / conv).where(conv > 0)
    df["cpc"] = (spend / clicks).where(clicks > 0)
    df["roas"] = (df["revenue"].astype(float) / spend).where(spend > 0)
    return df


def _by(allocation: pd.DataFrame, key: str) -> pd.DataFrame:
    table = allocation.groupby(key, sort=True)[SUMS].sum().reset_index()
    return _with_ratios(table)


def check_export_dir(out_dir: str | os.PathLike[str], where: str = "export_plan") -> Path:
    """`out_dir` as a Path; `ParameterError` when it exists and is not a folder."""
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ParameterError(f"The 'out_dir' parameter of {where} must be a folder (new or "
                                 f"existing). Got {out} instead (not a folder, left alone).")
    return out


def export_plan(
    plan_folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    workspace: str | os.PathLike[str] | None = None,
    min_segment_size: int = MIN_SEGMENT_SIZE,
) -> dict[str, Path]:
    """Write the plan's tables and KPIs under `out_dir`.

    Parameters
    ----------
    plan_folder : path
        ``WS/plans/<plan_id>``.
    out_dir : path
        Folder to write to (created when missing); files of the same names are replaced.
    workspace : path, optional
        Where the segments table lives (for segment sizes); see `build_report`.
    min_segment_size : int
        Segments below it, or marked suppressed, appear only as "other (suppressed)".

    Returns
    -------
    dict
        Name (e.g. ``"allocation_by_segment.csv"``) -> path written.
    """
    out = check_export_dir(out_dir)
    data = load_report_data(plan_folder, workspace, min_segment_size)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "allocation_by_cell": _with_ratios(data.allocation),
        "allocation_by_segment": _by(data.allocation, "segment"),
        "allocation_by_placement": _by(data.allocation, "placement_id"),
        "allocation_by_campaign": _by(data.allocation, "campaign_id"),
    }
    written: dict[str, Path] = {}
    for name, table in tables.items():
        with atomic_path(out / f"{name}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        written[f"{name}.parquet"] = out / f"{name}.parquet"
        with atomic_path(out / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
        written[f"{name}.csv"] = out / f"{name}.csv"
    document = _kpi_document(data)
    with atomic_path(out / "kpis.json") as tmp:
        tmp.write_text(json.dumps(document, indent=2))
    written["kpis.json"] = out / "kpis.json"
    columns = {"plan": document["plan"]} | document["baselines"]
    frame = pd.DataFrame(columns).rename_axis("kpi").reset_index()
    with atomic_path(out / "kpis.csv") as tmp:
        frame.to_csv(tmp, index=False)
    written["kpis.csv"] = out / "kpis.csv"
    return written


def _kpi_document(data: ReportData) -> dict:
    plan = data.plan
    baselines = plan.get("baselines") or {}
    return _finite({
        "plan_id": data.plan.get("plan_id") or data.plan_folder.resolve().name,
        "objective": plan.get("objective"),
        "budget": data.budget,
        "status": plan.get("status"),
        "certificate": plan.get("certificate"),
        "plan": kpis(plan.get("totals") or {}),
        "baselines": {str(k): kpis(v or {}) for k, v in baselines.items()},
        "binding_constraints": plan.get("binding_constraints", []),
    })


def _finite(value: object) -> object:
    """Strict JSON: NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
