"""Bench: the aggregates path's guard rail and historical check, on exports with known truth.

For generated per-ad exports (`adopt.synth.aggregates`, functional forms exp, hill, log,
power; and one with periods) it fits the curves, then plans at 1/3, 1 and 2 times last
period's spend with the guard rail (max_spend_multiple = 2, the default) and without, and
prints side by side: the share of the plan's spend beyond the largest spend observed per
cell, the plan's forecast, what the truth gives for the same allocation (each cell's
impressions spread over its units in the historical mix), forecast / truth, and the
historical check (the curves fed last period's allocation against what it produced).
Medians over the worlds close the table.

With ``--export FILE`` it also fits a real export and prints its historical check, e.g. a
per-ad campaign export (age, gender, interest, Spent, Impressions, Clicks,
Approved_Conversion): ``--rename Spent=spend,Impressions=impressions,Clicks=clicks,
Approved_Conversion=conversions,xyz_campaign_id=campaign_id --segment-columns
age,gender,interest``.

    PYTHONPATH=. python bench/aggregates_bench.py [--seeds 3] [--export FILE ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from adopt.optimize import PlanSpec, fit_curves
from adopt.optimize.observed import cell_table, historical_check
from adopt.plan import make_plan
from adopt.synth.aggregates import FORMS, AggregateTruth, generate_aggregates

CELL = ["campaign_id", "segment", "placement_id"]
SCALES = (1 / 3, 1.0, 2.0)


def truth_of(allocation: pd.DataFrame, export: pd.DataFrame, truth: AggregateTruth,
             periods: bool) -> float:
    """Spend-driven conversions the truth gives for an allocation, in the historical mix."""
    planned = allocation.groupby(CELL)["impressions"].sum()
    total = 0.0
    if periods:
        latest = export[export["period"] == export["period"].max()]
        units = latest.groupby(CELL, as_index=False)["impressions"].sum()
    else:
        units = export[[*CELL, "impressions"]]
    for key, g in units.groupby(CELL):
        imps = planned.get(key, 0.0)
        if imps <= 0:
            continue
        hist = g["impressions"].to_numpy(float)
        w = hist / hist.sum() if hist.sum() > 0 else np.full(len(hist), 1 / len(hist))
        rows = pd.DataFrame([dict(zip(CELL, key, strict=True))] * len(w))
        got = truth.expected(rows, w * imps)["conversions"].to_numpy()
        base = truth.expected(rows, np.zeros(len(w)))["conversions"].to_numpy()
        total += float((got - base).sum())
    return total


def run_world(form: str, seed: int, periods: int | None) -> list[dict]:
    export, truth = generate_aggregates(form=form, seed=seed, periods=periods)
    t0 = time.perf_counter()
    curves, fit = fit_curves(export)
    fit_s = time.perf_counter() - t0
    check = historical_check(curves)["conversions"]
    hist_spend = float(cell_table(curves)["historical_spend"].sum())
    rows = []
    for scale in SCALES:
        out = {"form": form + ("/periods" if periods else ""), "seed": seed, "budget": scale,
               "fit_s": fit_s, "hist_ratio": check["ratio"]}
        for name, guard in (("off", None), ("on", 2.0)):
            plan = make_plan(PlanSpec(budget=scale * hist_spend, max_spend_multiple=guard),
                             curves=curves, frontier=False, baselines=False, save=False)
            forecast = plan.totals["conversions"]
            true = truth_of(plan.allocation, export, truth, periods is not None)
            out[f"beyond_{name}"] = plan.aggregates["beyond_observed"]["share"]
            out[f"forecast_{name}"] = forecast
            out[f"truth_{name}"] = true
            out[f"ratio_{name}"] = forecast / true if true > 0 else float("nan")
        rows.append(out)
    return rows


def real_export(path: str, rename: str | None, segment_columns: str | None) -> None:
    from adopt.optimize.curves import read_table

    table = read_table(path, "aggregates")
    if rename:
        table = table.rename(columns=dict(p.split("=", 1) for p in rename.split(",")))
    if segment_columns:
        cols = segment_columns.split(",")
        table["segment"] = table[cols].astype(str).agg("/".join, axis=1)
    curves, fit = fit_curves(table)
    levels = fit.drop_duplicates(CELL)["level"].value_counts().to_dict()
    print(f"\n{path}: {len(table)} rows, cells by level {levels}")
    print(historical_check(curves)["text"])
    hist = float(cell_table(curves)["historical_spend"].sum())
    for scale in SCALES:
        shares = []
        for guard in (None, 2.0):
            plan = make_plan(PlanSpec(budget=scale * hist, max_spend_multiple=guard),
                             curves=curves, frontier=False, baselines=False, save=False)
            shares.append((plan.aggregates["beyond_observed"]["share"],
                           plan.totals["conversions"]))
        print(f"budget {scale:.2f}x last period: beyond observed {shares[0][0]:.0%} without the "
              f"guard rail, {shares[1][0]:.0%} with it; conversions bought {shares[0][1]:,.0f} "
              f"/ {shares[1][1]:,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--export", default=None, help="a real aggregate export (Parquet/CSV)")
    ap.add_argument("--rename", default=None, help="old=new,... column renames for --export")
    ap.add_argument("--segment-columns", default=None, help="columns joined into the segment")
    args = ap.parse_args()
    rows = []
    for form in sorted(FORMS):
        for seed in range(args.seeds):
            rows += run_world(form, seed, None)
    for seed in range(args.seeds):
        rows += run_world("exp", seed, 8)
    table = pd.DataFrame(rows)
    print("budget = multiple of last period's spend; beyond = share of the plan's spend above "
          "each cell's largest observed spend;\nforecast/truth = the plan's conversions on the "
          "curves / on the truth; guard rail off vs on (2x)")
    print(f"{'world':<14}{'seed':>4}{'budget':>7}{'beyond off':>11}{'beyond on':>10}"
          f"{'fc/truth off':>13}{'fc/truth on':>12}{'hist check':>11}")
    for r in table.itertuples(index=False):
        print(f"{r.form:<14}{r.seed:>4}{r.budget:>7.2f}{r.beyond_off:>11.1%}{r.beyond_on:>10.1%}"
              f"{r.ratio_off:>13.3f}{r.ratio_on:>12.3f}{r.hist_ratio:>11.3f}")
    print("\nmedians over the worlds")
    for scale in SCALES:
        s = table[np.isclose(table["budget"], scale)]
        err_off = (s["ratio_off"] - 1).abs().median()
        err_on = (s["ratio_on"] - 1).abs().median()
        print(f"  budget {scale:.2f}x: beyond observed {s['beyond_off'].median():.1%} off -> "
              f"{s['beyond_on'].median():.1%} on; |forecast/truth - 1| {err_off:.3f} off -> "
              f"{err_on:.3f} on (ratio {err_on / err_off if err_off else float('nan'):.2f}); "
              f"truth conversions on/off {statistics.median(s['truth_on'] / s['truth_off']):.3f}")
    hist = table.drop_duplicates(["form", "seed"])
    print(f"  historical check (conversions forecast / produced): median "
          f"{hist['hist_ratio'].median():.3f}, worst {hist['hist_ratio'].sub(1).abs().max():.3f} "
          f"off; within 10% in {int((hist['hist_ratio'].sub(1).abs() <= 0.10).sum())} of "
          f"{len(hist)} exports; fit time median {hist['fit_s'].median():.2f} s")
    if args.export:
        real_export(args.export, args.rename, args.segment_columns)


if __name__ == "__main__":
    main()
