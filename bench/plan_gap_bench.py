"""Bench: where a plan's shortfall from the oracle comes from, on a generated world.

`bench/plan_quality_bench.py` says how far a plan is from the oracle; this says
why. It re-plans the same spec on curves that are true in one part and the
model's in the rest, and delivers each plan user by user on the truth
(`adopt.delivery.deliver`), so each step isolates one source of loss:

- ``oracle``: the true curves, with the truth's best creative per cell for the
  plan's metric, on the model's cells, users and reach as every row here
  (`score_plan`'s oracle has the truth's segment sizes: its plan / oracle differs
  by a little);
- ``knows all but quality, logs`` / ``knows all but quality, text``: the curves
  a planner would expect that knows every part of the truth except each
  creative's latent quality, which it infers exactly from that creative's
  logged impressions, clicks and conversions, or from its text alone
  (`adopt.synth.posterior.ceiling_curves`; the cells, users, reach and cost
  are the model's). The first is the ceiling of any model of these logs in
  expectation over their luck, for the plan and for the forecast (a posterior
  mean does not over-promise on the cells it selects, on average): on one
  world a model's own errors can land it above; the gap between the two is
  what the logs say about creatives;
- ``true, model creatives``: the true curves of the creatives the curves chose
  (loss against the oracle = the creative choice);
- ``true levels, model fall``: those true curves at k = 1 carried over k by the
  curves' fall (loss against the previous row = the fall with k);
- ``model``: the curves as built (loss against the previous row = the levels);
- ``model levels, true fall``: the curves' k = 1 values carried by the truth's fall;
- ``model, placement error out`` / ``model, campaign error out`` /
  ``model, campaign x segment error out`` /
  ``model, cell error out``: the curves with the mean k = 1 error (log model /
  truth of the chosen creatives) of each placement, campaign, campaign x segment or cell
  divided out, every k alike (how much of the gap each grain of level error makes).

Each row prints the delivered value, the value the plan promised on its own
curves and their ratio; then the cells' k = 1 level error (log model / truth of
the chosen creatives), the creatives whose choice costs the most and the logs'
luck (`logs_luck`: the logged clicks and conversions against the truth's
expectation on the same impressions, all and first impressions, every campaign
and the plan's), which no model of the logs can tell from the world.

    .venv/bin/python bench/plan_gap_bench.py --workspace /tmp/pq/world_3_geometric/ws
        [--plan demo] [--seeds 3]

The workspace must be a generated world's (``world/truth``) with a plan written by
`adopt plan` (keep one with `plan_quality_bench.py --keep DIR`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.optimize.curves import METRICS
from adopt.scoring import CELL, PlanInputs
from adopt.synth.posterior import on_cells


def delivered_and_promised(plan: PlanInputs, curves: pd.DataFrame,
                           seeds: range) -> tuple[float, float]:
    """The plan's spec optimized on `curves`, delivered on the truth (mean over `seeds`),
    and what the curves promised of it."""
    from adopt.delivery import deliver, evaluate_exposure
    from adopt.optimize import optimize

    exposure = optimize(curves, plan.spec, plan.placements).exposure
    delivered = float(np.mean([deliver(plan.truth, plan.audiences, exposure, caps=plan.caps,
                                       seed=s).totals[plan.metric] for s in seeds]))
    return delivered, float(evaluate_exposure(curves, exposure)[plan.metric])


def _true_curves_of_choice(truth, audiences: pd.DataFrame, curves: pd.DataFrame,
                           max_k: int) -> pd.DataFrame:
    """The truth's curves of the creative the model curves chose per campaign x segment."""
    chosen = curves.loc[curves["k"] == 1].drop_duplicates(["campaign_id", "segment"])
    parts = []
    for ad_id, group in chosen.groupby("ad_id"):
        true = truth.true_curves(audiences, max_k, ads=[ad_id])
        parts.append(true.loc[true["segment"].isin(group["segment"])])
    return on_cells(pd.concat(parts, ignore_index=True), curves)


def _carried(levels: pd.DataFrame, shapes: pd.DataFrame) -> pd.DataFrame:
    """`levels`' k = 1 values carried over k by `shapes`' fall (same rows in the same order)."""
    out = shapes.copy()
    first = pd.MultiIndex.from_frame(shapes[CELL])
    for m in METRICS:
        lvl = levels.loc[levels["k"] == 1].set_index(CELL)[m].reindex(first).to_numpy()
        one = shapes.loc[shapes["k"] == 1].set_index(CELL)[m].reindex(first).to_numpy()
        out[m] = shapes[m].to_numpy() * np.divide(lvl, one, out=np.zeros_like(lvl),
                                                  where=one > 0)
    return out


def _error_out(model: pd.DataFrame, chosen: pd.DataFrame, grain: list[str]) -> pd.DataFrame:
    """`model` with each `grain` group's mean k = 1 log error against `chosen` divided out."""
    first = (model["k"] == 1).to_numpy()
    cells = model.loc[first, CELL].reset_index(drop=True)
    index = pd.MultiIndex.from_frame(model[CELL])
    out = model.copy()
    for m in METRICS:
        error = pd.Series(np.log(np.divide(model.loc[first, m].to_numpy(),
                                           chosen.loc[first, m].to_numpy())))
        error = error.replace([np.inf, -np.inf], np.nan).fillna(0.0)
        mean = error.groupby([cells[c] for c in grain]).transform("mean")
        factor = pd.Series(np.exp(-mean.to_numpy()), index=pd.MultiIndex.from_frame(cells))
        out[m] = model[m].to_numpy() * factor.reindex(index).to_numpy()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", required=True)
    p.add_argument("--plan", default="demo", help="plan id under WS/plans (default demo)")
    p.add_argument("--seeds", type=int, default=3, help="delivery seeds per plan (default 3)")
    args = p.parse_args()

    from adopt.synth.posterior import (
        ceiling_curves,
        quality_posterior,
        true_curves_on_cells,
    )

    ws = Path(args.workspace)
    plan = PlanInputs.read(ws / "world", ws, ws / "plans" / args.plan)
    model, truth, audiences, metric = plan.curves, plan.truth, plan.audiences, plan.metric
    max_k = int(model["k"].max())
    best = true_curves_on_cells(truth, audiences, model, metric=metric)
    chosen = _true_curves_of_choice(truth, audiences, model, max_k)
    posterior = quality_posterior(ws / "world", truth)
    rows = {"oracle": best,
            **{f"knows all but quality, {source}": ceiling_curves(
                ws / "world", truth, audiences, model, logs=logs, posterior=posterior,
                metric=metric)
               for source, logs in (("logs", True), ("text", False))},
            "true, model creatives": chosen,
            "true levels, model fall": _carried(chosen, model), "model": model,
            "model levels, true fall": _carried(model, chosen),
            "model, placement error out": _error_out(model, chosen, ["placement_id"]),
            "model, campaign error out": _error_out(model, chosen, ["campaign_id"]),
            "model, campaign x segment error out": _error_out(model, chosen,
                                                              ["campaign_id", "segment"]),
            "model, cell error out": _error_out(model, chosen, CELL)}
    print(f"{ws}: plan {args.plan!r}, {metric}, {args.seeds} delivery seeds\n")
    print(f"{'curves planned on':36s} {'delivered':>10s} {'promised':>10s} {'prom/deliv':>10s} "
          f"{'of oracle':>10s}")
    oracle = None
    for name, curves in rows.items():
        delivered, promised = delivered_and_promised(plan, curves, range(args.seeds))
        oracle = oracle or delivered
        print(f"{name:36s} {delivered:10.1f} {promised:10.1f} {promised / delivered:10.3f} "
              f"{delivered / oracle:10.3f}", flush=True)

    first = model["k"] == 1
    ratio = np.log(model.loc[first, metric].to_numpy() / chosen.loc[first, metric].to_numpy())
    print(f"\nk = 1 {metric} of the chosen creatives, log(model / truth) over "
          f"{int(first.sum())} cells: mean {ratio.mean():+.3f}, sd {ratio.std():.3f}")
    _creative_misses(truth, audiences, model, chosen, best, metric)
    _print_luck(logs_luck(ws, truth, plan.exposure))


def logs_luck(ws: Path, truth, exposure: pd.DataFrame) -> pd.DataFrame:
    """The logged outcomes against the truth's expectation on the same logged impressions.

    No model of these logs can tell their luck from the world: a world whose logged
    first impressions converted 10% above their expectation is one every estimate of
    its levels reads high. One row per set of logged rows: all of them and the first
    impressions (where the curves' levels are read), over every campaign and over the
    plan's campaigns (each campaign's luck weighed by the plan's impressions of it);
    columns clicks and conversions (logged) and their luck (logged / expected), and the
    luck of conversions per click.
    """
    import duckdb

    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        logs = con.execute("select user_id, ad_id, campaign_id, placement_id, k_campaign, "
                           "clicked::int as clicks, converted::int as conversions "
                           "from training_examples").df()
    expected = truth.expected(logs["user_id"].astype(str), logs["ad_id"].astype(str),
                              logs["placement_id"].astype(str), logs["k_campaign"].to_numpy())
    logs["expected_clicks"] = expected["p_click"].to_numpy()
    logs["expected_conversions"] = expected["p_conversion"].to_numpy()
    weights = exposure.groupby("campaign_id")["impressions"].sum()
    out = []
    for name, rows in (("all", logs), ("first impressions (k = 1)", logs[logs.k_campaign == 1])):
        for scope, part, weighed in (
                ("every campaign", rows, False),
                ("the plan's campaigns", rows[rows.campaign_id.isin(weights.index)], True)):
            by = part.groupby("campaign_id")[["clicks", "expected_clicks", "conversions",
                                              "expected_conversions"]].sum()
            if weighed:
                w = weights.reindex(by.index).fillna(0.0).to_numpy()
                by = by.mul(w / np.maximum(by["expected_clicks"].to_numpy(), 1e-12), axis=0)
            tot = by.sum()
            click = tot["clicks"] / tot["expected_clicks"]
            conv = tot["conversions"] / tot["expected_conversions"]
            out.append({"rows": f"{name}, {scope}", "clicks": int(part["clicks"].sum()),
                        "click_luck": click, "conversions": int(part["conversions"].sum()),
                        "conversion_luck": conv, "per_click_luck": conv / click})
    return pd.DataFrame(out).set_index("rows")


def _print_luck(luck: pd.DataFrame) -> None:
    print("\nthe logs' luck: logged / the truth's expectation on the same impressions")
    print(luck.round(3).to_string())


def _creative_misses(truth, audiences: pd.DataFrame, model: pd.DataFrame,
                     chosen: pd.DataFrame, best: pd.DataFrame, metric: str) -> None:
    """The campaigns whose creative choice loses the most `metric` at k = 1 (all segments)."""
    first = model["k"] == 1
    table = model.loc[first, ["campaign_id", "segment", "ad_id"]].assign(
        best_ad=best.loc[first, "ad_id"].to_numpy(),
        chosen_value=chosen.loc[first, metric].to_numpy(),
        best_value=best.loc[first, metric].to_numpy())
    by = table.groupby("campaign_id").agg(
        chosen=("ad_id", lambda s: ", ".join(sorted(set(s)))),
        truth_best=("best_ad", lambda s: ", ".join(sorted(set(s)))),
        chosen_value=("chosen_value", "sum"), best_value=("best_value", "sum"))
    by["lost"] = by["best_value"] - by["chosen_value"]
    launch = truth.ads["launch_day"]
    by["truth_best_launch_day"] = by["truth_best"].map(
        lambda ids: ", ".join(str(int(launch[a])) for a in ids.split(", ")))
    print(f"\ncreative choice: k = 1 {metric} of the chosen vs the truth's best creative, "
          "summed over segments and placements (the campaigns that lose most)")
    print(by.sort_values("lost", ascending=False).head(8).round(4).to_string())


if __name__ == "__main__":
    main()
