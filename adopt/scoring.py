"""Score a plan against the ground truth of a synthetic world (``adopt score``).

Data flow: a plan folder (``plans/<plan_id>/``: allocation.parquet and
plan.json, which names the curves, the placements and the spec it was made
from) + the world's truth (``world/truth``, `adopt.synth.load_truth`) + the
workspace's ``audiences`` -> `score_plan` -> `ScoreCard`.

Every allocation is valued on the **true** curves of the creatives it uses:
the plan and the baselines with the creative of each cell in the model's
curves (`Truth.true_curves` restricted to that one ad, i.e. `Truth.expected`
averaged over the segment's users), the oracle with the truth's best
creative. The oracle is the optimizer run on the true curves with the same
spec, placements and cells (the campaigns, segments and placements of the
plan's curves), so it bounds what any plan on these cells can reach.
Baselines: `uniform_allocation` and `historical_allocation` at the plan's
budget (the spec's budget, else the plan's spend), with the placements'
inventory and no other constraint of the spec.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.curves.baselines import (
    DEFAULT_CAP,
    evaluate_allocation,
    historical_allocation,
    uniform_allocation,
)
from adopt.curves.build import load_audiences
from adopt.exceptions import WorkspaceError
from adopt.optimize import optimize, parse_spec
from adopt.optimize.curves import read_table, validate_curves
from adopt.synth import load_truth
from adopt.synth.truth import Truth

CELL = ["campaign_id", "segment", "placement_id"]
TOTALS = ("spend", "impressions", "reach", "clicks", "conversions", "revenue")
TARGETS = {"oracle": 0.90, "historical": 1.20}  # issue 6: plan/oracle >= 90%, plan/hist >= 1.2


@dataclass
class ScoreCard:
    """True value of a plan beside the oracle and the baselines at the same budget.

    Attributes
    ----------
    plan_id : str
    metric : str
        The plan's objective metric (clicks, conversions, revenue or reach).
    budget : float
    true : dict of dict
        Totals per allocation ("plan", "oracle", "uniform", "historical") on the truth.
    predicted : dict
        The plan's totals as its curves predicted them (plan.json).
    seconds : float
    """

    plan_id: str
    metric: str
    budget: float
    true: dict[str, dict[str, float]]
    predicted: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def value(self, name: str) -> float:
        """True objective value of allocation `name`."""
        return self.true[name][self.metric]

    def ratio(self, other: str) -> float:
        """Plan's true objective over `other`'s (nan when `other` is 0)."""
        den = self.value(other)
        return self.value("plan") / den if den > 0 else float("nan")

    @property
    def meets_targets(self) -> bool:
        """Plan >= 90% of the oracle and >= 1.2x the historical allocation."""
        return all(self.ratio(name) >= t for name, t in TARGETS.items())

    def to_dict(self) -> dict:
        """JSON-ready content."""
        return {"plan_id": self.plan_id, "metric": self.metric, "budget": self.budget,
                "true": self.true, "predicted": self.predicted,
                "plan_vs_oracle": self.ratio("oracle"),
                "plan_vs_historical": self.ratio("historical"),
                "plan_vs_uniform": self.ratio("uniform"), "meets_targets": self.meets_targets,
                "seconds": self.seconds}

    def __str__(self) -> str:
        head = f"{'':<22}" + "".join(f"{c:>13}" for c in TOTALS)
        lines = [f"plan {self.plan_id}: true {self.metric} at budget {self.budget:,.0f}", head]
        rows = [("plan (predicted)", self.predicted)] if self.predicted else []
        rows += [(name, self.true[name]) for name in ("plan", "oracle", "uniform", "historical")]
        for name, totals in rows:
            lines.append(f"{name:<22}" + "".join(
                f"{totals.get(c, float('nan')):>13,.1f}" for c in TOTALS))
        lines.append(f"plan / oracle:     {self.ratio('oracle'):.3f}  (target >= 0.90)")
        lines.append(f"plan / historical: {self.ratio('historical'):.3f}  (target >= 1.20)")
        lines.append(f"plan / uniform:    {self.ratio('uniform'):.3f}")
        return "\n".join(lines)


def creative_truth(truth: Truth, audiences: pd.DataFrame, cells: pd.DataFrame, max_k: int
                   ) -> pd.DataFrame:
    """True curves of each cell with its own creative (cells: campaign_id, segment,
    placement_id, ad_id)."""
    cells = cells[[*CELL, "ad_id"]].drop_duplicates(CELL).astype(str)
    frames = []
    for ad, wanted in cells.groupby("ad_id", sort=True):
        curves = truth.true_curves(audiences, max_k, ads=[ad])
        frames.append(curves.merge(wanted, on=[*CELL, "ad_id"], how="inner"))
    return pd.concat(frames, ignore_index=True)


def _read_plan(plan_folder: Path) -> tuple[dict, pd.DataFrame]:
    doc_path, alloc_path = plan_folder / "plan.json", plan_folder / "allocation.parquet"
    for path in (doc_path, alloc_path):
        if not path.exists():
            raise WorkspaceError(f"{path} is missing: plan_folder must be a folder written by "
                                 "`adopt plan`.")
    return json.loads(doc_path.read_text()), pd.read_parquet(alloc_path)


def score_plan(world_dir: str | os.PathLike[str], workspace: str | os.PathLike[str],
               plan_folder: str | os.PathLike[str], *, cap: int = DEFAULT_CAP) -> ScoreCard:
    """The plan's true value beside the oracle, uniform and historical allocations.

    Parameters
    ----------
    world_dir : path
        The synthetic world (with ``truth/``) the workspace was built from.
    workspace : path
        The workspace (for ``audiences`` and the logs of the historical mix).
    plan_folder : path
        A plan written by ``adopt plan`` (allocation.parquet, plan.json).
    cap : int
        Impressions per reached user of the uniform allocation.

    Returns
    -------
    ScoreCard

    Raises
    ------
    WorkspaceError
        A missing plan file, curves file, truth or warehouse table.
    """
    started = time.perf_counter()
    plan_folder = Path(plan_folder)
    doc, allocation = _read_plan(plan_folder)
    inputs = doc.get("inputs", {})
    if not inputs.get("curves") or not Path(inputs["curves"]).exists():
        raise WorkspaceError(f"The curves the plan was made from ({inputs.get('curves')}) are "
                             "missing; score a plan whose curves file still exists.")
    spec = parse_spec(inputs["spec"], source="plan.json")
    curves = validate_curves(read_table(inputs["curves"], "curves"))
    placements = read_table(inputs["placements"], "placements") if inputs.get("placements") \
        else None
    max_k = int(curves["k"].max())
    truth = load_truth(world_dir)
    audiences = load_audiences(workspace)
    audiences = audiences.loc[audiences["segment"].isin(curves["segment"].unique())]

    model_cells = curves.loc[curves["k"] == 1, [*CELL, "ad_id"]]
    truth_model = creative_truth(truth, audiences, model_cells, max_k)
    campaigns = curves["campaign_id"].unique()
    oracle_curves = truth.true_curves(
        audiences, max_k, ads=truth.ads.index[truth.ads["campaign_id"].isin(campaigns)])
    keep = pd.MultiIndex.from_frame(model_cells[CELL])
    oracle_curves = oracle_curves.loc[
        pd.MultiIndex.from_frame(oracle_curves[CELL]).isin(keep)].reset_index(drop=True)
    oracle = optimize(oracle_curves, spec, placements)

    budget = float(spec.budget) if spec.budget is not None else float(doc["totals"]["spend"])
    plan_truth = truth_model
    if "ad_id" in allocation.columns:  # the creative the plan chose, cell by cell
        plan_truth = creative_truth(truth, audiences, allocation, max_k)
    true = {
        "plan": evaluate_allocation(plan_truth, allocation),
        "oracle": evaluate_allocation(oracle_curves, oracle.allocation),
        "uniform": evaluate_allocation(
            truth_model, uniform_allocation(curves, budget, placements, cap=cap)),
        "historical": evaluate_allocation(
            truth_model, historical_allocation(workspace, curves, budget, placements)),
    }
    metric = spec.objective.metric
    return ScoreCard(plan_id=plan_folder.name, metric=metric, budget=budget, true=true,
                     predicted={k: float(v) for k, v in doc.get("totals", {}).items()
                                if isinstance(v, int | float) and np.isfinite(v)},
                     seconds=time.perf_counter() - started)
