"""The curve stage: response curves per campaign x segment x placement x k from the model.

Data flow: ``audiences`` (user_id, segment), the profile tables and
``training_examples`` (the fall with k, `adopt.curves.frequency`) in the
warehouse + a trained response model (``WS/models/<run_id>/``) ->
`build_curves` -> ``WS/curves/curves.parquet`` (the optimizer's curves
contract, with ``ad_id`` and ``*_lo``/``*_hi`` intervals),
``WS/curves/placements.parquet`` (placement_id, inventory),
``WS/curves/reach.parquet`` (`adopt.curves.reach`),
``WS/curves/curves_boot.parquet`` and ``WS/curves/curves.json``, each
written atomically; ``adopt plan --workspace
WS`` reads them.

Definitions (also in docs/curves.md):

- ``segment_users`` = the segment's size; ``users`` = the part of it the
  placement can reach in the period and ``impressions_per_user`` = what the
  placement can carry per reached user (all campaigns together), both
  estimated from the logs (`adopt.curves.reach`, also written as
  ``WS/curves/reach.parquet`` and summarised in curves.json's ``reach``); the
  optimizer bounds the cells with them.
- ``cost_per_impression`` = the placement's cpm / 1000.
- The plan period starts at the profiles' reference time (the end of the log)
  and runs to the last campaign's end (``campaigns.end``); campaigns whose
  flight ended before it are left out (they cannot buy impressions). Without
  flights, or when every flight has ended, all campaigns stay and the period
  is the longest flight (or the logged days). ``days`` overrides the length.
  Flights inside the period are the plan file's job (``campaign_budget``).
- The model sees each user, ad and placement as the period's first daily
  snapshot would (`PairState`, at the first midnight after the reference
  time: every logged day counts). Each creative carries what its own logged
  outcomes show beyond the refit of the model that never saw it, where the
  model has creative folds (`adopt.response.creative_folds`, curves.json's
  ``creative_predictions``), as a shrunk effect on the model's log-odds
  (`adopt.curves.creatives`, curves.json's ``creative_effects``). With the
  fall from the logs, the k = 1 level gets the click-logit intercept with
  which, carried by that fall, it gives the model's own clicks on the logged
  rows at their own k (`adopt.curves.fall_anchor`, curves.json's
  ``level_calibration``).
- ``inventory`` = the placement's ``daily_inventory`` x the period's days;
  no file is written when placements have no daily_inventory.
- ``WS/curves/curves_boot.parquet`` holds the bootstrap replicates of the
  curves (`adopt.curves.bootstrap`), from which a plan's forecast gets its
  interval.
- ``WS/curves/curves.json`` records how the curves were built (model run,
  period, sample sizes, the metric each cell's creative was chosen by
  (``creative_metric``), the fall with k, reach, the replicates' hash, the
  clicks and conversions logged per campaign that its level rests on,
  `adopt.curves.evidence`) and the SHA-256 of the curves file it describes;
  a plan copies what the curves assumed into its inputs when the hash
  matches, so the report says it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import typing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.configs import CurvesConfig, creative_metric_for
from adopt.curves.bootstrap import curve_table
from adopt.curves.calibrate import calibrate_levels, recalibrate
from adopt.curves.creative_audiences import audience_groupings
from adopt.curves.creatives import CreativeAdjusted, fit_creative_effects
from adopt.curves.evidence import campaign_evidence, creative_evidence, evidence_line
from adopt.curves.fall_anchor import anchor_fall
from adopt.curves.frequency import MIN_PAIRS, fit_frequency_decay
from adopt.curves.grid import METRICS, OBJECTIVE_METRIC, predict_grid, sample_users
from adopt.curves.pairs import load_response_model, text_feature_hook
from adopt.curves.reach import apply_reach, estimate_reach
from adopt.curves.state import PairState
from adopt.exceptions import InputError, ParameterError
from adopt.optimize.curves import validate_curves
from adopt.optimize.forecast import NOT_RECALIBRATED
from adopt.progress import Progress
from adopt.workspace import SEGMENT_HINT, Workspace, atomic_path, has_table

log = logging.getLogger("adopt")
REACH_LISTED = 20  # cells below 50% reach named in curves.json
# Defaults of the curve stage, from its config.
DEFAULT_MAX_K = CurvesConfig.default("max_k")  # impression positions per user
DEFAULT_USERS_PER_SEGMENT = CurvesConfig.default("users_per_segment")
DEFAULT_N_BOOT = CurvesConfig.default("n_boot")  # bootstrap resamples
CREATIVE_METRICS = typing.get_args(CurvesConfig.model_fields["creative_metric"].annotation)


@dataclass
class CurvesSummary:
    """What `build_curves` wrote and how long it took."""

    curves_path: Path
    placements_path: Path | None
    run_id: str
    campaigns: int
    segments: int
    placements: int
    max_k: int
    days: float
    rows: int
    model_rows: int
    seconds: float
    dropped_campaigns: list[str] = field(default_factory=list)
    frequency: str = "the response model at each k"
    reach: str = ""
    reach_path: Path | None = None
    levels: str = NOT_RECALIBRATED
    engines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"curves from model {self.run_id} in {self.seconds:.1f}s "
            f"({self.model_rows:,} model rows, scored {'+'.join(self.engines) or '-'})",
            f"  {self.campaigns} campaigns x {self.segments} segments x {self.placements} "
            f"placements x k=1..{self.max_k}: {self.rows:,} rows",
            f"  plan period: {self.days:g} days",
            f"  fall with k: {self.frequency}",
            f"  reach:       {self.reach}",
            f"  levels:      {self.levels}",
            f"  curves:     {self.curves_path}",
        ]
        if self.placements_path is not None:
            lines.append(f"  inventory:  {self.placements_path}")
        if self.dropped_campaigns:
            lines.append(f"  left out (flight ended): {', '.join(self.dropped_campaigns)}")
        return "\n".join(lines)


def load_audiences(workspace: str | os.PathLike[str]) -> pd.DataFrame:
    """The warehouse table ``audiences`` (user_id, segment) as a DataFrame."""
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require("audiences", SEGMENT_HINT, con)
        aud = con.execute("select user_id, segment from audiences").df()
    if aud.empty:
        raise InputError("audiences", None, "no rows: the curves need at least one segment")
    aud["segment"] = aud["segment"].astype(str)
    return aud


def _campaign_table(workspace: Workspace) -> pd.DataFrame:
    with workspace.connect(read_only=True) as con:
        # campaigns are an optional input: without them every campaign of ads is planned
        camps = (con.execute("select * from stg_campaigns").df() if has_table(con, "stg_campaigns")
                 else pd.DataFrame({"campaign_id": pd.Series(dtype=str)}))
        spans = con.execute("select count(distinct ts::date) from stg_events").fetchone()[0]
    camps.attrs["log_days"] = int(spans or 1)
    return camps


def plan_period(campaigns: pd.DataFrame, ads: pd.DataFrame, as_of: pd.Timestamp,
                days: float | None) -> tuple[list[str], float, list[str]]:
    """Campaigns in the plan, the period's length in days and the campaigns left out.

    See the module docstring for the rules.
    """
    with_ads = sorted(ads["campaign_id"].astype(str).unique())
    flights = campaigns.set_index(campaigns["campaign_id"].astype(str))
    ends = pd.to_datetime(flights.get("end_ts", pd.Series(dtype="datetime64[ns]")))
    starts = pd.to_datetime(flights.get("start_ts", pd.Series(dtype="datetime64[ns]")))
    ended = [c for c in with_ads if c in ends.index and pd.notna(ends[c]) and ends[c] <= as_of]
    kept = [c for c in with_ads if c not in ended]
    if not kept:  # every flight is over: plan them all again over a flight's length
        kept, ended = with_ads, []
        span = (ends - starts).dropna()
        length = span.max().total_seconds() / 86400 if len(span) else None
    else:
        last = ends.reindex(kept).dropna()
        length = (last.max() - as_of).total_seconds() / 86400 if len(last) else None
    if days is None:
        days = float(math.ceil(length)) if length else float(campaigns.attrs.get("log_days", 1))
    return kept, float(days), ended


def reach_record(reach: pd.DataFrame, digest: str) -> dict:
    """The ``reach`` entry of curves.json: the file, its hash, the windows and a summary."""
    share = reach["reachable_share"]
    below = reach[share < 0.5].sort_values(["reachable_share", "segment", "placement_id"])
    return {
        "file": "reach.parquet", "sha256": digest, "days": reach.attrs["days"],
        "windows": int(reach.attrs["windows"]), "window_days": reach.attrs["window_days"],
        "log_days": reach.attrs["log_days"], "prior_users": reach.attrs["prior_users"],
        "note": reach.attrs["note"],
        "reachable_share": {"min": float(share.min()), "median": float(share.median()),
                            "max": float(share.max())},
        "cells": len(reach), "cells_below_half": len(below),
        "lowest_cells": [  # the cells below 50%, lowest first, at most REACH_LISTED
            {"segment": r.segment, "placement_id": r.placement_id,
             "reachable_share": round(float(r.reachable_share), 4), "basis": r.basis}
            for r in below.head(REACH_LISTED).itertuples()],
        "basis": {str(k): int(v) for k, v in reach["basis"].value_counts().sort_index().items()},
    }


def reach_line(entry: dict) -> str:
    """One line of `CurvesSummary` on the reach estimate."""
    share = entry["reachable_share"]
    return (f"share of a segment reachable at a placement {share['min']:.2f} / "
            f"{share['median']:.2f} / {share['max']:.2f} (min / median / max), "
            f"{entry['cells_below_half']} of {entry['cells']} cells below 50%; "
            f"{entry['windows']} window(s) of {entry['window_days']:g} days")


def creative_predictions(folds: object) -> dict:
    """What curves.json says of how the creatives were predicted: against the refits of
    `adopt.response.creative_folds.CreativeFolds` ``folds``, or (None) in sample."""
    if folds is not None:
        record = folds.record()
        return {"held_out": True, **record,
                "text": f"each creative's logged outcomes weighed against the refit of the "
                        f"model that never saw it ({record['folds']} folds of "
                        f"{record['creatives']} creatives)"}
    return {"held_out": False,
            "text": "each creative's logged outcomes weighed against the model in sample (it "
                    "learnt from them)"}


def build_curves(
    workspace: str | os.PathLike[str],
    *,
    run_id: str | None = None,
    max_k: int = DEFAULT_MAX_K,
    users_per_segment: int = DEFAULT_USERS_PER_SEGMENT,
    level_users: int = CurvesConfig.default("level_users"),
    shape_users: int = 30,
    top_creatives: int = 3,
    n_boot: int = DEFAULT_N_BOOT,
    days: float | None = None,
    seed: int = 0,
    monotone: bool = True,
    frequency: str = CurvesConfig.default("frequency"),
    creative_metric: str = CurvesConfig.default("creative_metric"),
    calibrate: bool = False,
    creative_effects: bool = True,
    held_out_creatives: bool = True,
    engine: str = CurvesConfig.default("engine"),
    actors: int | None = None,
) -> CurvesSummary:
    """Build the response curves of every campaign x segment x placement x k.

    Parameters
    ----------
    workspace : path
        A workspace with profiles, an ``audiences`` table and a trained model.
    run_id : str, optional
        The model run under ``WS/models``; default the latest.
    max_k : int
        Positions k = 1..max_k per cell.
    users_per_segment : int
        Users sampled per segment (all of a smaller segment).
    level_users : int
        Users per segment, the sampled ones first, whose k = 1 value at one placement
        each anchors the level (`adopt.curves.bootstrap`: the sample gives each
        placement's value relative to it); at most ``users_per_segment``: the sample
        alone. One model row a further user; on generated worlds it took plans
        0.9063 -> 0.9076 of the oracle at the default size and 0.9319 -> 0.9359 at
        12,000 users (docs/curves.md, session 28).
    shape_users : int
        Of those, users on whom every ad is screened and the candidates are
        compared (see `adopt.curves.grid`); when the model gives the fall with
        k, also the users predicted at every k (the curve's shape), the others
        giving the k = 1 level (see `adopt.curves.bootstrap`).
    top_creatives : int
        Creatives per campaign x segment compared on the whole k range.
    n_boot : int
        Bootstrap resamples of the users for the intervals (0: none).
    days : float, optional
        Plan period length for the inventory (default: see the module docstring).
    seed : int
        Seed of the user sample and the bootstrap.
    monotone : bool
        Make each curve non-increasing in k (see `adopt.curves.bootstrap`).
    frequency : {"auto", "logs", "model"}
        How a curve falls with k: ``"logs"`` fits the fall within user x
        campaign pairs of the logs (`adopt.curves.frequency`), ``"model"`` asks
        the response model at each k, ``"auto"`` takes the logs when they hold
        at least `adopt.curves.frequency.MIN_PAIRS` one-click pairs.
    creative_metric : {"conversions", "clicks", "revenue", "reach", "campaign"}
        What each campaign x segment's creative is chosen by (its value summed over k):
        the plan's objective (reach counts clicks, recorded as clicks), or each campaign's
        own objective (``"campaign"``). A plan whose objective differs from it says so in its
        assumptions. Choosing by the plan's metric took the plans' delivered conversions
        +3.7% (se 0.7%, 37 of 46 generated worlds up) over choosing by each campaign's
        objective, most of whose campaigns buy clicks or revenue (docs/curves.md).
    calibrate : bool
        Recalibrate the users' predicted values so that the curves'
        construction, replayed on the latest window of logged impressions,
        matches their clicks and conversions (`adopt.curves.calibrate`). Off
        by default: the window's logged impressions are the serving policy's
        picks, and on generated worlds the shift moved the forecast away from
        delivery more often than toward it (docs/curves.md). Without it, and
        with the fall from the logs, the k = 1 level gets the click-logit
        intercept that makes the construction give the model's own clicks on
        the logged rows at their own k (`adopt.curves.fall_anchor`).
    creative_effects : bool
        Scale the model's predictions of each creative by what its own logged
        clicks and conversions show beyond them, shrunk by empirical Bayes
        (`adopt.curves.creatives`); the response model does not read a
        creative's own history. False: the model's predictions as they are.
    held_out_creatives : bool
        Weigh each creative's logged outcomes against the refit of the model that
        never saw it, where the model was trained with creative folds
        (`adopt.response.creative_folds`), rather than against the model in sample;
        the curves read the model, moved by the effects either way.
    engine : {"auto", "local", "ray"}
        Where the grid's model rows are scored: in this process, on Ray Data
        actors in parallel batches (`adopt.curves.score_ray`; memory bounded by
        the batch), or on Ray from `adopt.curves.grid.RAY_MIN_ROWS` rows a stage on.
        The curves are the same either way.
    actors : int, optional
        Ray Data scoring actors (default: one per CPU of the cluster).

    Returns
    -------
    CurvesSummary

    Raises
    ------
    ParameterError
        A parameter out of range.
    WorkspaceError
        A missing warehouse, table or model.
    InputError
        A model feature that counterfactual rows cannot carry, or
        ``frequency="logs"`` with too few one-click pairs in the logs.
    """
    for name, value, low in (("max_k", max_k, 1), ("users_per_segment", users_per_segment, 1),
                             ("level_users", level_users, 0), ("shape_users", shape_users, 1),
                             ("top_creatives", top_creatives, 1), ("n_boot", n_boot, 0)):
        if value < low:
            raise ParameterError(f"The {name!r} parameter of build_curves must be at least "
                                 f"{low}. Got {value} instead.")
    if frequency not in ("auto", "logs", "model"):
        raise ParameterError(f"The 'frequency' parameter of build_curves must be one of "
                             f"'auto', 'logs', 'model'. Got {frequency!r} instead.")
    if engine not in ("auto", "local", "ray"):
        raise ParameterError(f"The 'engine' parameter of build_curves must be one of "
                             f"'auto', 'local', 'ray'. Got {engine!r} instead.")
    if days is not None and days <= 0:
        raise ParameterError(f"The 'days' parameter of build_curves must be positive. "
                             f"Got {days} instead.")
    if creative_metric not in CREATIVE_METRICS:
        raise ParameterError(f"The 'creative_metric' parameter of build_curves must be one of "
                             f"{CREATIVE_METRICS}. Got {creative_metric!r} instead.")
    started = time.perf_counter()
    ws = Workspace.of(workspace)
    audiences = load_audiences(ws.root)
    decay = fit_frequency_decay(ws.root) if frequency != "model" else None
    if frequency == "logs" and decay is None:
        raise InputError("training_examples", "clicked",
                         f"frequency='logs' needs at least {MIN_PAIRS} user x campaign pairs "
                         "with one click among two or more impressions, and a fit that settles")
    model, run_name = load_response_model(ws.root, run_id)
    state = PairState.load(ws.root)
    camp_table = _campaign_table(ws)
    start = pd.Timestamp(state.profiles_as_of)  # the state is a midnight later; the period is not
    kept, days, dropped = plan_period(camp_table, state.ads, start, days)
    creative_metric = creative_metric_for(creative_metric)
    if creative_metric == "campaign":
        objective = camp_table.set_index(camp_table["campaign_id"].astype(str)).get("objective")
        objectives = {c: OBJECTIVE_METRIC.get(str(objective.get(c)) if objective is not None
                                              else "", 1) for c in kept}
    else:
        objectives = dict.fromkeys(kept, METRICS.index(creative_metric))
    ad_camp = state.ads["campaign_id"].astype(str).to_numpy()
    campaign_ads = {c: np.flatnonzero(ad_camp == c) for c in kept}
    sample = sample_users(audiences, state, users_per_segment, shape_users, seed, level_users)
    log.info("curves: %d campaigns x %d segments x %d placements x k=1..%d from model %s",
             len(kept), len(sample.segments), len(state.placements), max_k, run_name)
    attach = text_feature_hook(ws.root, model)
    folds = getattr(model, "creative_folds_", None) if held_out_creatives else None
    predictions = creative_predictions(folds)
    effects = None
    if creative_effects:
        prior = model
        if folds is not None:
            from adopt.response.creative_folds import HeldOut  # loads LightGBM, as the model did

            prior = HeldOut(model, folds)
        with ws.connect(read_only=True) as con:
            groupings = audience_groupings(con, audiences)
        effects = fit_creative_effects(ws.root, model, attach, prior=prior,
                                       groupings=groupings)
    if effects is not None:
        if folds is not None:
            effects = replace(effects, against="the refit of the model that never saw it")
        log.info("curves: %s", effects)
        model = CreativeAdjusted(model, effects)
    with Progress(None, "curves: model rows", unit="rows") as progress:
        values = predict_grid(state, model, attach, sample, campaign_ads, objectives, max_k,
                              top_creatives, progress, decay, engine=engine, actors=actors)
    if calibrate:
        levels = calibrate_levels(ws.root, model, attach, decay, days, max_k)
    else:  # the construction's k = 1 reconciled with the model at the logged rows' own k
        levels = anchor_fall(ws.root, model, attach, decay, max_k) if decay is not None else None
    values = recalibrate(values, levels, decay)
    curves, replicates = curve_table(values, sample, kept, state.ads.index.to_numpy(),
                                     state.placements, max_k, n_boot, seed, monotone=monotone)
    reach = estimate_reach(ws.root, days)
    evidence = campaign_evidence(ws.root, kept)
    curves = validate_curves(apply_reach(curves, reach))
    folder = ws.curves
    with atomic_path(folder / "curves.parquet") as tmp:
        curves.to_parquet(tmp, index=False)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
    with atomic_path(folder / "curves_boot.parquet") as tmp:
        replicates.to_parquet(tmp, index=False)
        boot_digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
    fall = str(decay) if decay is not None else "the response model at each k"
    record = {"curves_sha256": digest, "model_run_id": run_name, "days": days,
              "scoring": {"model_rows": values.rows, "engines": values.engines},
              "max_k": max_k, "users_per_segment": users_per_segment,
              "level_users": level_users, "n_boot": n_boot,
              "replicates": {"file": "curves_boot.parquet", "sha256": boot_digest},
              "creative_metric": creative_metric,
              "fall_with_k": fall, "frequency_decay": None if decay is None else asdict(decay),
              "level_calibration": None if levels is None else {**asdict(levels),
                                                                 "text": str(levels)},
              "creative_predictions": predictions,
              "creative_effects": None if effects is None else effects.record(),
              "level_evidence": {"campaigns": evidence, "text": evidence_line(evidence)},
              "creative_evidence": creative_evidence(ws.root, curves["ad_id"].dropna().tolist())}
    with atomic_path(folder / "reach.parquet") as tmp:
        reach.to_parquet(tmp, index=False)
        reach_digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
    record["reach"] = reach_record(reach, reach_digest)
    with atomic_path(folder / "curves.json") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    placements_path = None
    if "daily_inventory" in state.placements.columns:
        inventory = pd.DataFrame({
            "placement_id": state.placements.index.astype(str),
            "inventory": state.placements["daily_inventory"].to_numpy(float) * days,
        }).dropna()
        placements_path = folder / "placements.parquet"
        with atomic_path(placements_path) as tmp:
            inventory.to_parquet(tmp, index=False)
    else:  # a stale inventory from an earlier run must not outlive its curves
        (folder / "placements.parquet").unlink(missing_ok=True)
    summary = CurvesSummary(
        curves_path=folder / "curves.parquet", placements_path=placements_path,
        run_id=run_name, campaigns=len(kept), segments=len(sample.segments),
        placements=len(state.placements), max_k=max_k, days=days, rows=len(curves),
        model_rows=values.rows, seconds=time.perf_counter() - started,
        dropped_campaigns=dropped, frequency=fall, reach=reach_line(record["reach"]),
        reach_path=folder / "reach.parquet",
        levels=str(levels) if levels is not None else NOT_RECALIBRATED,
        engines=values.engines)
    log.info("%s", summary)
    return summary
