"""What a plan promises, with an interval, and what its curves assumed.

Data flow: a curves file and the record the curve stage wrote beside it
(``curves.json``, trusted only when its SHA-256 matches the curves) ->
`curves_context` -> the assumptions a plan records in plan.json's inputs
(model run, the fall with k, reachability, the plan period) and the curves'
bootstrap replicates (``curves_boot.parquet``) -> `forecast_interval` -> per
metric the plan's forecast with a 95% interval, in plan.json's ``forecast``.

The interval resamples the users sampled in each segment (one draw shared by
every campaign and placement of the segment, `adopt.curves.bootstrap`) and
values the plan's exposure on each replicate, so cells that move together
are counted together. Where the curve stage recorded the clicks and
conversions logged per campaign and per campaign x segment
(`adopt.curves.evidence`), `LEVEL_DRAWS` draws, each on one of the
replicates in turn, also draw the levels from their sampling error: each
campaign x segment's level is a log-normal factor of mean 1 with
log-variance 1 / (clicks + 1) on clicks, and that times one of log-variance
1 / (conversions + 1) on conversions and revenue, counted in that campaign
x segment; the campaign's part of it (the same variances of the campaign's
counts) is one draw shared by all the campaign's cells, the rest is the
cell group's own. On generated worlds that level error, concentrated in the
few campaigns a plan spends on and the segments it buys, was most of the
gap between forecast and delivery: the users' bootstrap alone gave
intervals of about 1%, the campaigns' draws alone held 17 of 23 deliveries
and the campaign x segment draws 21 (docs/curves.md, sessions 9 and 21).
Per campaign x segment the counts are few (a median of 0 or 1 conversions on
those worlds), so each cell group alone is drawn wide: a plan spread over many
is held near its errors, one bought in a few thinly logged cells gets a wide
and skewed interval, as its logs allow. Segments that overlap (rules that share
users) are drawn apart. A creative the curves chose that was never logged is
the model's read of its features alone: where the curve stage recorded the
chosen creatives' logs (``creative_evidence``) and the spread of the logged
creatives' own effects around the model that never saw them
(``creative_effects``: Gamma(s, s) on clicks, its strength s in pseudo-clicks;
conversions per click following the click factor by the link's slope and
straying by their own strength), each such creative's level is drawn from that
spread too, one draw for all its cells (`UnloggedCreatives`), on a stream of
its own so a plan that buys none keeps its interval to the digit. The rest of
the model's error and the fall with k are fitted once and not resampled: the
basis says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import pandas as pd

from adopt.optimize.curves import METRICS, CurveGrid
from adopt.optimize.lp import position_means

LEVEL = 0.95
SEED = 0  # the level draws: the same plan gets the same interval run after run
# Level draws per interval, each on one of the users' bootstrap replicates in turn: with one
# draw per replicate the 95% quantiles were nearly the extremes of the curve stage's 30 (on a
# test plan a log-width of 0.60 where 4,000 draws give 0.74)
LEVEL_DRAWS = 2_000
_DRAW_CHUNK = 250  # draws valued at a time (bounds the draws x cells arrays)
# per metric, its level's log: the clicks' draw (0) or that plus conversions per click's (1)
_DRAW_OF_METRIC = [1 if name in ("conversions", "revenue") else 0 for name in METRICS]


def _matching_record(curves_path: Path) -> dict | None:
    record_path = curves_path.with_suffix(".json")
    try:
        record = json.loads(record_path.read_text())
        digest = hashlib.sha256(curves_path.read_bytes()).hexdigest()
    except (OSError, ValueError):  # no record, or not ours: the plan does without it
        return None
    if not isinstance(record, dict) or record.get("curves_sha256") != digest:
        return None
    return record


# What the record says of levels the curve stage did not move (the model asked at each k, or
# no logged rows to anchor its k = 1 to)
NOT_RECALIBRATED = "as the response model predicts them (not recalibrated to the latest logs)"


@dataclass(frozen=True)
class UnloggedCreatives:
    """The chosen creatives never logged, and how far a creative strays from the model's
    read of its features (the spread of the logged creatives' own effects).

    Attributes
    ----------
    ad_ids : the creatives with no logged impression.
    click_log_var : log-variance of a creative's click factor, log(1 + 1 / s) for the
        effects' Gamma(s, s) prior (0: no spread beyond Poisson was found).
    per_click_log_var : the same of its conversions per click beyond what the click
        factor carries.
    link_slope : how conversions per click follow the click factor (its log).
    """

    ad_ids: frozenset[str]
    click_log_var: float
    per_click_log_var: float
    link_slope: float

    @classmethod
    def from_record(cls, creatives: dict | None, effects: dict | None
                    ) -> UnloggedCreatives | None:
        """From curves.json's ``creative_evidence`` and ``creative_effects``; None when
        either is missing or every chosen creative was logged."""
        if not isinstance(creatives, dict) or not isinstance(effects, dict):
            return None
        never = frozenset(str(ad) for ad, counts in creatives.items()
                          if isinstance(counts, dict) and counts.get("impressions") == 0)
        if not never:
            return None
        link = effects.get("conversion_link")
        slope = link.get("slope_on_log_click_factor") if isinstance(link, dict) else None
        return cls(never, _gamma_log_var(effects.get("click_strength")),
                   _gamma_log_var(effects.get("conversion_strength")),
                   float(slope) if isinstance(slope, int | float) else 0.0)


def _gamma_log_var(strength: object) -> float:
    """log(1 + 1 / s): the log-normal that has a Gamma(s, s) factor's mean and variance
    (None, as curves.json writes an infinite strength: no spread)."""
    if not isinstance(strength, int | float) or not strength > 0:
        return 0.0
    return float(np.log1p(1.0 / strength))


class CurvesContext(NamedTuple):
    """What `curves_context` reads beside a curves file (see there)."""

    assumptions: dict
    replicates: pd.DataFrame | None
    evidence: dict | None
    creatives: dict | None
    unlogged: UnloggedCreatives | None


def curves_context(curves_path: str | Path | None) -> CurvesContext:
    """The assumptions the curve stage recorded for these curves, their replicates, the
    logged outcomes behind each campaign's level and behind each chosen creative.

    Returns
    -------
    CurvesContext, whose fields are:
    assumptions : dict
        ``model_run``, ``fall_with_k``, ``period_days``, ``max_k``, ``levels``
        (how the k = 1 levels were set: the fall's anchor on the logged rows, or the
        calibration against the latest logs), ``creative_effects``
        (what each creative's own logs added), ``creative_metric`` and
        ``creative_choice`` (what each cell's creative was chosen by, as recorded and in
        words), ``level_evidence`` and ``reach``
        (a summary of the reachable shares), each present when recorded; empty
        when the curves have no matching record (a planner's own file).
    replicates : DataFrame or None
        The bootstrap replicates, when recorded and their hash matches.
    evidence : dict or None
        ``{campaign_id: {"clicks", "conversions", "segments": {segment: {"clicks",
        "conversions"}}}}`` logged per campaign and per campaign x segment, when
        recorded (``segments`` absent in records written before it was kept).
    creatives : dict or None
        ``{ad_id: {"impressions", "clicks", "conversions"}}`` logged per creative the
        curves chose, when recorded (`adopt.plan.evidence` says what a plan's forecast
        rests on).
    unlogged : UnloggedCreatives or None
        The chosen creatives never logged and the spread their levels are drawn from.
    """
    nothing = CurvesContext({}, None, None, None, None)
    if curves_path is None:
        return nothing
    path = Path(curves_path)
    record = _matching_record(path)
    if record is None:
        return nothing
    levels = record.get("level_calibration")
    out = {"model_run": record.get("model_run_id"), "fall_with_k": record.get("fall_with_k"),
           "period_days": record.get("days"), "max_k": record.get("max_k"),
           "levels": levels.get("text") if isinstance(levels, dict) else NOT_RECALIBRATED}
    reach = record.get("reach")
    if isinstance(reach, dict) and isinstance(reach.get("reachable_share"), dict):
        share = reach["reachable_share"]
        out["reach"] = (f"share of a segment a placement reaches in {reach.get('days'):g} days "
                        f"(from {reach.get('windows')} window(s) of the logs): min "
                        f"{share['min']:.2f}, median {share['median']:.2f}, max "
                        f"{share['max']:.2f}; {reach.get('cells_below_half')} of "
                        f"{reach.get('cells')} segment x placement cells below half")
    # curves built before the choice was recorded chose by each campaign's own objective
    chosen_by = str(record.get("creative_metric", "campaign"))
    out["creative_metric"] = chosen_by
    out["creative_choice"] = "each campaign's own objective" if chosen_by == "campaign" \
        else chosen_by
    effects = record.get("creative_effects")
    if isinstance(effects, dict) and effects.get("text"):
        out["creative_effects"] = effects["text"]
    logged = record.get("level_evidence")
    evidence = None
    if isinstance(logged, dict) and isinstance(logged.get("campaigns"), dict):
        evidence = logged["campaigns"]
        out["level_evidence"] = logged.get("text")
    out = {k: v for k, v in out.items() if v is not None}
    replicates = None
    boot = record.get("replicates")
    if isinstance(boot, dict) and boot.get("file"):
        boot_path = path.with_name(str(boot["file"]))
        try:
            if hashlib.sha256(boot_path.read_bytes()).hexdigest() == boot.get("sha256"):
                replicates = pd.read_parquet(boot_path)
        except OSError:
            replicates = None
    creatives = record.get("creative_evidence")
    creatives = creatives if isinstance(creatives, dict) else None
    return CurvesContext(out, replicates, evidence, creatives,
                         UnloggedCreatives.from_record(creatives, effects))


def _replicate_grid(grid: CurveGrid, replicates: pd.DataFrame) -> np.ndarray | None:
    """Replicates as an array (B, cells, K, metrics) aligned with the grid; None if they
    do not cover it."""
    cols = ["campaign_id", "segment", "placement_id"]
    key = pd.MultiIndex.from_frame(grid.cells[cols].astype(str))
    cell = key.get_indexer(pd.MultiIndex.from_frame(replicates[cols].astype(str)))
    replicates, cell = replicates.loc[cell >= 0], cell[cell >= 0]  # other campaigns' cells
    n_boot = int(replicates["replicate"].max()) + 1 if len(replicates) else 0
    k = replicates["k"].to_numpy() - 1
    if n_boot == 0 or (k >= grid.K).any():
        return None
    out = np.full((n_boot, grid.n_cells, grid.K, len(METRICS)), np.nan)
    rep = replicates["replicate"].to_numpy()
    for i, m in enumerate(METRICS):
        out[rep, cell, k, i] = replicates[m].to_numpy(float)
    used = np.arange(grid.K)[None, :] < grid.depth[:, None]
    if np.isnan(out[:, used]).any():
        return None
    return np.nan_to_num(out)


def _log_variances(grid: CurveGrid, evidence: dict) -> tuple[np.ndarray, ...]:
    """The level draws' log-variances (module docstring) and which cell is whose.

    Returns
    -------
    campaign_var : (campaigns, 2) for (clicks, conversions per click)
    group_var : (campaign x segment groups, 2), beyond the campaign's: 0 where the
        record has no segments (a record written before they were kept)
    group_campaign, cell_group : the campaign of each group, the group of each cell
    """
    cells = pd.MultiIndex.from_frame(grid.cells[["campaign_id", "segment"]].astype(str))
    cell_group, groups = pd.factorize(cells, sort=True)
    group_campaign, campaigns = pd.factorize(groups.get_level_values(0), sort=True)

    def counts(entry: dict | None) -> list[float]:
        return [float((entry or {}).get(name, 0)) for name in ("clicks", "conversions")]

    campaign_var = 1.0 / (np.array([counts(evidence.get(c)) for c in campaigns]).reshape(-1, 2)
                          + 1.0)
    group_var = np.zeros((len(groups), 2))
    for g, (campaign, segment) in enumerate(groups):
        segments = (evidence.get(campaign) or {}).get("segments")
        if isinstance(segments, dict):
            own = 1.0 / (np.array(counts(segments.get(segment))) + 1.0)
            group_var[g] = np.maximum(own - campaign_var[group_campaign[g]], 0.0)
    return campaign_var, group_var, group_campaign, cell_group


def _normal(rng: np.random.Generator, n: int, var: np.ndarray) -> np.ndarray:
    """Normal log-factors of log-variance `var` whose exponentials have mean 1."""
    return rng.standard_normal((n, *var.shape)) * np.sqrt(var) - var / 2.0


def _unlogged_cells(grid: CurveGrid, unlogged: UnloggedCreatives | None) -> np.ndarray | None:
    """Per cell the index of its never-logged creative among `unlogged`'s, sorted (-1: a
    logged one); None when no cell shows one."""
    if unlogged is None or "ad_id" not in grid.cells:
        return None
    index = pd.Index(sorted(unlogged.ad_ids)).get_indexer(grid.cells["ad_id"].astype(str))
    return index if (index >= 0).any() else None


def _creative_factors(rng: np.random.Generator, n: int, unlogged: UnloggedCreatives,
                      creatives: int) -> np.ndarray:
    """(n, creatives, metrics) mean-1 level factors of the never-logged creatives: a
    log-normal click factor, and conversions per click following it by the link's slope
    with a spread of their own."""
    click_var, per_click_var = unlogged.click_log_var, unlogged.per_click_log_var
    x = rng.standard_normal((n, creatives)) * np.sqrt(click_var)
    own = rng.standard_normal((n, creatives)) * np.sqrt(per_click_var)
    conversion_var = (1.0 + unlogged.link_slope) ** 2 * click_var + per_click_var
    logs = np.stack([x - click_var / 2.0,
                     (1.0 + unlogged.link_slope) * x + own - conversion_var / 2.0], axis=-1)
    return np.exp(logs[..., _DRAW_OF_METRIC])


def _replicate_values(grid: CurveGrid, m: np.ndarray, boot: np.ndarray,
                      evidence: dict | None, unlogged: UnloggedCreatives | None = None
                      ) -> np.ndarray:
    """The plan's value per replicate and metric (replicates x metrics): the users'
    bootstrap alone, or `LEVEL_DRAWS` level draws over its replicates in turn."""
    # per replicate, cell and metric: the plan's value on that replicate's curves
    per_cell = np.stack([(position_means(boot[..., i]) * m[None]).sum(axis=2)
                         for i in range(len(METRICS))], axis=-1)
    cell_creative = _unlogged_cells(grid, unlogged)
    if evidence is None and cell_creative is None:
        return per_cell.sum(axis=1)
    if evidence is not None:
        campaign_var, group_var, group_campaign, cell_group = _log_variances(grid, evidence)
    rng = np.random.default_rng(SEED)
    creative_rng = np.random.default_rng([SEED, 1])  # its own stream: module docstring
    values = []
    for lo in range(0, LEVEL_DRAWS, _DRAW_CHUNK):
        n = min(_DRAW_CHUNK, LEVEL_DRAWS - lo)
        drawn = per_cell[np.arange(lo, lo + n) % len(per_cell)]
        if evidence is not None:
            # (draws, groups, 2): the campaign's draw and the campaign x segment's beyond it
            z = _normal(rng, n, campaign_var)[:, group_campaign] + _normal(rng, n, group_var)
            # clicks take the clicks' draw; conversions and revenue that plus their own
            levels = np.exp(np.cumsum(z, axis=-1)[..., _DRAW_OF_METRIC])
            drawn = levels[:, cell_group] * drawn
        if cell_creative is not None:
            factors = _creative_factors(creative_rng, n, unlogged, len(unlogged.ad_ids))
            on = cell_creative >= 0
            drawn[:, on] *= factors[:, cell_creative[on]]
        values.append(drawn.sum(axis=1))
    return np.concatenate(values)


def _bought_unlogged(grid: CurveGrid, m: np.ndarray, unlogged: UnloggedCreatives | None
                     ) -> UnloggedCreatives | None:
    """`unlogged` cut to the never-logged creatives the plan buys (None: it buys none)."""
    cell_creative = _unlogged_cells(grid, unlogged)
    if cell_creative is None:
        return None
    bought = cell_creative[(cell_creative >= 0) & (m.sum(axis=1) > 0)]
    if not len(bought):
        return None
    ads = sorted(unlogged.ad_ids)
    return replace(unlogged, ad_ids=frozenset(ads[i] for i in np.unique(bought)))


def _basis(replicates: int, draws: int, evidence: dict | None,
           unlogged: UnloggedCreatives | None) -> str:
    """What the interval covers, in words."""
    drawn = []
    if evidence is not None:
        drawn.append("every campaign's and campaign x segment's level from the sampling error "
                     "of the clicks and conversions logged in it")
    if unlogged is not None:
        drawn.append(f"the level of each of the {len(unlogged.ad_ids)} never-logged "
                     "creative(s) the plan buys from the spread of the logged creatives' own "
                     "effects")
    if not drawn:
        return (f"bootstrap of the users sampled per segment ({replicates} replicates); the "
                "response model's error and the fall with k are not resampled")
    return (f"bootstrap of the users sampled per segment ({replicates} replicates), with "
            f"{draws:,} draws of {', and of '.join(drawn)}; the rest of the response model's "
            "error and the fall with k are not resampled")


def forecast_interval(grid: CurveGrid, m: np.ndarray, replicates: pd.DataFrame | None,
                      evidence: dict | None = None,
                      unlogged: UnloggedCreatives | None = None) -> dict:
    """Per metric the plan's forecast and its interval.

    Parameters
    ----------
    grid : CurveGrid
        The curves the plan was solved on.
    m : ndarray (n_cells, K)
        The plan's impressions per cell by the users' number of impressions N.
    replicates : DataFrame or None
        Bootstrap replicates of the curves (see `curves_context`).
    evidence : dict, optional
        Clicks and conversions logged per campaign and campaign x segment (see
        `curves_context`); with them `LEVEL_DRAWS` draws of the levels, over the replicates in
        turn (module docstring).
    unlogged : UnloggedCreatives, optional
        The chosen creatives never logged (see `curves_context`): those the plan buys get
        level draws of their own.

    Returns
    -------
    dict
        ``{metric: {"point", "lo", "hi"}}``, ``level`` and ``basis`` (what the
        interval covers); without replicates only the point, and ``basis``
        says there is no interval.
    """
    point = {name: float((position_means(grid.metric(name)) * m).sum()) for name in METRICS}
    boot = None if replicates is None else _replicate_grid(grid, replicates)
    if boot is not None:
        bought = _bought_unlogged(grid, m, unlogged)
        values = _replicate_values(grid, m, boot, evidence, bought)
        lo, hi = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
        return {"level": LEVEL, "basis": _basis(len(boot), len(values), evidence, bought),
                **{name: {"point": point[name], "lo": float(lo[i]), "hi": float(hi[i])}
                   for i, name in enumerate(METRICS)}}
    return {"level": None, "basis": "no bootstrap replicates of these curves",
            **{name: {"point": point[name]} for name in METRICS}}


def interval_z(point: float, lo: float, hi: float, value: float, level: float = 0.95,
               extra_log_var: float = 0.0) -> float | None:
    """How far `value` fell from the forecast `point` in its interval's own standard
    deviations: log(value / point) over the interval's log-width / (2 z), z the normal
    quantile of its `level` (with `extra_log_var`, a noise the interval leaves out, added
    to its log-variance). Measured from the point, a mean; the interval's draws are
    skewed right of it. Over many plans an honest interval's values have a root mean
    square of about 1. None when a number is missing or not positive."""
    if not (point and value and lo and hi) or not 0 < lo < hi or point < 0 or value < 0:
        return None
    sd = np.log(hi / lo) / (2.0 * NormalDist().inv_cdf(0.5 + level / 2.0))
    return float(np.log(value / point) / np.sqrt(sd ** 2 + extra_log_var))


def widened(point: float, lo: float, hi: float, level: float, extra_log_var: float
            ) -> tuple[float, float]:
    """The interval with a noise of log-variance `extra_log_var` added: each end's
    log-distance from `point` stretched by the ratio of the standard deviations, and never
    inside the interval itself (an end on the wrong side of `point`, as quantiles of
    draws can fall, stays where it is)."""
    sd = np.log(hi / lo) / (2.0 * NormalDist().inv_cdf(0.5 + level / 2.0))
    stretch = np.sqrt(sd ** 2 + extra_log_var) / sd
    return (float(min(lo, point * (lo / point) ** stretch)),
            float(max(hi, point * (hi / point) ** stretch)))
