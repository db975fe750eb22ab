"""A plan's forecast against what its delivery logged.

Data flow: ``plans/<plan_id>/`` (plan.json, allocation.parquet, exposure.parquet) + the
curves file the plan names + the warehouse's events of the plan period (the ad server's
log, loaded by ``adopt ingest``) + ``audiences`` -> `check_actuals` -> `ActualsCard` ->
``adopt actuals`` and ``plans/<plan_id>/actuals.json``.

Why: `adopt score` weighs a plan against a synthetic world's truth; a real plan
is delivered on real users, and what holds its forecast to account is the
delivery's own log. The card compares, per campaign and in total, what was
planned (impressions, reach, spend) with what the ad server delivered, and the
forecast with what the delivery bought, twice: as planned, and at what was delivered,
so that an ad server's shortfall or its frequency is not read as the response model's
miss. At what was delivered, each impression is valued on the plan's own curves at its
place k in its user's sequence of the campaign over all placements, in time order (the
plan values a user's N impressions at the curve's mean over k = 1..N, what a random order
gives on average; here the order is known), where the curves file still hashes to the
plan's curves_hash; else each cell's forecast per impression times the impressions it got
(kept beside it as ``at_volume``: the plan's frequency). The plan's interval, of an
expected value, is widened by the logged counts' own noise. A table by day sets the
delivery against even pacing, with the forecast of each day's impressions; while the plan
runs, a note says when delivery runs more than 10% ahead or behind, and each metric is
projected to the period's end. A table by place k sets the fall with k the plan assumed
against the clicks and conversions that name their impression. Clicks and conversions
count for the cell of their impression (by impression_id; an unlinked one by its own row,
inside the period). A user counts once per campaign x placement, in one segment: the first
(by name) of their segments the plan buys at that campaign and placement, else the first
of theirs (rule-based audiences may overlap). Campaign x segment rows of segments under the
minimum size, of unknown size, or of too few users outside every segment are merged
(`adopt.report.privacy`); no user id leaves the warehouse.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from adopt.delivery import exposure_outcomes
from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize import parse_spec
from adopt.optimize.curves import build_grid, curves_digest, read_table, validate_curves
from adopt.optimize.forecast import interval_z, widened
from adopt.optimize.spec import FrequencyCap
from adopt.planner_args import select_campaigns
from adopt.report.data import read_allocation, read_plan_json
from adopt.report.privacy import MIN_SEGMENT_SIZE, Suppression, suppress_frame
from adopt.workspace import SEGMENT_HINT, Workspace, atomic_path

METRICS = ("clicks", "conversions", "revenue")
VOLUME = ("impressions", "spend")
NO_SEGMENT = "(no segment)"  # users of the delivery the audiences do not hold
FILE = "actuals.json"
CELL = ["campaign_id", "segment", "placement_id"]
USER_ROW = ["campaign_id", "placement_id", "user_id"]
MAX_DAYS = 366  # the longest window with a table by day
RUNNING = 0.99  # a plan is still running until its last impression falls this far in

# Per campaign x placement x user x day, what the delivery logged in [start, end), from the
# input tables (the stg_ views stop at the profiles' as_of, before the delivery). Clicks and
# conversions count with their impression, on its day (whole days from start); one without an
# impression_id, by its own row inside the period. Sums in a fixed order (the same digits run
# to run); bound parameters only: nothing of the caller's text becomes SQL.
_DELIVERED_SQL = """
with imp as (
    select nullif(e.impression_id, '') as impression_id, e.user_id, e.ad_id, e.placement_id,
           e.ts, coalesce(e.cost, p.cpm / 1000.0) as cost
    from events e join ads a using (ad_id)
    left join placements p using (placement_id)
    where e.event = 'impression' and e.ts >= $start and e.ts < $end
      and list_contains($campaigns, a.campaign_id)
),
resp as (
    select r.event, r.revenue,
           coalesce(i.user_id, r.user_id) as user_id, coalesce(i.ad_id, r.ad_id) as ad_id,
           coalesce(i.placement_id, r.placement_id) as placement_id, coalesce(i.ts, r.ts) as ts
    from events r left join imp i on nullif(r.impression_id, '') = i.impression_id
    where r.event <> 'impression' and (i.impression_id is not null
        or (nullif(r.impression_id, '') is null and r.ts >= $start and r.ts < $end))
),
rows as (
    select 'impression' as event, user_id, ad_id, placement_id, ts, cost,
           null::double as revenue
    from imp
    union all
    select event, user_id, ad_id, placement_id, ts, 0.0, revenue from resp
)
select a.campaign_id, r.placement_id, r.user_id,
       cast(floor(epoch(r.ts - $start::timestamp) / 86400) as integer) as day,
       count(*) filter (where r.event = 'impression') as impressions,
       coalesce(sum(r.cost order by r.cost), 0) as spend,
       count(*) filter (where r.event = 'click') as clicks,
       count(*) filter (where r.event = 'conversion') as conversions,
       coalesce(sum(r.revenue order by r.revenue) filter (where r.event = 'conversion'), 0)
           as revenue
from rows r join ads a using (ad_id)
where list_contains($campaigns, a.campaign_id)
group by all
order by all
"""
# Each impression's place in its user's sequence of the campaign over all placements, in time
# order from the plan's start ($origin; k = 1, 2, ...), counted per campaign x placement x user
# x day x k for the impressions in [start, end), with the clicks and conversions that name the
# impression (an unlinked one has no place)
_POSITIONS_SQL = """
with numbered as (
    select nullif(e.impression_id, '') as impression_id, e.user_id, a.campaign_id,
           e.placement_id, e.ts,
           row_number() over (partition by a.campaign_id, e.user_id
                              order by e.ts, e.impression_id, e.placement_id) as k
    from events e join ads a using (ad_id)
    where e.event = 'impression' and e.ts >= $origin and e.ts < $end
      and list_contains($campaigns, a.campaign_id)
),
imp as (select * from numbered where ts >= $start),
rows as (
    select campaign_id, placement_id, user_id, ts, k, 'impression' as event,
           null::double as revenue
    from imp
    union all
    select i.campaign_id, i.placement_id, i.user_id, i.ts, i.k, r.event, r.revenue
    from events r join imp i on nullif(r.impression_id, '') = i.impression_id
    where r.event <> 'impression'
)
select campaign_id, placement_id, user_id,
       cast(floor(epoch(ts - $start::timestamp) / 86400) as integer) as day, k,
       count(*) filter (where event = 'impression') as impressions,
       count(*) filter (where event = 'click') as clicks,
       count(*) filter (where event = 'conversion') as conversions,
       coalesce(sum(revenue order by revenue) filter (where event = 'conversion'), 0) as revenue
from rows
group by all
order by all
"""
_LATEST_SQL = """
select max(e.ts) from events e join ads a using (ad_id)
where e.event = 'impression' and e.ts >= $start and e.ts < $end
  and list_contains($campaigns, a.campaign_id)
"""
# the segments of the users with an event in the period
_MEMBERS_SQL = """
select au.user_id, au.segment::varchar as segment
from audiences au
where au.user_id in (select user_id from events where ts >= $start and ts < $end)
order by all
"""
_SIZES_SQL = "select segment::varchar, count(distinct user_id) from audiences group by all"


def _day(value: Any, name: str, where: str = "check_actuals") -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        out = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        out = pd.NaT
    if out is pd.NaT or out.tzinfo is not None:
        message = (f"must be a date or a time without a time zone (2026-03-01). "
                   f"Got {value!r} instead.")
        if where == "plan.json":
            raise InputError("plan.json", name, message)
        raise ParameterError(f"The '{name}' parameter of {where} {message}")
    return out


def plan_window(doc: dict, start: Any = None, end: Any = None) -> tuple[pd.Timestamp,
                                                                        pd.Timestamp]:
    """The delivery period [start, end): the arguments, else the plan's period.

    ``end`` defaults to the day after the plan's period_end, else to its period_start (else
    start) plus the plan's period in days (plan.json ``inputs.period_days``).
    """
    inputs = doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}
    spec = inputs.get("spec") if isinstance(inputs.get("spec"), dict) else {}
    first = _day(start, "start")
    planned_start = _day(spec.get("period_start"), "period_start", "plan.json")
    if first is None:
        first = planned_start
    if first is None:
        raise ParameterError("The 'start' parameter of check_actuals is needed: the plan has "
                             "no period_start. Give the first day the plan was delivered.")
    last = _day(end, "end")
    if last is None:
        period_end = _day(spec.get("period_end"), "period_end", "plan.json")
        last = None if period_end is None else _later(period_end, 1.0)
    if last is None:
        days = _number(inputs.get("period_days"))
        if not days or days <= 0:
            raise ParameterError("The 'end' parameter of check_actuals is needed: the plan "
                                 "has no period_end nor period_days.")
        last = _later(first if planned_start is None else planned_start, days)
    if not last > first:
        raise ParameterError(f"The 'end' parameter of check_actuals must come after start "
                             f"({first}). Got {last} instead.")
    return first, last


def _later(day: pd.Timestamp, days: float) -> pd.Timestamp:
    """`day` plus `days`; a period past what a timestamp holds is one line."""
    try:
        return day + pd.Timedelta(days=days)
    except (OverflowError, pd.errors.OutOfBoundsTimedelta, pd.errors.OutOfBoundsDatetime) as err:
        raise InputError("plan.json", "period_days", "the plan's period runs past the dates a "
                         f"timestamp holds ({err})") from err


def _number(value: Any) -> float | None:
    """A finite float, or None (plan.json is read as written, not trusted)."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


@dataclass
class ActualsCard:
    """A plan's forecast and plan beside what its delivery logged.

    Attributes
    ----------
    plan_id, metric : the plan's id and objective metric.
    start, end : the delivery period [start, end).
    totals : per metric (clicks, conversions, revenue) the forecast's ``point``, ``lo``,
        ``hi`` and ``level`` (plan.json), ``at_delivered`` (the forecast at the volume
        and the users' frequency delivered), ``at_volume`` (each cell's forecast per
        impression times its delivered impressions: the plan's frequency),
        ``lo_at_delivered`` and ``hi_at_delivered`` (the interval scaled to
        it), ``lo_logged`` and ``hi_logged`` (that interval widened by the counting noise
        of the logged events), ``actual``, ``ratio`` (actual / at_delivered), ``inside``
        (the actual inside the widened interval) and ``z`` (its distance from the forecast
        in the widened interval's standard deviations, `interval_z`); while the plan runs,
        ``projected``, ``lo_projected``, ``hi_projected``: the metric by the period's end,
        were the rest of the plan delivered as planned (`_projected`).
    delivery : planned and delivered impressions, spend and reach; impressions of the
        plan's campaigns outside its cells (``off_plan_impressions``); users over the
        plan's cap across placements (``users_over_cap``); users who saw a campaign
        more often than its curves reach (``users_beyond_curves``; 0 where
        ``at_users_frequency`` is False).
    campaigns : per campaign, planned and delivered volume, the forecast (``forecast_*`` as
        planned, ``at_delivered_*`` as delivered, ``at_volume_*`` at the plan's frequency),
        the actuals, and ``z_clicks``, ``z_conversions``: how far
        the counts fell from the forecast at the delivered volume in counting noise's
        standard deviations (Poisson; beyond about 2, more than luck).
    segments : the same per campaign x segment, small segments merged.
    at_users_frequency : whether ``at_delivered`` is valued at the users' own frequency
        (False where the plan's curves file is missing or changed).
    days : per day of the period, the plan at even pacing (``planned_impressions``,
        ``planned_spend``), what was delivered and logged, and the forecast of that day's
        impressions (``at_delivered_*``); clicks and conversions on their impression's day.
    positions : per place k of an impression in its user's sequence of the campaign (the
        last row: the curves' depth and after), the impressions, their forecast and the
        clicks, conversions and revenue that name them: the fall with k the plan assumed,
        against delivery (empty where ``at_users_frequency`` is False).
    """

    plan_id: str
    metric: str
    start: pd.Timestamp
    end: pd.Timestamp
    totals: dict[str, dict[str, Any]]
    delivery: dict[str, float]
    campaigns: pd.DataFrame
    segments: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    at_users_frequency: bool = True
    days: pd.DataFrame = field(default_factory=pd.DataFrame)
    positions: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        def records(df: pd.DataFrame) -> list[dict]:
            return json.loads(df.to_json(orient="records"))

        return {"plan_id": self.plan_id, "metric": self.metric,
                "start": self.start.isoformat(), "end": self.end.isoformat(),
                "totals": self.totals, "delivery": self.delivery,
                "campaigns": records(self.campaigns), "segments": records(self.segments),
                "notes": self.notes, "at_users_frequency": self.at_users_frequency,
                "days": records(self.days.assign(day=self.days["day"].map(
                    lambda d: d.isoformat()))) if len(self.days) else [],
                "positions": records(self.positions) if len(self.positions) else []}

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``actuals.json`` into the plan folder (atomically)."""
        target = Path(folder) / FILE
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return target

    def __str__(self) -> str:
        d = self.delivery
        lines = [f"plan {self.plan_id}: delivered {self.start:%Y-%m-%d %H:%M} to "
                 f"{self.end:%Y-%m-%d %H:%M}",
                 f"  impressions {d['impressions']:,.0f} of {d['planned_impressions']:,.0f} "
                 f"planned ({_share(d['impressions'], d['planned_impressions'])}), spend "
                 f"{d['spend']:,.2f} of {d['planned_spend']:,.2f}, reach {d['reach']:,.0f} of "
                 f"{d['planned_reach']:,.0f}; off the plan's cells {d['off_plan_impressions']:,.0f}"
                 f" impressions, {d['users_over_cap']:,.0f} users over the cap"]
        for name in METRICS:
            t = self.totals[name]
            z = f", {t['z']:+.2f} sds" if t.get("z") is not None else ""
            band = (f", interval there with the counts' noise {t['lo_logged']:,.1f}-"
                    f"{t['hi_logged']:,.1f} ({'inside' if t['inside'] else 'OUTSIDE'}{z})"
                    if "lo_logged" in t else "")
            at = (f"{t['at_delivered']:,.1f} at the volume and frequency delivered "
                  f"({t['at_volume']:,.1f} at the plan's frequency)" if self.at_users_frequency
                  else f"{t['at_delivered']:,.1f} at the delivered volume")
            lines.append(f"  {name}: forecast {t['point']:,.1f} as planned, {at}; actual "
                         f"{t['actual']:,.1f} ({_ratio(t['ratio'])} of the forecast){band}")
            if "projected" in t:
                lines.append(f"    by the period's end, were the rest delivered as planned: "
                             f"{t['projected']:,.1f} ({t['lo_projected']:,.1f}-"
                             f"{t['hi_projected']:,.1f}; the forecast's level updated by what "
                             "was logged so far)")
        counted = self.metric if self.metric in ("clicks", "conversions") else "conversions"
        table = self.campaigns[["campaign_id", "planned_impressions", "impressions",
                                f"forecast_{self.metric}", f"at_delivered_{self.metric}",
                                self.metric, f"z_{counted}"]]
        lines.append(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
        lines.append(f"  (z_{counted}: the campaign's {counted} from the forecast at its "
                     "delivered volume in sds of counting noise; beyond about 2, more than luck)")
        if 0 < len(self.days) <= 62:
            days = self.days[["day", "planned_impressions", "impressions",
                              f"at_delivered_{self.metric}", self.metric]].assign(
                day=self.days["day"].dt.strftime("%Y-%m-%d"))
            lines.append("  by day (planned: even pacing; forecast of the day's impressions):")
            lines.append(days.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
        if len(self.positions):
            after = self.positions.loc[self.positions["and_after"], "k"]
            last = f"k = {int(after.iloc[0])} and after; " if len(after) else ""
            lines.append(f"  by place k in the user's sequence of the campaign ({last}{counted} "
                         "that name their impression):")
            lines.append(self.positions[["k", "impressions", f"at_delivered_{counted}",
                                         counted]].to_string(
                index=False, float_format=lambda v: f"{v:,.1f}"))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _share(a: float, b: float) -> str:
    return f"{a / b:.1%}" if b > 0 else "n/a"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _read_plan(folder: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """plan.json, the allocation and the exposure profile (one line for each missing one)."""
    doc, alloc = read_plan_json(folder), read_allocation(folder)
    path = folder / "exposure.parquet"
    if not path.is_file():
        raise WorkspaceError(f"{path} is missing: the plan folder must be one written by "
                             "`adopt plan` (with the plan's exposure profile).")
    exposure = pd.read_parquet(path)
    for column in ("campaign_id", "segment", "frequency", "users"):
        if column not in exposure.columns:
            raise InputError("exposure", column, f"{path} lacks the column")
    return doc, alloc, exposure


def _delivered(workspace: Workspace, campaigns: list[str], start: pd.Timestamp,
               end: pd.Timestamp, origin: pd.Timestamp) -> tuple[
                   pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float], pd.Timestamp]:
    """Per campaign x placement x user x day what the delivery logged; the impressions'
    places in their users' sequences counted from `origin`; the users' segments; every
    segment's size; the time of the last impression."""
    with workspace.connect(read_only=True) as con:
        workspace.require(["events", "ads", "placements"], "run `adopt ingest` with the "
                          "delivery's events first", con)
        workspace.require("audiences", SEGMENT_HINT, con)
        period = {"start": start.to_pydatetime(), "end": end.to_pydatetime()}
        rows = con.execute(_DELIVERED_SQL, period | {"campaigns": campaigns}).df()
        positions = con.execute(_POSITIONS_SQL, period | {
            "campaigns": campaigns, "origin": min(origin, start).to_pydatetime()}).df()
        latest = con.execute(_LATEST_SQL, period | {"campaigns": campaigns}).fetchone()[0]
        members = con.execute(_MEMBERS_SQL, period).df()
        sizes = dict(con.execute(_SIZES_SQL).fetchall())
    ids = {"campaign_id": str, "placement_id": str, "user_id": str}
    return rows.astype(ids), positions.astype(ids), members, \
        {str(k): float(v) for k, v in sizes.items()}, pd.Timestamp(latest)


def _one_segment(rows: pd.DataFrame, members: pd.DataFrame,
                 bought: pd.MultiIndex) -> pd.DataFrame:
    """`rows` with each user's segment at each campaign x placement (module docstring)."""
    key = ["campaign_id", "placement_id", "user_id"]
    options = rows[key].merge(members.astype(str), on="user_id")
    options["bought"] = pd.MultiIndex.from_frame(options[CELL]).isin(bought)
    options = options.sort_values([*key, "bought", "segment"],
                                  ascending=[True, True, True, False, True], kind="stable")
    picked = options.drop_duplicates(key)
    out = rows.merge(picked[[*key, "segment"]], on=key, how="left")
    out["segment"] = out["segment"].fillna(NO_SEGMENT)
    return out


def _plan_curves(doc: dict, alloc: pd.DataFrame, exposure: pd.DataFrame) -> pd.DataFrame | None:
    """The curves the plan was made from: the file plan.json names, if its rows (restricted
    to the plan's campaigns) still hash to ``inputs.curves_hash``; for a plan without the
    hash, if it still values the plan's exposure profile as the plan did (cell by cell, to
    1e-9). Else None."""
    inputs = doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}
    path = inputs.get("curves")
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    try:
        table = read_table(path, "curves")
        if inputs.get("campaigns") is not None:
            table = select_campaigns("check_actuals", table, inputs["campaigns"])[0]
        if isinstance(inputs.get("curves_hash"), str):
            return validate_curves(table) if curves_digest(table) == inputs["curves_hash"] \
                else None
        curves = validate_curves(table)
        valued = exposure_outcomes(curves, exposure)
    except (InputError, ParameterError, WorkspaceError, OSError, ValueError):
        return None
    ours = valued.groupby(CELL)[list(METRICS)].sum()
    theirs = alloc.groupby(CELL)[list(METRICS)].sum().reindex(ours.index)
    same = np.isclose(ours.to_numpy(float), theirs.to_numpy(float), rtol=1e-9, atol=1e-12)
    return curves if same.all() else None


def _at_position(curves: pd.DataFrame, positions: pd.DataFrame, rows: pd.DataFrame,
                 bought: pd.MultiIndex) -> tuple[pd.DataFrame, int]:
    """Each impression's forecast at its place k in its user's sequence of the campaign
    over all placements (time order): the cell's curve at k, the cell the user's segment at
    that placement gives (`rows`); past the curve's depth, its last position. Impressions
    outside the plan's cells are valued at 0. Returns `positions` with the forecasts added
    (``at_delivered_*``) and the users beyond a curve's depth.

    The plan values a user's N impressions at the mean of the curve over k = 1..N, what a
    random order gives on average; the order the ad server chose is known here."""
    grid = build_grid(curves)
    out = positions.merge(rows[[*USER_ROW, "segment"]], on=USER_ROW, how="left",
                          validate="many_to_one")
    key = pd.MultiIndex.from_frame(out[CELL])
    cell = pd.MultiIndex.from_frame(grid.cells[CELL]).get_indexer(key)
    cell[~key.isin(bought)] = -1
    valued = cell >= 0
    at = np.where(valued, cell, 0)
    k = out["k"].to_numpy()
    position = np.minimum(k, grid.depth[at]) - 1
    imps = out["impressions"].to_numpy(float)
    for m in METRICS:
        out[f"at_delivered_{m}"] = np.where(valued, imps * grid.metric(m)[at, position], 0.0)
    deep = out.loc[valued & (k > grid.depth[at]), ["campaign_id", "user_id"]]
    return out, len(deep.drop_duplicates())


def _at_plan_frequency(alloc: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's forecast at the plan's frequency: its cell's forecast per planned
    impression times the row's impressions (0 outside the plan's cells)."""
    planned = alloc.groupby(CELL)[["impressions", *METRICS]].sum()
    imps = planned["impressions"].to_numpy(float)
    per_imp = np.divide(planned[list(METRICS)].to_numpy(float), imps[:, None],
                        out=np.zeros((len(planned), len(METRICS))), where=imps[:, None] > 0)
    at = planned.index.get_indexer(pd.MultiIndex.from_frame(rows[CELL]))
    values = np.where(at[:, None] >= 0, per_imp[at], 0.0) \
        * rows["impressions"].to_numpy(float)[:, None]
    return pd.DataFrame(values, columns=list(METRICS), index=rows.index)


def _cells(alloc: pd.DataFrame, rows: pd.DataFrame, row_forecast: pd.DataFrame) -> pd.DataFrame:
    """Planned and delivered per cell, with the forecast at what was delivered (the rows'
    forecasts summed) and at the plan's frequency (``at_volume_*``: each cell's forecast per
    impression times its delivered impressions)."""
    planned = alloc.groupby(CELL, as_index=False)[["impressions", "spend", *METRICS]].sum()
    planned = planned.rename(columns={"impressions": "planned_impressions",
                                      "spend": "planned_spend"}
                             | {m: f"forecast_{m}" for m in METRICS})
    frame = rows.join(row_forecast.add_prefix("at_delivered_"))
    sums = [*VOLUME, *METRICS, *(f"at_delivered_{m}" for m in METRICS)]
    got = frame.groupby(CELL, as_index=False)[sums].sum()
    out = planned.merge(got, on=CELL, how="outer").fillna(0.0)
    planned_imps = out["planned_impressions"].to_numpy(float)
    per_imp = np.divide(1.0, planned_imps, out=np.zeros(len(out)), where=planned_imps > 0)
    for m in METRICS:
        out[f"at_volume_{m}"] = out[f"forecast_{m}"] * per_imp * out["impressions"]
    out["on_plan"] = out["planned_impressions"] > 0
    return out.sort_values(CELL).reset_index(drop=True)


_SUMS = ["planned_impressions", "planned_spend", "impressions", "spend",
         *(f"{p}_{m}" for m in METRICS for p in ("forecast", "at_volume", "at_delivered")),
         *METRICS]


def check_actuals(plan_folder: str | os.PathLike[str], workspace: str | os.PathLike[str]
                  | None = None, *, start: Any = None, end: Any = None,
                  min_segment_size: int = MIN_SEGMENT_SIZE) -> ActualsCard:
    """Weigh a written plan against its delivery's events in the warehouse.

    Parameters
    ----------
    plan_folder : path
        A plan written by ``adopt plan`` (plan.json, allocation.parquet,
        exposure.parquet).
    workspace : path, optional
        The workspace whose warehouse holds the delivery's events and the audiences
        (default: the one the plan folder sits in, ``<ws>/plans/<plan_id>``, else the
        plan's, plan.json ``inputs.workspace``).
    start, end : date or time, optional
        The delivery period [start, end) (`plan_window`: default the plan's period).
    min_segment_size : int
        Campaign x segment rows of smaller segments are merged into one row.

    Returns
    -------
    ActualsCard

    Raises
    ------
    WorkspaceError
        A missing plan file or warehouse table.
    InputError
        A plan file that is not what `adopt plan` writes.
    ParameterError
        A bad period or minimum size, or a period in which the plan's campaigns logged
        no impression.
    """
    if isinstance(min_segment_size, bool) or not isinstance(min_segment_size, int) \
            or min_segment_size < 0:
        raise ParameterError("The 'min_segment_size' parameter of check_actuals must be a "
                             f"non-negative integer. Got {min_segment_size!r} instead.")
    folder = Path(plan_folder)
    doc, alloc, exposure = _read_plan(folder)
    first, last = plan_window(doc, start, end)
    where = workspace if workspace is not None else _workspace_of(folder, doc)
    if not where:
        raise ParameterError("The 'workspace' parameter of check_actuals is needed: the plan "
                             "does not name its workspace.")
    ws = Workspace.of(where)
    campaigns = sorted(alloc.loc[alloc["impressions"] > 0, "campaign_id"].unique())
    if not campaigns:
        raise ParameterError(f"The plan in {folder} buys no impression: there is no "
                             "delivery to weigh it against.")
    period = _plan_period(doc, first, last)
    daily, positions, members, sizes, latest = _delivered(ws, campaigns, first, last,
                                                          period[0])
    if not daily["impressions"].sum():
        raise ParameterError(f"No impression of the plan's campaigns was logged from {first} "
                             f"to {last}: load the delivery's events with `adopt ingest` "
                             "(--mode append), or give the period it ran (start, end).")
    rows = daily.groupby(USER_ROW, as_index=False, sort=True)[[*VOLUME, *METRICS]].sum()
    bought = alloc.loc[alloc["impressions"] > 0, CELL].drop_duplicates()
    bought = pd.MultiIndex.from_frame(bought)
    rows = _one_segment(rows, members, bought)
    curves = _plan_curves(doc, alloc, exposure)
    if curves is not None:
        valued, deep = _at_position(curves, positions, rows, bought)
        forecasts = [f"at_delivered_{m}" for m in METRICS]
        row_forecast = valued.groupby(USER_ROW)[forecasts].sum().reindex(
            pd.MultiIndex.from_frame(rows[USER_ROW]), fill_value=0.0).set_axis(
            rows.index).set_axis(list(METRICS), axis=1)
        day_forecast = valued.groupby("day")[forecasts].sum().set_axis(list(METRICS), axis=1)
        by_k = _by_position(valued, int(build_grid(curves).K))
    else:
        deep, row_forecast = 0, _at_plan_frequency(alloc, rows)
        day_forecast = _spread_by_day(daily, rows, row_forecast)
        by_k = pd.DataFrame()
    cells = _cells(alloc, rows, row_forecast)
    metric = doc.get("objective", {}).get("name") if isinstance(doc.get("objective"), dict) \
        else None
    metric = metric if metric in METRICS else "conversions"

    served = rows.loc[rows["impressions"] > 0]
    per_campaign = cells.groupby("campaign_id", as_index=False)[_SUMS].sum()
    per_campaign["planned_reach"] = per_campaign["campaign_id"].map(
        _planned_reach(exposure)).fillna(0).to_numpy()
    per_campaign["reach"] = per_campaign["campaign_id"].map(
        served.groupby("campaign_id")["user_id"].nunique()).fillna(0).to_numpy()
    per_campaign["off_plan_impressions"] = per_campaign["campaign_id"].map(
        cells.loc[~cells["on_plan"]].groupby("campaign_id")["impressions"].sum()
    ).fillna(0).to_numpy()
    for m in ("clicks", "conversions"):  # how far beyond counting noise (Poisson)
        mean = per_campaign[f"at_delivered_{m}"].to_numpy(float)
        per_campaign[f"z_{m}"] = np.divide(per_campaign[m].to_numpy(float) - mean,
                                           np.sqrt(mean), out=np.full(len(mean), np.nan),
                                           where=mean > 0)
    forecast = per_campaign[f"at_delivered_{metric}"].to_numpy(float)
    per_campaign[f"ratio_{metric}"] = np.divide(
        per_campaign[metric].to_numpy(float), forecast, out=np.full(len(forecast), np.nan),
        where=forecast > 0)

    cap = _cap_across(doc)
    per_user = served.groupby(["campaign_id", "user_id"])["impressions"].sum()
    over_cap = int((per_user > cap).sum()) if cap is not None else 0

    # exactly rounded sums of the users' rows: the same actuals however users fall in segments
    noises = {m: _count_noise(cells, m) for m in METRICS}
    totals = {m: _total(doc, m, math.fsum(cells[f"at_delivered_{m}"]), math.fsum(rows[m]),
                        noises[m]) | {"at_volume": math.fsum(cells[f"at_volume_{m}"])}
              for m in METRICS}
    delivery = {"planned_impressions": float(alloc["impressions"].sum()),
                "impressions": float(cells["impressions"].sum()),
                "planned_spend": float(alloc["spend"].sum()), "spend": math.fsum(rows["spend"]),
                "planned_reach": float(per_campaign["planned_reach"].sum()),
                "reach": float(per_campaign["reach"].sum()),
                "off_plan_impressions": float(cells.loc[~cells["on_plan"], "impressions"].sum()),
                "users_over_cap": float(over_cap), "users_beyond_curves": float(deep)}
    days = _days(daily, day_forecast, first, last, delivery, period)
    elapsed = _elapsed(latest, period)
    running = first == period[0] and elapsed < RUNNING  # checked from the plan's start
    if running and delivery["impressions"] < delivery["planned_impressions"]:  # heading where
        for m in METRICS:
            totals[m] |= _projected(totals[m], noises[m])
    sizes |= {s: sizes.get(s, 0.0) for s in alloc["segment"].unique()}  # unknown: hidden
    sizes[NO_SEGMENT] = float(served.loc[served["segment"] == NO_SEGMENT, "user_id"].nunique())
    segments = cells.groupby(["campaign_id", "segment"], as_index=False)[_SUMS].sum()
    segments = suppress_frame(segments, Suppression.decide(sizes, min_segment_size))
    return ActualsCard(str(doc.get("plan_id") or folder.name), metric, first, last, totals,
                       delivery, per_campaign, segments.reset_index(drop=True),
                       _notes(delivery, cap, totals[metric], metric, curves is not None)
                       + (_pacing(delivery, latest, elapsed) if running else [])
                       + ([] if len(days) else [f"no table by day: the window runs past "
                                                f"{MAX_DAYS} days"]),
                       at_users_frequency=curves is not None, days=days, positions=by_k)


def _by_position(valued: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Per place k in the users' sequences (1..depth; the row at the curves' depth, marked
    ``and_after``, also every later one): the impressions, their forecast on the plan's
    curves, and the clicks, conversions and revenue that name them."""
    k = np.minimum(valued["k"].to_numpy(), depth)
    sums = ["impressions", *(f"at_delivered_{m}" for m in METRICS), *METRICS]
    out = valued[sums].groupby(k).sum().rename_axis("k").reset_index().astype({"k": int})
    out.insert(1, "and_after", out["k"] == depth)
    return out


def _spread_by_day(daily: pd.DataFrame, rows: pd.DataFrame,
                   row_forecast: pd.DataFrame) -> pd.DataFrame:
    """Per day, the rows' forecasts shared out evenly over their impressions."""
    imps = rows["impressions"].to_numpy(float)
    per_imp = row_forecast.to_numpy(float) / np.where(imps > 0, imps, np.inf)[:, None]
    looked = rows[USER_ROW].join(pd.DataFrame(per_imp, columns=list(METRICS), index=rows.index))
    logged = daily[[*USER_ROW, "day", "impressions"]].merge(
        looked, on=USER_ROW, how="left", validate="many_to_one")
    logged[list(METRICS)] = logged[list(METRICS)].fillna(0.0).mul(logged["impressions"], axis=0)
    return logged.groupby("day")[list(METRICS)].sum()


def _plan_period(doc: dict, first: pd.Timestamp,
                 last: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The plan's own period: from its period_start (else the card's start) to its end (its
    period_end or period_days), else to the card's end."""
    inputs = doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}
    spec = inputs.get("spec") if isinstance(inputs.get("spec"), dict) else {}
    planned = _day(spec.get("period_start"), "period_start", "plan.json")
    try:
        return plan_window(doc, None if planned is not None else first)
    except (ParameterError, InputError):
        return (planned, last) if planned is not None and planned < last else (first, last)


def _days(daily: pd.DataFrame, day_forecast: pd.DataFrame, first: pd.Timestamp,
          last: pd.Timestamp, delivery: dict[str, float],
          period: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    """Per day of the card's window (whole days from its start, the last one cut at its end;
    none past `MAX_DAYS`): the plan at even pacing (its impressions and spend in proportion
    to the day's overlap with the plan's `period`), what was delivered, and the forecast of
    that day's impressions."""
    one = pd.Timedelta(days=1)
    n = max(int(np.ceil((last - first) / one)), 1)
    if n > MAX_DAYS:
        return pd.DataFrame()
    got = daily.groupby("day")[[*VOLUME, *METRICS]].sum().join(
        day_forecast.add_prefix("at_delivered_"), how="outer").fillna(0.0)
    starts = pd.date_range(first, periods=n, freq="D")
    p0, p1 = period
    share = np.array([max(min(d + one, last, p1) - max(d, p0), pd.Timedelta(0)) / (p1 - p0)
                      for d in starts])
    out = pd.DataFrame({"day": starts,
                        "planned_impressions": share * delivery["planned_impressions"],
                        "planned_spend": share * delivery["planned_spend"]})
    return out.join(got.reindex(range(len(out)), fill_value=0.0).reset_index(drop=True))


def _elapsed(latest: pd.Timestamp, period: tuple[pd.Timestamp, pd.Timestamp]) -> float:
    """The share of the plan's period up to its last logged impression."""
    p0, p1 = period
    return float(np.clip((latest - p0) / (p1 - p0), 0.0, 1.0)) if pd.notna(latest) else 0.0


def _pacing(delivery: dict[str, float], latest: pd.Timestamp, elapsed: float) -> list[str]:
    """A note when, by the last logged impression, the delivery ran more than 10% off even
    pacing."""
    if delivery["planned_impressions"] <= 0 or elapsed <= 0:
        return []
    done = delivery["impressions"] / delivery["planned_impressions"]
    if abs(done / elapsed - 1) <= 0.1:
        return []
    side = "ahead of" if done > elapsed else "behind"
    return [f"pacing: by {latest:%Y-%m-%d %H:%M}, {done:.1%} of the planned impressions were "
            f"delivered in {elapsed:.1%} of the plan's period ({side} even pacing)"]


def _workspace_of(folder: Path, doc: dict) -> str | Path | None:
    """The workspace the plan folder sits in (``<ws>/plans/<plan_id>``), else the plan's."""
    enclosing = folder.resolve().parent.parent
    if folder.resolve().parent.name == "plans" and (enclosing / "warehouse.duckdb").is_file():
        return enclosing
    inputs = doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}
    return inputs.get("workspace") if isinstance(inputs.get("workspace"), str) else None


def _planned_reach(exposure: pd.DataFrame) -> pd.Series:
    """Users per campaign in the plan's exposure profile (a user counts once over placements)."""
    ex = exposure.astype({"campaign_id": str, "segment": str})
    users = ex.groupby(["campaign_id", "segment", "frequency"])["users"].first()
    return users.groupby(level="campaign_id").sum()


def _cap_across(doc: dict) -> float | None:
    """The plan's cap on a user's impressions of a campaign over all placements, if any."""
    inputs = doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}
    if not isinstance(inputs.get("spec"), dict):
        return None
    caps = [c.cap for c in parse_spec(inputs["spec"], source="plan.json").constraints
            if isinstance(c, FrequencyCap) and c.across_placements]
    return float(min(caps)) if caps else None


def _count_noise(cells: pd.DataFrame, metric: str) -> float:
    """The log-variance the logged counts add to a forecast of `metric` at the delivered
    volume: Poisson, 1 / count for clicks and conversions; for revenue, conversions at each
    cell's order value (compound Poisson), sum of revenue^2 / conversions over the cells,
    over the total squared (0 where nothing is expected)."""
    if metric != "revenue":
        count = float(cells[f"at_delivered_{metric}"].sum())
        return 1.0 / count if count > 0 else 0.0
    rev = cells["at_delivered_revenue"].to_numpy(float)
    conv = cells["at_delivered_conversions"].to_numpy(float)
    total = rev.sum()
    if total <= 0:
        return 0.0
    per = np.divide(rev ** 2, conv, out=np.zeros(len(rev)), where=conv > 0)
    return float(per.sum() / total ** 2)


def _total(doc: dict, metric: str, at_delivered: float, actual: float,
           noise: float) -> dict[str, Any]:
    """The forecast of one metric as planned, at the delivered volume and against the actual.

    The interval is scaled by the delivered volume's share of the point forecast (the
    plan's interval describes its response, not the ad server's shortfall), then widened
    by the log-variance `noise` the logged counts add (`_count_noise`), which the plan's
    interval of an expected value leaves out: ``lo_logged``, ``hi_logged``, ``inside``
    and ``z`` read the actual against that (z is None for an actual of 0, ``inside``
    still says).
    """
    forecast = doc.get("forecast") if isinstance(doc.get("forecast"), dict) else {}
    fc = forecast.get(metric) if isinstance(forecast.get(metric), dict) else {}
    totals = doc.get("totals") if isinstance(doc.get("totals"), dict) else {}
    point = _number(fc.get("point", totals.get(metric))) or 0.0
    out: dict[str, Any] = {"point": point, "at_delivered": at_delivered, "actual": actual,
                           "ratio": actual / at_delivered if at_delivered > 0 else None}
    lo, hi, level = _number(fc.get("lo")), _number(fc.get("hi")), _number(forecast.get("level"))
    if lo is not None and hi is not None and level and 0 < level < 1 and 0 < lo < hi \
            and point > 0 and at_delivered > 0:
        scale = at_delivered / point
        out.update(lo=lo, hi=hi, level=level, lo_at_delivered=lo * scale,
                   hi_at_delivered=hi * scale)
        out["lo_logged"], out["hi_logged"] = widened(
            at_delivered, out["lo_at_delivered"], out["hi_at_delivered"], level, noise)
        out["inside"] = bool(out["lo_logged"] <= actual <= out["hi_logged"])
        out["z"] = interval_z(at_delivered, out["lo_at_delivered"], out["hi_at_delivered"],
                              actual, level, extra_log_var=noise)
    return out


def _projected(total: dict[str, Any], noise: float) -> dict[str, float]:
    """The metric by the period's end, were the rest of the plan delivered as planned: what
    was logged so far plus the rest of the forecast (point - at_delivered), its level
    updated by what was logged (empty when less than half a count remains or the plan has
    no interval).

    The update is normal on the log scale: the plan's interval gives the prior of the
    log-ratio r of actual to forecast (its mean -var/2, so that r's mean is 1: the point is
    a mean), the log of (actual + h) / (at_delivered + h) observes it with the counts'
    log-variance `noise` (h: half a count). The band is log-normal with the rest's mean and
    variance: r's, and the rest's own counting noise (Poisson in counts of one click or
    conversion, or of a conversion's mean order value for revenue)."""
    unit = total["at_delivered"] * noise  # one click or conversion (its value for revenue)
    rest = total["point"] - total["at_delivered"]
    if "lo" not in total or noise <= 0 or rest < unit / 2:
        return {}
    z = NormalDist().inv_cdf(0.5 + total["level"] / 2.0)
    prior = (np.log(total["hi"] / total["lo"]) / (2.0 * z)) ** 2
    seen = float(np.log((total["actual"] + unit / 2) / (total["at_delivered"] + unit / 2)))
    var = 1.0 / (1.0 / prior + 1.0 / noise)
    ratio = float(np.exp(var * (-0.5 + seen / noise) + var / 2.0))  # r's posterior mean
    expected = rest * ratio
    log_var = float(np.log1p(np.expm1(var) + unit / expected))
    centre = np.log(expected) - log_var / 2.0
    spread = z * np.sqrt(log_var)
    return {"projected": total["actual"] + expected,
            "lo_projected": total["actual"] + float(np.exp(centre - spread)),
            "hi_projected": total["actual"] + float(np.exp(centre + spread))}


def _notes(delivery: dict[str, float], cap: float | None, total: dict[str, Any], metric: str,
           at_frequency: bool) -> list[str]:
    notes = []
    if not at_frequency:
        notes.append("the curves file the plan was made from is missing or changed since "
                     "(its rows no longer hash to the plan's curves_hash): the forecast at "
                     "the delivered volume keeps the plan's frequency per user")
    elif total["at_volume"] > 0 and abs(total["at_delivered"] / total["at_volume"] - 1) > 0.02:
        notes.append(f"at the frequency users got, the {metric} forecast is "
                     f"{total['at_delivered'] / total['at_volume']:.1%} of its value at the "
                     "plan's frequency per user")
    if delivery["users_beyond_curves"] > 0:
        notes.append(f"{delivery['users_beyond_curves']:,.0f} users saw a campaign more often "
                     "than its curves reach: each impression past a curve's last position is "
                     "valued as that position")
    share = delivery["impressions"] / delivery["planned_impressions"] \
        if delivery["planned_impressions"] > 0 else float("nan")
    if np.isfinite(share) and abs(share - 1.0) > 0.05:
        notes.append(f"the ad server delivered {share:.1%} of the planned impressions: read "
                     "the forecast at the delivered volume")
    if delivery["off_plan_impressions"] > 0:
        notes.append(f"{delivery['off_plan_impressions']:,.0f} impressions went to cells the "
                     "plan did not buy (other segments, users outside the audiences or other "
                     "placements); the forecast values them at 0")
    if delivery["users_over_cap"] > 0:
        notes.append(f"{delivery['users_over_cap']:,.0f} users saw a campaign more often than "
                     f"the plan's cap of {cap:g} across placements")
    return notes
