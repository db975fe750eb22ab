"""Report sections about the plan itself: at a glance, against delivery, allocation, frequency
and reach, frontier.

Data flow: `ReportData` (already suppressed) -> HTML fragments that
`adopt.report.build` puts into the page template. Each function returns a
`Section`; a missing optional input gives a "not available" line (`delivery` returns
None before the plan's delivery was checked: nothing is missing then).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adopt.report.charts import bar_chart, heatmap, line_chart
from adopt.report.data import ReportData
from adopt.report.fmt import Raw, esc, frame_rows, num, pct, ratio, table
from adopt.report.privacy import OTHER
from adopt.report.words import step_for

KPIS = ("spend", "impressions", "reach", "clicks", "conversions", "revenue")


@dataclass(frozen=True)
class Section:
    """One titled part of the report; `body` is safe HTML."""

    id: str
    title: str
    body: str


def unavailable(reason: str) -> str:
    """The line a section shows when its input is missing."""
    return f'<p class="na">Not available: {esc(reason)}.</p>'


def kpis(totals: dict) -> dict[str, float | None]:
    """Totals plus CPA (spend per conversion), CPC and ROAS (revenue per spend)."""
    out = {k: (None if totals.get(k) is None else float(totals[k])) for k in KPIS}
    out["cpa"] = ratio(out["spend"], out["conversions"])
    out["cpc"] = ratio(out["spend"], out["clicks"])
    out["roas"] = ratio(out["revenue"], out["spend"])
    return out


def glance(data: ReportData) -> Section:
    """Budget, expected outcomes, CPA/ROAS, and the plan against its baselines."""
    plan = data.plan
    k = kpis(plan.get("totals", {}))
    cert = plan.get("certificate") or {}
    cards = [("budget", num(data.budget)), ("planned spend", num(k["spend"])),
             ("impressions", num(k["impressions"])), ("reach (users)", num(k["reach"])),
             ("expected clicks", num(k["clicks"])),
             ("expected conversions", num(k["conversions"])),
             ("expected revenue", num(k["revenue"])), ("CPA", num(k["cpa"])),
             ("ROAS", num(k["roas"]))]
    html = ['<div class="cards">']
    html += [f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(n)}</div>'
             f"</div>" for n, v in cards]
    html.append("</div>")
    html.append(_forecast_words(plan.get("forecast") or {}, data.metric))
    objective = plan.get("objective") or {}
    verdict = "certified optimal" if cert.get("certified") else "not certified"
    caveat = aggregates_caveat(plan.get("aggregates") or {}, data.metric)
    html.append(f"<p>Objective: {esc(objective.get('sense', 'max'))}imise "
                f"<b>{esc(objective.get('name', data.metric))}</b> = "
                f"{esc(num(objective.get('value')))}; status {esc(plan.get('status'))}, "
                f"{esc(verdict)} (duality gap {esc(num(cert.get('gap')))})"
                f"{esc(caveat and ' on its curves; ' + caveat)}.</p>")
    html.append(_aggregates_words(plan.get("aggregates") or {}))
    baselines = plan.get("baselines")
    if not baselines:
        html.append(unavailable("baselines (uniform and historical allocations at the same "
                                "budget) are not in plan.json"))
    else:
        html.append(_baseline_table(k, baselines, data.metric, caveat))
        for name in ("uniform", "historical"):
            if name not in baselines:
                html.append(unavailable(f"the {name} baseline (not in plan.json)"))
    return Section("glance", "Plan at a glance", "".join(html))


def delivery(data: ReportData) -> Section | None:
    """The forecast against what the delivery logged (actuals.json), per campaign."""
    if data.actuals is None:
        if "actuals" in data.missing:
            return Section("delivery", "Forecast against delivery",
                           unavailable(data.missing["actuals"]))
        return None
    doc = data.actuals
    metric = doc.get("metric") if doc.get("metric") in ("clicks", "conversions", "revenue") \
        else data.metric
    d, t = doc["delivery"], doc["totals"].get(metric) or {}
    html = [f"<p>Delivered from {esc(doc.get('start'))} to {esc(doc.get('end'))}: "
            f"{esc(num(d.get('impressions')))} impressions of "
            f"{esc(num(d.get('planned_impressions')))} planned, spend {esc(num(d.get('spend')))}"
            f" of {esc(num(d.get('planned_spend')))}, "
            f"reach {esc(num(d.get('reach')))} of {esc(num(d.get('planned_reach')))}.</p>"]
    band = ""
    if isinstance(t.get("inside"), bool):
        where = "inside" if t["inside"] else "outside"
        sds = _real(t.get("z"))
        z = "" if sds is None else f", {esc(f'{sds:+.2f}')} of its standard deviations"
        band = (f", {where} the interval there widened by the counts' own noise "
                f"({esc(num(t.get('lo_logged')))} to {esc(num(t.get('hi_logged')))}{z})")
    at = (f"{esc(num(t.get('at_delivered')))} at the volume and frequency delivered (each "
          f"impression on the plan's curves at its place k in its user's sequence; "
          f"{esc(num(t.get('at_volume')))} at the plan's frequency)"
          if doc.get("at_users_frequency") is True else
          f"{esc(num(t.get('at_delivered')))} at the volume delivered (each cell's forecast "
          "per impression times the impressions it got)")
    html.append(f"<p>{esc(metric)}: forecast {esc(num(t.get('point')))} as planned, {at}; "
                f"the delivery logged <b>{esc(num(t.get('actual')))}</b>, "
                f"{esc(num(t.get('ratio')))} of the forecast{band}.</p>")
    if _real(t.get("projected")) is not None:
        lo, hi = esc(num(t.get("lo_projected"))), esc(num(t.get("hi_projected")))
        html.append(f"<p>The plan still runs. By the period's end, were the rest delivered as "
                    f"planned: <b>{esc(num(t.get('projected')))}</b> ({lo} to {hi}), the "
                    "forecast's level updated by what was logged so far.</p>")
    counted = metric if metric in ("clicks", "conversions") else "conversions"
    rows = [[r.get("campaign_id"), *(_real(r.get(c)) for c in (
                "planned_impressions", "impressions", f"at_delivered_{metric}", metric)),
             ratio(_real(r.get(metric)), _real(r.get(f"at_delivered_{metric}"))),
             _real(r.get(f"z_{counted}"))] for r in doc["campaigns"]]
    if rows:
        html.append(table(rows, ["campaign", "planned impressions", "delivered impressions",
                                 f"forecast {metric} as delivered", f"actual {metric}",
                                 "actual / forecast", f"{counted}: sds of counting noise"],
                          [False, True, True, True, True, True, True]))
    html += _by_day(_records(doc, "days"), metric) + _by_place(_records(doc, "positions"), counted)
    html += [f'<p class="na">{esc(n)}</p>' for n in doc["notes"]]
    return Section("delivery", "Forecast against delivery", "".join(html))


def _records(doc: dict, key: str) -> list[dict]:
    """The rows of an optional table in an actuals.json someone may have edited."""
    rows = doc.get(key)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _by_day(days: list[dict], metric: str) -> list[str]:
    if not days:
        return []
    rows = [[str(d.get("day")).replace("T00:00:00", "").replace("T", " "),
             *(_real(d.get(c)) for c in ("planned_impressions", "impressions",
                                         f"at_delivered_{metric}", metric))] for d in days]
    return [f"<p>By day (planned at even pacing; the forecast of the day's impressions; "
            f"{esc(metric)} on their impression's day):</p>",
            table(rows, ["day", "planned impressions", "delivered impressions",
                         f"forecast {metric}", f"actual {metric}"],
                  [False, True, True, True, True])]


def _by_place(places: list[dict], counted: str) -> list[str]:
    if not places:
        return []
    rows = [[f"{d.get('k')} and after" if d.get("and_after") is True else d.get("k"),
             *(_real(d.get(c)) for c in ("impressions", f"at_delivered_{counted}", counted)),
             ratio(_real(d.get(counted)), _real(d.get(f"at_delivered_{counted}")))]
            for d in places]
    return [f"<p>By the place k of an impression in its user's sequence of the campaign over "
            f"all placements (the fall with k the plan assumed; {esc(counted)} that name "
            "their impression):</p>",
            table(rows, ["k", "impressions", f"forecast {counted}", f"actual {counted}",
                         "actual / forecast"], [False, True, True, True, True])]


def _real(value: object) -> float | None:
    """A number read from a file someone may have edited: a finite float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        return None
    return float(value)


def _forecast_words(forecast: dict, metric: str) -> str:
    """The forecast's interval and what it covers, in one paragraph."""
    shown = metric if metric in ("clicks", "conversions", "revenue") else "clicks"
    entry = forecast.get(shown) or {}
    if "lo" not in entry:
        return unavailable(f"an interval for the forecast ({forecast.get('basis', 'none')})")
    level = forecast.get("level") or 0.95
    return (f"<p>Forecast {esc(shown)}: {esc(num(entry.get('point')))}, "
            f"{esc(f'{level:.0%}')} interval {esc(num(entry['lo']))} to {esc(num(entry['hi']))} "
            f"({esc(forecast.get('basis', ''))}). The forecast assumes random-order delivery: "
            f"a user's impressions of a campaign come in any order over the placements, and "
            f"each counts at the user's own k.</p>")


def aggregates_caveat(aggregates: dict, metric: str) -> str:
    """Fit quality and spend beyond observed in a clause, for curves fitted to aggregates."""
    if not aggregates:
        return ""
    quality = aggregates.get("fit_quality") or {}
    r2 = (quality.get("r2") or {}).get(metric if metric in ("clicks", "conversions", "revenue")
                                       else "clicks") or {}
    shown = "n/a" if r2.get("median") is None else f"{r2['median']:.2f}"
    beyond = (aggregates.get("beyond_observed") or {}).get("share")
    share = "n/a" if beyond is None else f"{beyond:.0%}"
    return (f"curves fitted to aggregates, {metric} r2 median {shown} ({r2.get('poor', 0)} of "
            f"{quality.get('cells', 0)} cells below 0.5), {share} of the spend beyond the "
            "largest spend observed per cell")


def _aggregates_words(aggregates: dict) -> str:
    """The fit quality, the guard rail and the historical check, in one paragraph."""
    if not aggregates:
        return ""
    check = (aggregates.get("historical_check") or {}).get("text", "")
    multiple = aggregates.get("max_spend_multiple")
    rail = (f"no cell spends more than {multiple:g}x the largest spend observed for it"
            if multiple else "off: cells may spend any multiple of what was observed")
    against = (aggregates.get("plan_against_history") or {}).get("text", "")
    return (f"<p>{esc(aggregates.get('text', ''))}. Guard rail: {esc(rail)}. "
            f"Historical check: {esc(check)}." + (f" This plan: {esc(against)}." if against
                                                  else "") + "</p>")


def _baseline_table(k: dict, baselines: dict, metric: str, caveat: str = "") -> str:
    names = ["plan"] + [str(n) for n in baselines]
    rows_k = [k] + [kpis(t or {}) for t in baselines.values()]
    rows = []
    for field in (*KPIS, "cpa", "roas"):
        label = field.upper() if field in ("cpa", "roas") else field
        rows.append([label] + [r[field] for r in rows_k])
    lift = []
    for name, r in zip(names[1:], rows_k[1:], strict=True):
        base, ours = r.get(metric), k.get(metric)
        change = ratio(ours, base)
        lift.append(f"{metric}: plan {pct(None if change is None else change - 1, True)} "
                    f"against {name}")
    header = ["", *[f"{n} allocation" if n != "plan" else "this plan" for n in names]]
    same = f"same budget; {caveat}" if caveat else "same budget"
    return (table(rows, header, numeric=[False] + [True] * len(names))
            + f"<p>{esc('; '.join(lift))} ({esc(same)}).</p>")


def allocation(data: ReportData) -> Section:
    """Spend by segment x placement (heatmap and table), campaigns and creatives."""
    a = data.allocation
    by = a.groupby(["segment", "placement_id"], sort=True)[
        ["spend", "impressions", "reach", "clicks", "conversions", "revenue"]].sum()
    pivot = by["spend"].unstack("placement_id")
    pivot = pivot.loc[sorted(pivot.index, key=lambda s: (s == OTHER, str(s)))]
    html = [heatmap([str(s) for s in pivot.index], [str(c) for c in pivot.columns],
                    pivot.to_numpy(float), title="Spend by segment x placement", unit="spend")]
    cells = by.reset_index()
    cells["cpa"] = np.divide(cells["spend"], cells["conversions"],
                             out=np.full(len(cells), np.nan),
                             where=cells["conversions"].to_numpy() > 0)
    cols = ["segment", "placement_id", "spend", "impressions", "reach", "clicks",
            "conversions", "revenue", "cpa"]
    html.append('<details><summary>Allocation table: segment x placement '
                f"({len(cells)} cells)</summary>"
                + table(frame_rows(cells, cols), [
                    "segment", "placement", "spend", "impressions", "reach", "clicks",
                    "conversions", "revenue", "CPA"], numeric=[False] * 2 + [True] * 7)
                + "</details>")
    camp = a.groupby("campaign_id", sort=True)[["spend", "impressions", "clicks",
                                                "conversions", "revenue"]].sum().reset_index()
    camp["cpa"] = [ratio(s, c) for s, c in zip(camp["spend"], camp["conversions"], strict=True)]
    camp["roas"] = [ratio(r, s) for r, s in zip(camp["revenue"], camp["spend"], strict=True)]
    cols = ["campaign_id", "spend", "impressions", "clicks", "conversions", "revenue", "cpa",
            "roas"]
    html.append("<h3>By campaign</h3>" + table(frame_rows(camp, cols), [
        "campaign", "spend", "impressions", "clicks", "conversions", "revenue", "CPA", "ROAS"],
        numeric=[False] + [True] * 7))
    html.append("<h3>Creatives used</h3>" + _creatives(data))
    return Section("allocation", "Allocation by segment x placement", "".join(html))


def _creatives(data: ReportData) -> str:
    a = data.allocation
    if "ad_id" not in a:
        return unavailable("the allocation names no creative (no ad_id column)")
    used = a.groupby(["campaign_id", "ad_id"], sort=True)[["spend", "conversions"]].sum()
    used = used.reset_index()
    if data.ads is None:
        note = unavailable(f"creative texts ({data.missing.get('ads', 'no ads table')})")
        return note + table(frame_rows(used, ["campaign_id", "ad_id", "spend", "conversions"]),
                            ["campaign", "ad", "spend", "conversions"])
    ads = data.ads.drop(columns=["campaign_id"], errors="ignore")
    used = used.merge(ads, on="ad_id", how="left")
    cols = ["campaign_id", "ad_id", "title", "description", "spend", "conversions"]
    return table(frame_rows(used, cols), ["campaign", "ad", "title", "description", "spend",
                                          "conversions"],
                 numeric=[False] * 4 + [True] * 2)


def frequency(data: ReportData) -> Section:
    """Frequency caps and reach, per placement and by cap."""
    a = data.allocation
    per = a.groupby("placement_id", sort=True).agg(
        reach=("reach", "sum"), impressions=("impressions", "sum"),
        max_cap=("frequency_cap", "max"), cells=("segment", "size")).reset_index()
    per["avg_frequency"] = per["impressions"] / per["reach"].where(per["reach"] > 0)
    html = [bar_chart(per["placement_id"].tolist(), per["reach"].tolist(),
                      title="Users reached per placement", unit="users")]
    cols = ["placement_id", "reach", "impressions", "avg_frequency", "max_cap", "cells"]
    html.append(table(frame_rows(per, cols), ["placement", "reach (users)", "impressions",
                                              "impressions per reached user",
                                              "highest frequency cap", "cells"]))
    caps = a.groupby("frequency_cap", sort=True).agg(
        cells=("segment", "size"), reach=("reach", "sum"), spend=("spend", "sum")).reset_index()
    html.append("<h3>Cells by frequency cap</h3>"
                "<p>The cap of a cell is the most impressions one user receives there.</p>"
                + table(frame_rows(caps, ["frequency_cap", "cells", "reach", "spend"]),
                        ["frequency cap", "cells", "reach (users)", "spend"]))
    html.append(_exposure(data))
    reach = data.plan.get("totals", {}).get("reach")
    html.append(f"<p>Reach (users of each campaign x segment who get at least one impression "
                f"of the campaign, at any placement): {esc(num(reach))}.</p>")
    return Section("frequency", "Frequency caps and reach", "".join(html))


def _exposure(data: ReportData) -> str:
    """Users by the number of impressions of a campaign they get over all placements."""
    e = data.exposure
    if e is None:
        return unavailable(f"the exposure profile ({data.missing.get('exposure', 'none')})")
    rows = e.sort_values("frequency")
    return ("<h3>Users by impressions of a campaign, over all placements</h3>"
            "<p>What the ad server delivers: these users get exactly this many impressions of "
            "the campaign in all (summed over every campaign x segment); the frequency caps "
            "above bound each placement's share of them.</p>"
            + table(frame_rows(rows, ["frequency", "users", "impressions"]),
                    ["impressions per user", "users", "impressions"]))


def frontier(data: ReportData) -> Section:
    """The optimal objective over budgets, with the chosen budget marked."""
    f = data.frontier
    if f is None or f.empty or not {"budget", "objective"} <= set(f.columns):
        reason = data.missing.get("frontier", "frontier.parquet lacks budget/objective")
        return Section("frontier", "Budget frontier", unavailable(reason))
    f = f.sort_values("budget")
    marginal = next((c for c in ("marginal", "marginal_value") if c in f), None)
    objective = data.plan.get("objective") or {}
    chosen = data.budget
    label = f"chosen budget {num(chosen)}" if chosen is not None else ""
    html = [line_chart(f["budget"].tolist(), f["objective"].tolist(),
                       title="Budget frontier", x_label="budget",
                       y_label=f"optimal {data.metric}", mark_x=chosen,
                       mark_y=objective.get("value"), mark_label=label)]
    cols = ["budget", "objective"] + ([marginal] if marginal else [])
    header = ["budget", f"optimal {data.metric}"] + (
        [f"{data.metric} per extra unit of budget"] if marginal else [])
    html.append(table(frame_rows(f, cols), header))
    if marginal:
        html.append(_frontier_words(f, marginal, chosen, data.metric))
    return Section("frontier", "Budget frontier", "".join(html))


def _frontier_words(f: pd.DataFrame, marginal: str, chosen: float | None, metric: str) -> str:
    if chosen is None:
        return ""
    near = f.iloc[int(np.argmin(np.abs(f["budget"].to_numpy(float) - chosen)))]
    step = step_for(chosen)
    return Raw(f"<p>Near the chosen budget ({esc(num(chosen))}), {esc(num(step))} more budget "
               f"buys about {esc(num(float(near[marginal]) * step))} {esc(metric)}; the "
               f"marginal value never rises with the budget (diminishing returns).</p>")
