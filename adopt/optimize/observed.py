"""What curves fitted to aggregates know about the past, and how far a plan leaves it.

Data flow: curves from `adopt.optimize.fit_curves` carry, per cell,
``observed_spend`` (the largest spend a period saw), ``historical_*`` (the
historical period's spend, impressions and outcomes), ``base_*`` and
``r2_*``. `adopt.optimize.lp` bounds each cell's spend by
``max_spend_multiple`` x observed_spend (the guard rail);
`adopt.plan.make_plan` calls `aggregates_summary` for
plan.json's ``aggregates`` block and `historical_totals` for the historical
baseline, and the report quotes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adopt.optimize.curves import METRICS
from adopt.optimize.result import TOTALS

CELL = ["campaign_id", "segment", "placement_id"]
POOR_FIT = 0.5


def has_history(curves: pd.DataFrame) -> bool:
    """True when the curves carry the observed and historical columns of fitted aggregates."""
    return {"observed_spend", "historical_spend", "historical_impressions"} <= set(curves.columns)


def cell_table(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the per-cell columns, and the curves' positions as arrays."""
    first = curves.sort_values([*CELL, "k"], kind="stable").groupby(CELL, sort=True)
    out = first.first().reset_index()
    for m in ("cost_per_impression", *METRICS):
        out[f"curve_{m}"] = first[m].apply(lambda s: s.to_numpy(float)).to_numpy()
    return out


def forecast_at(cells: pd.DataFrame, impressions: np.ndarray) -> dict[str, float]:
    """Totals when each cell gets `impressions`, spread evenly over its users.

    A cell with U users and I impressions has I/U per user: the curve's
    cumulative value, interpolated between whole positions (users split
    between the two frequencies around I/U), capped at the curve's depth.
    """
    out = dict.fromkeys(TOTALS, 0.0)
    for row, imps in zip(cells.itertuples(index=False), np.asarray(impressions, float),
                         strict=True):
        users = float(row.users)
        if users <= 0 or imps <= 0:
            continue
        depth = len(row.curve_clicks)
        f = min(imps / users, float(depth))
        lo = int(np.floor(f))
        out["impressions"] += f * users
        out["reach"] += users * min(f, 1.0)
        for name in ("cost_per_impression", *METRICS):
            v = np.asarray(getattr(row, f"curve_{name}"), float)
            # random order: a user with N impressions is worth N x the mean of k = 1..N
            cum = np.concatenate([[0.0], np.cumsum(v)])
            at = cum[lo] + (f - lo) * (v[lo] if lo < depth else 0.0)
            out["spend" if name == "cost_per_impression" else name] += at * users
    return {name: float(value) for name, value in out.items()}


def historical_totals(curves: pd.DataFrame, budget: float | None = None) -> dict[str, float]:
    """Forecast totals of the historical allocation (scaled to `budget` when given).

    Outcomes are what spend buys on the curves, without the base, like the
    plan's totals; None of a cell's impressions goes beyond its curve depth.
    """
    cells = cell_table(curves)
    imps = cells["historical_impressions"].to_numpy(float).copy()
    if budget is not None:
        spend = float((cells["historical_spend"]).sum())
        imps *= budget / spend if spend > 0 else 0.0
    return forecast_at(cells, imps)


def historical_check(curves: pd.DataFrame) -> dict:
    """The curves fed the historical allocation against what it produced.

    Returns
    -------
    dict
        Per metric ``forecast`` (base + curves at the historical impressions)
        and ``produced``, their ``ratio``, the historical ``spend``, and
        ``text``: "fed last period's allocation the curves forecast X where it
        produced Y".
    """
    cells = cell_table(curves)
    fc = forecast_at(cells, cells["historical_impressions"].to_numpy(float))
    out: dict = {"spend": float(cells["historical_spend"].sum())}
    for m in METRICS:
        if f"historical_{m}" not in cells:
            continue
        base = float(cells[f"base_{m}"].sum()) if f"base_{m}" in cells else 0.0
        produced = float(cells[f"historical_{m}"].sum())
        forecast = fc[m] + base
        out[m] = {"forecast": forecast, "produced": produced, "base": base,
                  "ratio": forecast / produced if produced > 0 else None}
    parts = []
    for m in METRICS:
        entry = out.get(m)
        if entry and entry["produced"] > 0:
            off = entry["ratio"] - 1
            parts.append(f"{m} {entry['forecast']:,.0f} where it produced "
                         f"{entry['produced']:,.0f} ({off:+.1%})")
    out["text"] = ("fed last period's allocation (spend {:,.0f}) the curves forecast ".format(
        out["spend"]) + "; ".join(parts)) if parts else "no historical outcome to compare with"
    return out


def fit_quality(curves: pd.DataFrame, poor: float = POOR_FIT) -> dict:
    """Cells fitted on their own, pooled and skipped; r2 median / min per metric; poor fits."""
    cells = cell_table(curves)
    level = cells["fit_level"].astype(str) if "fit_level" in cells else pd.Series(
        ["cell"] * len(cells))
    out: dict = {"cells": int(len(cells)), "own_fit": int((level == "cell").sum()),
                 "pooled": int(((level != "cell") & (level != "skipped")).sum()),
                 "skipped": int((level == "skipped").sum()), "r2": {}}
    for m in METRICS:
        col = f"r2_{m}"
        if col not in cells:
            continue
        r2 = pd.to_numeric(cells[col], errors="coerce")
        known = r2.dropna()
        out["r2"][m] = {"median": float(known.median()) if len(known) else None,
                        "min": float(known.min()) if len(known) else None,
                        "poor": int((known < poor).sum()), "undefined": int(r2.isna().sum())}
    return out


def beyond_observed(allocation: pd.DataFrame, curves: pd.DataFrame) -> dict:
    """Share of the plan's spend above each cell's largest observed spend.

    Returns
    -------
    dict
        ``spend_beyond`` (money above the observed maximum, summed over
        cells), ``share`` (of the plan's spend), ``cells`` (cells above it)
        and ``cells_planned``.
    """
    cells = cell_table(curves)[[*CELL, "observed_spend"]]
    spend = allocation.groupby(CELL, sort=False)["spend"].sum().reset_index()
    joined = spend.merge(cells, on=CELL, how="left")
    above = np.maximum(joined["spend"].to_numpy(float)
                       - joined["observed_spend"].fillna(0).to_numpy(float), 0.0)
    above[joined["spend"].to_numpy(float) <= 1e-9] = 0.0
    total = float(joined["spend"].sum())
    return {"spend_beyond": float(above.sum()),
            "share": float(above.sum() / total) if total > 0 else 0.0,
            "cells": int((above > 1e-6 * max(total, 1.0)).sum()),
            "cells_planned": int((joined["spend"] > 1e-9).sum())}


def plan_against_history(curves: pd.DataFrame, totals: dict, check: dict) -> dict:
    """The plan's forecast with the base against what last period produced, per metric.

    A plan that spends less than last period and still forecasts more than it
    produced is flagged (``flag``): the curves promise more than was ever seen.
    """
    cells = cell_table(curves)
    spend = float(check.get("spend") or 0.0)
    ratio = float(totals.get("spend", 0.0)) / spend if spend > 0 else None
    out: dict = {"spend_ratio": ratio}
    parts = []
    for m in METRICS:
        entry = check.get(m)
        if not entry:
            continue
        base = float(cells[f"base_{m}"].sum()) if f"base_{m}" in cells else 0.0
        forecast = float(totals.get(m, 0.0)) + base
        out[m] = {"forecast_with_base": forecast, "produced": entry["produced"]}
        if entry["produced"] > 0:
            parts.append(f"{m} {forecast:,.0f} (base {base:,.0f} included) against "
                         f"{entry['produced']:,.0f}")
    more = [m for m in METRICS if m in out and isinstance(out[m], dict)
            and out[m]["forecast_with_base"] > out[m]["produced"] > 0]
    out["flag"] = bool(ratio is not None and ratio < 0.99 and more)
    where = "n/a" if ratio is None else f"{ratio:.0%}"
    out["text"] = (f"at {where} of last period's spend the plan forecasts " + "; ".join(parts)
                   + (f" produced: more {', '.join(more)} than last period for less spend, "
                      "check the fit" if out["flag"] else " produced")) if parts else ""
    return out


def aggregates_summary(curves: pd.DataFrame, allocation: pd.DataFrame,
                       max_spend_multiple: float | None, totals: dict | None = None) -> dict:
    """plan.json's ``aggregates`` block: fit quality, spend beyond observed, historical check,
    and (given the plan's `totals`) the plan against what last period produced."""
    quality = fit_quality(curves)
    beyond = beyond_observed(allocation, curves)
    check = historical_check(curves)
    r2 = quality["r2"]
    words = ", ".join(f"{m} r2 median {v['median']:.2f}" for m, v in r2.items()
                      if v["median"] is not None)
    text = (f"curves fitted to aggregates: {quality['own_fit']} of {quality['cells']} cells on "
            f"their own, {quality['pooled']} pooled, {quality['skipped']} skipped; {words}; "
            f"{beyond['share']:.0%} of the plan's spend beyond the largest spend observed per "
            "cell (guard rail: " + (f"at most {max_spend_multiple:g}x the largest observed"
                                   if max_spend_multiple else "off") + ")")
    out = {"fit_quality": quality, "beyond_observed": beyond,
           "max_spend_multiple": max_spend_multiple, "historical_check": check, "text": text}
    if totals is not None:
        out["plan_against_history"] = plan_against_history(curves, totals, check)
    return out
