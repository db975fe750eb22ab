"""Score a plan by delivering it on the ground truth of a synthetic world (``adopt score``).

Data flow: a plan folder (``plans/<plan_id>/``: exposure.parquet and
plan.json, which names the curves, the placements and the spec it was made
from) + the world's truth (``world/truth``, `adopt.synth.load_truth`) + the
workspace's ``audiences`` -> `score_plan` -> `score_exposures` -> `ScoreCard`.

Every exposure profile (the plan's, the oracle's, the uniform and the
historical baselines') is delivered user by user (`adopt.delivery.deliver`)
over several delivery seeds: real users of each segment, each user's
impressions of a campaign interleaved over placements and valued by the
truth at the user's own k. The plan's forecast is its exposure on its own
curves (`adopt.delivery.evaluate_exposure`); it must match what delivery
buys. The oracle is the optimizer run on the true curves with the same spec,
placements and cells, each cell's creative the truth's best for the plan's own
metric, so it bounds what any plan on these cells can reach.
Baselines: `uniform_exposure` and `historical_exposure` at the plan's budget
(the spec's budget, else the plan's spend) with the model curves' creatives
and the placements' inventory. The plan and the oracle are delivered under
the spec's frequency caps (impressions beyond them are dropped and counted).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.actuals import plan_window
from adopt.curves.baselines import DEFAULT_CAP, historical_exposure, uniform_exposure
from adopt.curves.build import load_audiences
from adopt.delivery import TOTALS, DeliveryCaps, deliver, delivery_events, evaluate_exposure
from adopt.exceptions import WorkspaceError
from adopt.optimize import optimize, parse_spec
from adopt.optimize.curves import read_table, validate_curves
from adopt.optimize.forecast import interval_z
from adopt.optimize.spec import FrequencyCap, PlanSpec
from adopt.synth import load_truth
from adopt.synth.truth import Truth
from adopt.workspace import Workspace

CELL = ["campaign_id", "segment", "placement_id"]
NAMES = ("plan", "oracle", "uniform", "historical")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
# issue 6: plan/oracle >= 90%, plan/historical >= 1.2; the forecast within 10% of delivery
TARGETS = {"oracle": 0.90, "historical": 1.20}
FORECAST_BAND = (0.90, 1.10)


@dataclass
class ScoreCard:
    """Delivered value of a plan beside the oracle and the baselines at the same budget.

    Attributes
    ----------
    plan_id : str
    metric : str
        The plan's objective metric (clicks, conversions, revenue or reach).
    budget : float
    delivered : dict of list of dict
        Per allocation ("plan", "oracle", "uniform", "historical"), the totals
        of each delivery seed.
    forecast : dict
        The plan's totals on its own curves (`evaluate_exposure`).
    seeds : list of int
    interval : dict
        The plan's forecast interval of the metric from plan.json (``lo``, ``hi``
        and its ``level``; empty when the plan has none).
    notes : dict
        Per allocation: users short of their segment, impressions dropped by caps.
    seconds : float
    """

    plan_id: str
    metric: str
    budget: float
    delivered: dict[str, list[dict[str, float]]]
    forecast: dict[str, float] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    interval: dict[str, float] = field(default_factory=dict)
    notes: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def values(self, name: str, total: str | None = None) -> np.ndarray:
        """Delivered `total` (default: the metric) of allocation `name`, one per seed."""
        return np.array([d[total or self.metric] for d in self.delivered[name]], dtype=float)

    def value(self, name: str) -> float:
        """Mean delivered objective value of allocation `name`."""
        return float(self.values(name).mean())

    def ratio(self, other: str) -> float:
        """Plan's mean delivered objective over `other`'s (nan when `other` is 0)."""
        den = self.value(other)
        return self.value("plan") / den if den > 0 else float("nan")

    @property
    def forecast_ratio(self) -> float:
        """The plan's forecast over its mean delivered value (nan when delivery is 0)."""
        den = self.value("plan")
        return self.forecast.get(self.metric, float("nan")) / den if den > 0 else float("nan")

    @property
    def delivered_in_interval(self) -> bool | None:
        """Whether the plan's mean delivered value lies in its forecast interval
        (None without an interval)."""
        if "lo" not in self.interval or "hi" not in self.interval:
            return None
        return bool(self.interval["lo"] <= self.value("plan") <= self.interval["hi"])

    @property
    def interval_z(self) -> float | None:
        """How far delivery fell from the forecast in the interval's own standard
        deviations (`adopt.optimize.forecast.interval_z`; None without an interval)."""
        lo, hi = self.interval.get("lo"), self.interval.get("hi")
        point, delivered = self.forecast.get(self.metric), self.value("plan")
        if lo is None or hi is None or not point or not delivered:
            return None
        return interval_z(point, lo, hi, delivered, self.interval.get("level", 0.95))

    @property
    def targets(self) -> dict[str, bool]:
        """Whether each target holds: plan / oracle, plan / historical, forecast / delivered."""
        out = {f"plan_vs_{name}": bool(self.ratio(name) >= t) for name, t in TARGETS.items()}
        lo, hi = FORECAST_BAND
        out["forecast_vs_delivered"] = bool(lo <= self.forecast_ratio <= hi)
        return out

    @property
    def meets_targets(self) -> bool:
        return all(self.targets.values())

    def summary(self, name: str) -> dict[str, dict[str, float]]:
        """Mean, min and max over the seeds of every delivered total of `name`."""
        return {t: {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
                for t in TOTALS for v in [self.values(name, t)]}

    def to_dict(self) -> dict:
        """JSON-ready content."""
        return {"plan_id": self.plan_id, "metric": self.metric, "budget": self.budget,
                "seeds": self.seeds,
                "delivered": {name: self.summary(name) for name in self.delivered},
                "forecast": self.forecast, "forecast_vs_delivered": self.forecast_ratio,
                "interval": self.interval, "delivered_in_interval": self.delivered_in_interval,
                "interval_z": self.interval_z,
                "plan_vs_oracle": self.ratio("oracle"),
                "plan_vs_historical": self.ratio("historical"),
                "plan_vs_uniform": self.ratio("uniform"), "targets": self.targets,
                "meets_targets": self.meets_targets, "notes": self.notes,
                "seconds": self.seconds}

    def __str__(self) -> str:
        lines = [f"plan {self.plan_id}: delivered {self.metric} at budget {self.budget:,.0f} "
                 f"(mean [min, max] over {len(self.seeds)} delivery seeds)",
                 f"{'':<12}{self.metric:>30}{'spend':>12}{'reach':>12}"]
        for name in self.delivered:
            v = self.values(name)
            lines.append(f"{name:<12}{v.mean():>12,.1f} [{v.min():>7,.1f}, {v.max():>7,.1f}]"
                         f"{self.values(name, 'spend').mean():>12,.1f}"
                         f"{self.values(name, 'reach').mean():>12,.0f}")
        target = self.targets
        lo, hi = FORECAST_BAND
        lines += [
            f"plan forecast:        {self.forecast.get(self.metric, float('nan')):,.1f}",
            f"forecast / delivered: {self.forecast_ratio:.3f}  (target {lo:.2f}..{hi:.2f}: "
            f"{'holds' if target['forecast_vs_delivered'] else 'MISSED'})",
            *([] if self.delivered_in_interval is None else [
                f"forecast interval:    {self.interval['lo']:,.1f} to {self.interval['hi']:,.1f}"
                f" (delivered {'inside' if self.delivered_in_interval else 'OUTSIDE'}"
                + ("" if self.interval_z is None else
                   f", {self.interval_z:+.2f} of its standard deviations from the forecast")
                + ")"]),
            f"plan / oracle:        {self.ratio('oracle'):.3f}  (target >= 0.90: "
            f"{'holds' if target['plan_vs_oracle'] else 'MISSED'})",
            f"plan / historical:    {self.ratio('historical'):.3f}  (target >= 1.20: "
            f"{'holds' if target['plan_vs_historical'] else 'MISSED'})",
            f"plan / uniform:       {self.ratio('uniform'):.3f}"]
        for name, note in self.notes.items():
            if any(note.values()):
                lines.append(f"{name}: " + ", ".join(f"{k} {v:,}" for k, v in note.items()))
        return "\n".join(lines)


def caps_from_spec(spec: PlanSpec, placement_ids: Sequence[str]) -> DeliveryCaps | None:
    """The spec's frequency caps as `DeliveryCaps` (None when it has none)."""
    caps = [c for c in spec.constraints if isinstance(c, FrequencyCap)]
    if not caps:
        return None
    across = [int(c.cap) for c in caps if c.across_placements]
    each = [int(c.cap) for c in caps if not c.across_placements and c.placement_id is None]
    per = {str(p): min(each, default=np.iinfo(np.int64).max) for p in placement_ids}
    for c in caps:
        if not c.across_placements and c.placement_id is not None:
            per[c.placement_id] = min(per.get(c.placement_id, int(c.cap)), int(c.cap))
    return DeliveryCaps(per_placement=per, across_placements=min(across, default=None))


def score_exposures(truth: Truth, audiences: pd.DataFrame, exposures: dict[str, pd.DataFrame],
                    *, metric: str, budget: float, forecast: dict[str, float],
                    plan_id: str = "plan", seeds: Sequence[int] = DEFAULT_SEEDS,
                    caps: dict[str, DeliveryCaps | None] | None = None) -> ScoreCard:
    """Deliver each exposure over `seeds` and gather the ScoreCard.

    Parameters
    ----------
    truth, audiences
        As `adopt.delivery.deliver`.
    exposures : dict of DataFrame
        Exposure tables by name; "plan" is required, and "oracle" and
        "historical" for the ratios.
    metric, budget, forecast, plan_id
        As the `ScoreCard` attributes.
    seeds : sequence of int
        Delivery seeds.
    caps : dict, optional
        `DeliveryCaps` by exposure name.
    """
    started = time.perf_counter()
    caps = caps or {}
    delivered, notes = {}, {}
    for name, exposure in exposures.items():
        runs = [deliver(truth, audiences, exposure, caps=caps.get(name), seed=int(s))
                for s in seeds]
        delivered[name] = [r.totals for r in runs]
        notes[name] = {"users short": max(r.users_short for r in runs),
                       **{f"dropped by the {k} cap": max(r.impressions_dropped[k] for r in runs)
                          for k in ("placement", "across")}}
    return ScoreCard(plan_id=plan_id, metric=metric, budget=budget, delivered=delivered,
                     forecast=forecast, seeds=[int(s) for s in seeds], notes=notes,
                     seconds=time.perf_counter() - started)


def _read_plan(plan_folder: Path) -> tuple[dict, pd.DataFrame]:
    doc_path, exposure_path = plan_folder / "plan.json", plan_folder / "exposure.parquet"
    for path in (doc_path, exposure_path):
        if not path.exists():
            raise WorkspaceError(f"{path} is missing: plan_folder must be a folder written by "
                                 "`adopt plan` (with the plan's exposure profile).")
    return json.loads(doc_path.read_text()), pd.read_parquet(exposure_path)


@dataclass(frozen=True)
class PlanInputs:
    """A written plan and what it was made from, with the world it is delivered in.

    ``doc`` and ``exposure`` are the plan's (plan.json, exposure.parquet); ``spec``,
    ``curves`` and ``placements`` its inputs; ``audiences`` the workspace's users of
    the curves' segments; ``caps`` the spec's frequency caps for delivery.
    """

    doc: dict
    exposure: pd.DataFrame
    spec: PlanSpec
    curves: pd.DataFrame
    placements: pd.DataFrame | None
    truth: Truth
    audiences: pd.DataFrame
    caps: DeliveryCaps | None

    @property
    def metric(self) -> str:
        return self.spec.objective.metric

    @classmethod
    def read(cls, world_dir: str | os.PathLike[str], workspace: str | os.PathLike[str],
             plan_folder: str | os.PathLike[str]) -> PlanInputs:
        """Read them (`score_plan`'s parameters).

        Raises
        ------
        WorkspaceError
            A missing plan file, curves file, truth or warehouse table.
        """
        doc, exposure = _read_plan(Path(plan_folder))
        inputs = doc.get("inputs", {})
        if not inputs.get("curves") or not Path(inputs["curves"]).exists():
            raise WorkspaceError(f"The curves the plan was made from ({inputs.get('curves')}) "
                                 "are missing; score a plan whose curves file still exists.")
        spec = parse_spec(inputs["spec"], source="plan.json")
        curves = validate_curves(read_table(inputs["curves"], "curves"))
        placements = read_table(inputs["placements"], "placements") \
            if inputs.get("placements") else None
        truth = load_truth(world_dir)
        audiences = load_audiences(workspace)
        audiences = audiences.loc[audiences["segment"].isin(curves["segment"].unique())]
        return cls(doc, exposure, spec, curves, placements, truth, audiences,
                   caps_from_spec(spec, curves["placement_id"].unique()))


def score_plan(world_dir: str | os.PathLike[str], workspace: str | os.PathLike[str],
               plan_folder: str | os.PathLike[str], *, cap: int = DEFAULT_CAP,
               seeds: Sequence[int] = DEFAULT_SEEDS) -> ScoreCard:
    """Deliver the plan, the oracle, uniform and historical on the truth; compare.

    Parameters
    ----------
    world_dir : path
        The synthetic world (with ``truth/``) the workspace was built from.
    workspace : path
        The workspace (for ``audiences`` and the logs of the historical profile).
    plan_folder : path
        A plan written by ``adopt plan`` (exposure.parquet, plan.json).
    cap : int
        Impressions per reached user of the uniform baseline.
    seeds : sequence of int
        Delivery seeds (each allocation is delivered once per seed).

    Returns
    -------
    ScoreCard

    Raises
    ------
    WorkspaceError
        A missing plan file, curves file, truth or warehouse table.
    """
    started = time.perf_counter()
    plan = PlanInputs.read(world_dir, workspace, plan_folder)
    doc, exposure, spec, curves = plan.doc, plan.exposure, plan.spec, plan.curves
    placements, truth, audiences = plan.placements, plan.truth, plan.audiences
    max_k = int(curves["k"].max())

    campaigns = curves["campaign_id"].unique()
    # the oracle runs each cell's best creative for the plan's own metric
    oracle_curves = truth.true_curves(
        audiences, max_k, ads=truth.ads.index[truth.ads["campaign_id"].isin(campaigns)],
        metric=plan.metric)
    keep = pd.MultiIndex.from_frame(curves.loc[curves["k"] == 1, CELL])
    oracle_curves = oracle_curves.loc[
        pd.MultiIndex.from_frame(oracle_curves[CELL]).isin(keep)].reset_index(drop=True)
    oracle = optimize(oracle_curves, spec, placements).exposure

    budget = float(spec.budget) if spec.budget is not None else float(doc["totals"]["spend"])
    exposures = {"plan": exposure, "oracle": oracle,
                 "uniform": uniform_exposure(curves, budget, placements, cap=cap),
                 "historical": historical_exposure(workspace, curves, budget, placements)}
    card = score_exposures(truth, audiences, exposures, metric=plan.metric,
                           budget=budget, forecast=evaluate_exposure(curves, exposure),
                           plan_id=Path(plan_folder).name, seeds=seeds,
                           caps={"plan": plan.caps, "oracle": plan.caps})
    forecast = doc.get("forecast") or {}
    interval = forecast.get(plan.metric) or {}
    card.interval = {k: float(interval[k]) for k in ("lo", "hi") if k in interval}
    if card.interval and forecast.get("level"):
        card.interval["level"] = float(forecast["level"])
    card.seconds = time.perf_counter() - started
    return card


DELIVERY_TABLES = ("users", "ads", "placements")  # the world's, beside the delivery's events


def _check_delivery_folder(out: str | os.PathLike[str]) -> Path:
    """`out` as a Path, when it is a new or empty folder (`write_delivery_log`)."""
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WorkspaceError(f"{target} already exists: write the delivery log to a new or "
                             "empty folder.")
    return target


def write_delivery_log(world_dir: str | os.PathLike[str], workspace: str | os.PathLike[str],
                       plan_folder: str | os.PathLike[str], out: str | os.PathLike[str], *,
                       seed: int = 0) -> tuple[Path, pd.Timestamp, pd.Timestamp]:
    """Deliver the plan once on the truth and write what the ad server would log.

    The events (`adopt.delivery.delivery_events`, the plan's caps enforced) span the
    plan's period when it has one, else start the day after the warehouse's last event
    and last the plan's period in days (plan.json ``inputs.period_days``; both read by
    `adopt.actuals.plan_window`); their impression ids name the plan, the start and the
    seed. Beside them, the world's users, ads and placements, so that ``adopt
    ingest --mode append`` loads the folder and ``adopt actuals`` weighs the plan
    against it.

    Returns
    -------
    (folder, start, end)

    Raises
    ------
    WorkspaceError
        `out` exists and is not an empty folder, or a plan file, the truth or a
        warehouse table is missing.
    ParameterError, InputError
        The plan has no period nor period_days, or one past the dates a timestamp holds.
    """
    target = _check_delivery_folder(out)
    plan = PlanInputs.read(world_dir, workspace, plan_folder)
    start = None
    if plan.spec.period_start is None:
        ws = Workspace.of(workspace)
        with ws.connect(read_only=True) as con:
            ws.require("events", "run `adopt ingest` first", con)
            last = con.execute("select max(ts) from events").fetchone()[0]
        start = pd.Timestamp(last).normalize() + pd.Timedelta(days=1)
    start, end = plan_window(plan.doc, start)  # the plan's period, its days, or refused
    prefix = f"{plan.doc.get('plan_id') or Path(plan_folder).name}-{start:%Y%m%d}-s{seed}-"
    events = delivery_events(plan.truth, plan.audiences, plan.exposure, start=start,
                             days=(end - start) / pd.Timedelta(days=1), caps=plan.caps,
                             seed=seed, id_prefix=prefix)
    target.mkdir(parents=True, exist_ok=True)
    events.to_parquet(target / "events.parquet", index=False)
    for name in DELIVERY_TABLES:
        shutil.copyfile(Path(world_dir) / f"{name}.parquet", target / f"{name}.parquet")
    return target, start, end
