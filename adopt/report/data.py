"""Everything a report reads: the plan folder and, when there, the workspace.

Data flow: ``plans/<plan_id>/`` (allocation.parquet, plan.json, optional
audiences.parquet, frontier.parquet and, once delivered, actuals.json) + the
workspace's warehouse (optional tables ``segments``, ``ads``) and model cards
(``models/<run_id>/card.json``) -> `ReportData` -> the section modules
(`adopt.report.sections_plan`, `sections_why`, `sections_context`) / `adopt.report.export`.

The plan folder is required; each other input is optional and, when missing,
recorded in `ReportData.missing` with the reason, so its section says "not
available" instead of failing. Suppression of small segments is applied here
(`adopt.report.privacy`), before any section sees the data. Nothing that holds
user ids (events, audiences of users, profiles) is ever read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.report.privacy import (
    MIN_SEGMENT_SIZE,
    Suppression,
    redact_plan,
    suppress_frame,
    suppress_segments,
)
from adopt.workspace import Workspace

ALLOCATION_COLUMNS = ("campaign_id", "segment", "placement_id", "impressions", "reach",
                      "frequency_cap", "spend", "clicks", "conversions", "revenue")
# whitelisted columns of the segments table: nothing else reaches the page
SEGMENT_COLUMNS = ("segment", "size", "description", "top_categories", "recency_days",
                   "frequency", "monetary", "ctr", "cvr", "suppressed")


@dataclass
class ReportData:
    """The inputs of one report, small segments already aggregated.

    Attributes
    ----------
    plan_folder : Path
    plan : dict
        plan.json.
    allocation : DataFrame
        One row per campaign x segment x placement (x ad_id); suppressed
        segments merged into `privacy.OTHER`.
    audiences, frontier, segments, ads : DataFrame or None
        Optional inputs (None when missing; see `missing`).
    card : dict or None
        The model card (card.json) of the response model.
    warehouse : dict or None
        Row counts and the event period of the warehouse.
    exposure : DataFrame or None
        Users and impressions by the number of impressions of a campaign a user
        gets over all placements (summed over every campaign x segment, so no
        segment shows).
    actuals : dict or None
        actuals.json (`adopt.actuals`): the forecast against the delivery's events;
        None before a delivery was checked.
    workspace : Path or None
    missing : dict
        Input name -> why it is not available.
    suppression : Suppression
        Which segments are shown individually and how many are not.
    """

    plan_folder: Path
    plan: dict
    allocation: pd.DataFrame
    suppression: Suppression
    audiences: pd.DataFrame | None = None
    frontier: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None
    ads: pd.DataFrame | None = None
    card: dict | None = None
    warehouse: dict | None = None
    workspace: Path | None = None
    missing: dict[str, str] = field(default_factory=dict)
    exposure: pd.DataFrame | None = None
    actuals: dict | None = None

    @property
    def metric(self) -> str:
        """The objective's metric (clicks, conversions, revenue, reach) or "spend"."""
        spec = self.plan.get("inputs", {}).get("spec") or {}
        objective = spec.get("objective") or {}
        if isinstance(objective, dict) and objective.get("metric"):
            return str(objective["metric"])
        return str(self.plan.get("objective", {}).get("name", "conversions"))

    @property
    def minimise_spend(self) -> bool:
        """True for a least-spend plan (an objective with a target)."""
        return self.plan.get("objective", {}).get("sense") == "min"

    @property
    def budget(self) -> float | None:
        """The total budget of the plan (from the spec, else the budget row)."""
        spec = self.plan.get("inputs", {}).get("spec") or {}
        if spec.get("budget") is not None:
            return float(spec["budget"])
        for row in self.plan.get("constraints", []):
            if row.get("kind") == "budget":
                return float(row["rhs"])
        return None


def load_report_data(
    plan_folder: str | os.PathLike[str],
    workspace: str | os.PathLike[str] | None = None,
    min_segment_size: int = MIN_SEGMENT_SIZE,
) -> ReportData:
    """Read a plan folder and the optional workspace inputs of its report.

    Parameters
    ----------
    plan_folder : path
        ``WS/plans/<plan_id>`` as written by `adopt.Plan.save`.
    workspace : path, optional
        The workspace; default ``plan.json["inputs"]["workspace"]`` (the plan
        names it). Without either, the workspace sections say so.
    min_segment_size : int
        Segments with fewer users (or marked suppressed) are not shown one by one.

    Returns
    -------
    ReportData

    Raises
    ------
    WorkspaceError
        The plan folder, its plan.json or its allocation.parquet is missing.
    InputError
        plan.json is not JSON or the allocation lacks a column.
    """
    if isinstance(min_segment_size, bool) or not isinstance(min_segment_size, int) \
            or min_segment_size < 0:
        raise ParameterError(f"The 'min_segment_size' parameter of build_report must be a "
                             f"non-negative integer. Got {min_segment_size!r} instead.")
    folder = Path(plan_folder)
    plan = read_plan_json(folder)
    allocation = read_allocation(folder)
    missing: dict[str, str] = {}
    ws = _find_workspace(plan, workspace)
    if ws is None:
        missing["workspace"] = "no workspace given and the plan names none"
    audiences = _optional_parquet(folder / "audiences.parquet", "audiences", missing)
    frontier = _optional_parquet(folder / "frontier.parquet", "frontier", missing)
    exposure = _exposure_profile(folder, missing)
    segments = ads = info = card = None
    if ws is not None:
        segments, ads, info = _read_warehouse(ws, missing)
        card = _read_card(ws, plan, missing)
    else:
        for name in ("segments", "ads", "warehouse", "model"):
            missing[name] = "no workspace"
    sizes = _segment_sizes(allocation, audiences, segments)
    flagged = set()
    if segments is not None and "suppressed" in segments:
        flagged = set(segments.loc[segments["suppressed"].fillna(False).astype(bool),
                                   "segment"].astype(str))
    sup = Suppression.decide(sizes, min_segment_size, flagged)
    return ReportData(
        plan_folder=folder, plan=redact_plan(plan, sup), suppression=sup,
        allocation=suppress_frame(allocation, sup),
        audiences=None if audiences is None else suppress_frame(audiences, sup),
        frontier=frontier,
        segments=None if segments is None else suppress_segments(segments, sup),
        ads=ads, card=card, warehouse=info, workspace=None if ws is None else ws.root,
        missing=missing, exposure=exposure, actuals=_read_actuals(folder, missing),
    )


def _exposure_profile(folder: Path, missing: dict[str, str]) -> pd.DataFrame | None:
    """exposure.parquet summed by frequency N: users, impressions (no segment detail)."""
    table = _optional_parquet(folder / "exposure.parquet", "exposure", missing)
    if table is None:
        return None
    if not {"campaign_id", "segment", "frequency", "users", "impressions"} <= set(table.columns):
        missing["exposure"] = "exposure.parquet lacks frequency, users or impressions"
        return None
    # users repeat on each placement row of a campaign x segment x N: count them once
    users = table.drop_duplicates(["campaign_id", "segment", "frequency"]).groupby(
        "frequency")["users"].sum()
    imps = table.groupby("frequency")["impressions"].sum()
    return pd.DataFrame({"frequency": users.index.astype(int), "users": users.to_numpy(),
                         "impressions": imps.reindex(users.index).to_numpy()})


def read_plan_json(folder: Path) -> dict:
    """plan.json of a plan folder (one line when it is missing or not a JSON object)."""
    path = folder / "plan.json"
    if not path.exists():
        raise WorkspaceError(f"{path} is missing: pass a plan folder written by `adopt plan`")
    try:
        plan = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError("plan.json", None, f"{path} is not valid JSON ({err})") from err
    if not isinstance(plan, dict):
        raise InputError("plan.json", None, f"{path} must hold a JSON object")
    return plan


def _read_actuals(folder: Path, missing: dict[str, str]) -> dict | None:
    """actuals.json when the plan's delivery was checked (None before; a broken one is named)."""
    path = folder / "actuals.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None
    shapes = ((dict, "totals"), (dict, "delivery"), (list, "campaigns"), (list, "notes"))
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), t) for t, k in shapes) \
            or not all(isinstance(v, dict) for v in doc["totals"].values()) \
            or not all(isinstance(r, dict) for r in doc["campaigns"]):
        missing["actuals"] = "actuals.json is not a card written by `adopt actuals`"
        return None
    return doc


def read_allocation(folder: Path) -> pd.DataFrame:
    """allocation.parquet of a plan folder, its ids as text (one line when it lacks a column)."""
    path = folder / "allocation.parquet"
    if not path.exists():
        raise WorkspaceError(f"{path} is missing: pass a plan folder written by `adopt plan`")
    table = pd.read_parquet(path)
    for column in ALLOCATION_COLUMNS:
        if column not in table.columns:
            raise InputError("allocation", column, f"{path} lacks the column (it has "
                             f"{sorted(table.columns)})")
    for column in ("campaign_id", "segment", "placement_id"):
        table[column] = table[column].astype(str)
    return table


def _optional_parquet(path: Path, name: str, missing: dict[str, str]) -> pd.DataFrame | None:
    if path.exists():
        return pd.read_parquet(path)
    missing[name] = f"{path.name} is not in the plan folder"
    return None


def _find_workspace(plan: dict, given: str | os.PathLike[str] | None) -> Workspace | None:
    """The workspace given, else the one the plan names; never a guess from the folder."""
    if given is not None:
        if not Path(given).is_dir():
            raise WorkspaceError(f"workspace {given} is not a folder")
        return Workspace.of(given)
    named = (plan.get("inputs") or {}).get("workspace")
    return Workspace(named) if named and Path(named).is_dir() else None


def _read_warehouse(ws: Workspace, missing: dict[str, str]
                    ) -> tuple[pd.DataFrame | None, pd.DataFrame | None, dict | None]:
    if not ws.warehouse.exists():
        for name in ("segments", "ads", "warehouse"):
            missing[name] = f"{ws.warehouse} does not exist"
        return None, None, None
    try:
        con = ws.connect(read_only=True)
    except WorkspaceError as err:
        for name in ("segments", "ads", "warehouse"):
            missing[name] = f"the warehouse could not be opened read-only ({err})"
        return None, None, None
    try:
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables").fetchall()}
        segments = ads = None
        if "segments" in tables:
            cols = {r[0] for r in con.execute("describe segments").fetchall()}
            keep = [c for c in SEGMENT_COLUMNS if c in cols]
            segments = con.execute(f"select {', '.join(keep)} from segments").df()
            segments["segment"] = segments["segment"].astype(str)
        else:
            missing["segments"] = "the warehouse has no segments table (run the segment stage)"
        if "ads" in tables:
            cols = {r[0] for r in con.execute("describe ads").fetchall()}
            keep = [c for c in ("ad_id", "campaign_id", "title", "description") if c in cols]
            ads = con.execute(f"select {', '.join(keep)} from ads").df()
            ads["ad_id"] = ads["ad_id"].astype(str)
        else:
            missing["ads"] = "the warehouse has no ads table"
        info = {name: con.execute(f"select count(*) from {name}").fetchone()[0]
                for name in ("users", "ads", "placements", "events", "training_examples")
                if name in tables}
        if "events" in tables:
            first, last = con.execute("select min(ts), max(ts) from events").fetchone()
            info["first_event"], info["last_event"] = str(first), str(last)
    finally:
        con.close()
    return segments, ads, info


def _read_card(ws: Workspace, plan: dict, missing: dict[str, str]) -> dict | None:
    inputs = plan.get("inputs") or {}
    run = inputs.get("model_run")
    if run and (ws.models / str(run) / "card.json").exists():
        path = ws.models / str(run) / "card.json"
    else:
        cards = sorted(ws.models.glob("*/card.json"), key=lambda p: p.stat().st_mtime)
        if not cards:
            missing["model"] = f"no model card under {ws.models} (run `adopt train`)"
            return None
        path = cards[-1]
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        missing["model"] = f"{path} is not valid JSON ({err})"
        return None


def _segment_sizes(allocation: pd.DataFrame, audiences: pd.DataFrame | None,
                   segments: pd.DataFrame | None) -> dict[str, float]:
    """Users per segment: the segments table, else audiences, else the allocation."""
    sizes: dict[str, float] = {}
    if "users" in allocation:
        sizes.update(allocation.groupby("segment")["users"].max().astype(float).to_dict())
    else:
        sizes.update(allocation.groupby("segment")["reach"].max().astype(float).to_dict())
    if audiences is not None and {"segment", "segment_users"} <= set(audiences.columns):
        sizes.update(audiences.groupby(audiences["segment"].astype(str))["segment_users"]
                     .max().astype(float).to_dict())
    if segments is not None and "size" in segments:
        sizes.update(segments.set_index("segment")["size"].astype(float).to_dict())
    return sizes
