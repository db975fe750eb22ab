"""`check_actuals`: a written plan weighed against its delivery's events (see the package)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from adopt.actuals.card import (
    CELL,
    MAX_DAYS,
    METRICS,
    NO_SEGMENT,
    USER_ROW,
    VOLUME,
    ActualsCard,
)
from adopt.actuals.logged import delivered, one_segment
from adopt.actuals.valuing import (
    SUMS,
    cell_table,
    count_noise,
    day_table,
    delivered_forecast,
    plan_curves,
)
from adopt.actuals.window import (
    plan_inputs,
    plan_period,
    plan_spec,
    plan_window,
    read_number,
)
from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.optimize import parse_spec
from adopt.optimize.forecast import interval_z, widened
from adopt.optimize.spec import FrequencyCap
from adopt.report.data import read_allocation, read_plan_json
from adopt.report.privacy import MIN_SEGMENT_SIZE, Suppression, suppress_frame
from adopt.workspace import Workspace

RUNNING = 0.99  # a plan is still running until its last impression falls this far in


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
    buys = alloc.loc[alloc["impressions"] > 0]
    campaigns = sorted(buys["campaign_id"].unique())
    if not campaigns:
        raise ParameterError(f"The plan in {folder} buys no impression: there is no "
                             "delivery to weigh it against.")
    period = plan_period(doc, first, last)
    daily, positions, members, sizes, latest = delivered(ws, campaigns, first, last,
                                                          period[0])
    if not daily["impressions"].sum():
        raise ParameterError(f"No impression of the plan's campaigns was logged from {first} "
                             f"to {last}: load the delivery's events with `adopt ingest` "
                             "(--mode append), or give the period it ran (start, end).")
    rows = daily.groupby(USER_ROW, as_index=False, sort=True)[[*VOLUME, *METRICS]].sum()
    bought = pd.MultiIndex.from_frame(buys[CELL].drop_duplicates())
    rows = one_segment(rows, members, bought)
    grid = plan_curves(doc, alloc, exposure)
    row_forecast, day_forecast, by_k, deep = delivered_forecast(grid, alloc, rows, positions,
                                                                daily, bought)
    cells = cell_table(alloc, rows, row_forecast)
    metric = doc.get("objective", {}).get("name") if isinstance(doc.get("objective"), dict) \
        else None
    metric = metric if metric in METRICS else "conversions"

    served = rows.loc[rows["impressions"] > 0]
    per_campaign = cells.groupby("campaign_id", as_index=False)[SUMS].sum()
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
    noises = {m: count_noise(cells, m) for m in METRICS}
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
    days = day_table(daily, day_forecast, first, last, delivery, period)
    elapsed = _elapsed(latest, period)
    running = first == period[0] and elapsed < RUNNING  # checked from the plan's start
    if running and delivery["impressions"] < delivery["planned_impressions"]:  # heading where
        for m in METRICS:
            totals[m] |= _projected(totals[m], noises[m])
    sizes |= {s: sizes.get(s, 0.0) for s in alloc["segment"].unique()}  # unknown: hidden
    sizes[NO_SEGMENT] = float(served.loc[served["segment"] == NO_SEGMENT, "user_id"].nunique())
    segments = cells.groupby(["campaign_id", "segment"], as_index=False)[SUMS].sum()
    segments = suppress_frame(segments, Suppression.decide(sizes, min_segment_size))
    return ActualsCard(str(doc.get("plan_id") or folder.name), metric, first, last, totals,
                       delivery, per_campaign, segments.reset_index(drop=True),
                       _notes(delivery, cap, totals[metric], metric, grid is not None)
                       + (_pacing(delivery, latest, elapsed) if running else [])
                       + ([] if len(days) else [f"no table by day: the window runs past "
                                                f"{MAX_DAYS} days"]),
                       at_users_frequency=grid is not None, days=days, positions=by_k)


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


def _workspace_of(folder: Path, doc: dict) -> str | Path | None:
    """The workspace the plan folder sits in (``<ws>/plans/<plan_id>``), else the plan's."""
    enclosing = folder.resolve().parent.parent
    if folder.resolve().parent.name == "plans" and (enclosing / "warehouse.duckdb").is_file():
        return enclosing
    named = plan_inputs(doc).get("workspace")
    return named if isinstance(named, str) else None


def _planned_reach(exposure: pd.DataFrame) -> pd.Series:
    """Users per campaign in the plan's exposure profile (a user counts once over placements)."""
    ex = exposure.astype({"campaign_id": str, "segment": str})
    users = ex.groupby(["campaign_id", "segment", "frequency"])["users"].first()
    return users.groupby(level="campaign_id").sum()


def _cap_across(doc: dict) -> float | None:
    """The plan's cap on a user's impressions of a campaign over all placements, if any."""
    spec = plan_spec(doc)
    if spec is None:
        return None
    caps = [c.cap for c in parse_spec(spec, source="plan.json").constraints
            if isinstance(c, FrequencyCap) and c.across_placements]
    return float(min(caps)) if caps else None


def _total(doc: dict, metric: str, at_delivered: float, actual: float,
           noise: float) -> dict[str, Any]:
    """The forecast of one metric as planned, at the delivered volume and against the actual.

    The interval is scaled by the delivered volume's share of the point forecast (the
    plan's interval describes its response, not the ad server's shortfall), then widened
    by the log-variance `noise` the logged counts add (`count_noise`), which the plan's
    interval of an expected value leaves out: ``lo_logged``, ``hi_logged``, ``inside``
    and ``z`` read the actual against that (z is None for an actual of 0, ``inside``
    still says).
    """
    forecast = doc.get("forecast") if isinstance(doc.get("forecast"), dict) else {}
    fc = forecast.get(metric) if isinstance(forecast.get(metric), dict) else {}
    totals = doc.get("totals") if isinstance(doc.get("totals"), dict) else {}
    point = read_number(fc.get("point", totals.get(metric))) or 0.0
    out: dict[str, Any] = {"point": point, "at_delivered": at_delivered, "actual": actual,
                           "ratio": actual / at_delivered if at_delivered > 0 else None}
    lo, hi = read_number(fc.get("lo")), read_number(fc.get("hi"))
    level = read_number(forecast.get("level"))
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


def _elapsed(latest: pd.Timestamp, period: tuple[pd.Timestamp, pd.Timestamp]) -> float:
    """The share of the plan's period up to its last logged impression."""
    p0, p1 = period
    return float(np.clip((latest - p0) / (p1 - p0), 0.0, 1.0)) if pd.notna(latest) else 0.0
