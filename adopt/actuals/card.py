"""What `check_actuals` returns: `ActualsCard`, its printout and actuals.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adopt.workspace import atomic_path

METRICS = ("clicks", "conversions", "revenue")
VOLUME = ("impressions", "spend")
NO_SEGMENT = "(no segment)"  # users of the delivery the audiences do not hold
FILE = "actuals.json"
CELL = ["campaign_id", "segment", "placement_id"]
USER_ROW = ["campaign_id", "placement_id", "user_id"]
MAX_DAYS = 366  # the longest window with a table by day


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
