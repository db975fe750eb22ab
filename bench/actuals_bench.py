"""Bench: `adopt actuals` against a delivery's truth, on kept generated worlds.

Two checks, each the baseline and ours side by side:

- **Mid-flight projection.** The plan's delivery (drawn from the world's truth,
  `adopt.delivery.delivery_events`) is logged up to day D of its period, ingested into
  a copy of the workspace, and weighed with `adopt.actuals.check_actuals` over the
  plan's whole period. Baseline: the plan's forecast; ours: the card's ``projected``
  (what was logged so far plus the rest of the forecast, its level updated by the
  logs). Both against the truth's expectation of that same delivery
  (`adopt.delivery.deliver`, same seed) and against the delivery's final logged count;
  the root mean square of the log errors, their ratio, and how often the final count
  falls inside the projection's band.
- **An ad server that ignores the plan's frequency.** Each campaign x segment's
  impressions go to 1/F of the users the plan asked for (F = 2, 3; each user gets F
  times the impressions, up to the curves' depth). Baseline: the forecast at the
  delivered volume and the plan's frequency (``at_volume``); ours: each impression at
  its place k in its user's sequence (``at_delivered``). Both against the truth's
  expectation of that delivery.

    .venv/bin/python bench/actuals_bench.py /work/pq23/world_49_logit ...
        [--days 3 7] [--factors 2 3] [--metric conversions]

Each folder is a world kept by `bench/plan_quality_bench.py --keep DIR` (``ws/`` with
``ws/world`` and a plan in ``ws/plans``). Nothing is written in them: each check works
on a copy (without the world's truth, models or embeddings) under a temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from adopt.actuals import check_actuals, plan_window
from adopt.delivery import deliver, delivery_events, validate_exposure
from adopt.ingest import ingest
from adopt.scoring import DELIVERY_TABLES, PlanInputs
from adopt.workspace import Workspace


def _card(plan_ws: Path, plan_id: str, events: pd.DataFrame, start: pd.Timestamp,
          end: pd.Timestamp, scratch: Path):
    """The actuals card of `events` ingested into a copy of the plan's workspace."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(plan_ws, scratch / "ws",
                    ignore=shutil.ignore_patterns("world", "models", "embeddings*"))
    (scratch / "log").mkdir()
    events.to_parquet(scratch / "log" / "events.parquet", index=False)
    for name in DELIVERY_TABLES:
        shutil.copyfile(plan_ws / "world" / f"{name}.parquet",
                        scratch / "log" / f"{name}.parquet")
    ingest(scratch / "log", scratch / "ws", mode="append")
    card = check_actuals(scratch / "ws" / "plans" / plan_id, scratch / "ws", start=start, end=end)
    shutil.rmtree(scratch)
    return card


def squeezed(exposure: pd.DataFrame, factor: float, depth: int) -> pd.DataFrame:
    """The same impressions per campaign x segment x placement given to 1/`factor` of the
    users: each gets `factor` times the plan's N (at most `depth`)."""
    out = exposure.copy()
    n = np.minimum(np.round(out["frequency"] * factor).astype(int), depth)
    out["frequency"] = n
    group = ["campaign_id", "segment", "frequency"]
    out = out.groupby([*group, "placement_id"], as_index=False).agg(
        impressions=("impressions", "sum"), ad_id=("ad_id", "first"))
    out["users"] = out.groupby(group)["impressions"].transform("sum") / out["frequency"]
    return validate_exposure(out)


def _drawn(plan: PlanInputs, exposure: pd.DataFrame, caps, start: pd.Timestamp, days: float,
           seed: int, metric: str) -> tuple[float, pd.DataFrame]:
    """The truth's expectation of `metric` for one delivery of `exposure`, and its events."""
    truth = deliver(plan.truth, plan.audiences, exposure, caps=caps, seed=seed).totals[metric]
    return truth, delivery_events(plan.truth, plan.audiences, exposure, start=start, days=days,
                                  caps=caps, seed=seed, id_prefix="b-")


def _rms(x: pd.Series) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("worlds", nargs="+", help="kept world folders (with ws/)")
    ap.add_argument("--days", type=float, nargs="+", default=[3.0, 7.0],
                    help="days of the period logged for the mid-flight check (default 3 7)")
    ap.add_argument("--factors", type=float, nargs="+", default=[2.0, 3.0],
                    help="frequency multiples of the ad server that ignores the plan's")
    ap.add_argument("--metric", default="conversions",
                    choices=["clicks", "conversions", "revenue"])
    ap.add_argument("--seed", type=int, default=0, help="delivery seed")
    args = ap.parse_args()
    m, scratch = args.metric, Path(tempfile.mkdtemp(prefix="actuals_bench_"))
    flight, freq = [], []
    try:
        for world in map(Path, args.worlds):
            ws = world / "ws"
            plan_id = sorted(p.name for p in (ws / "plans").iterdir())[0]
            plan = PlanInputs.read(ws / "world", ws, ws / "plans" / plan_id)
            start = None  # the plan's period_start, else the day after the logs (as
            if plan.spec.period_start is None:  # write_delivery_log takes it)
                with Workspace.of(ws).connect(read_only=True) as con:
                    last = con.execute("select max(ts) from events").fetchone()[0]
                start = pd.Timestamp(last).normalize() + pd.Timedelta(days=1)
            start, end = plan_window(plan.doc, start)
            days = (end - start) / pd.Timedelta(days=1)

            truth, events = _drawn(plan, plan.exposure, plan.caps, start, days, args.seed, m)
            final = _card(ws, plan_id, events, start, end, scratch / "c").totals[m]["actual"]
            for d in args.days:
                cut = events.loc[events["ts"] < start + pd.Timedelta(days=d)]
                t = _card(ws, plan_id, cut, start, end, scratch / "c").totals[m]
                flight.append({"world": world.name, "day": d, "forecast": t["point"],
                               "projected": t.get("projected", np.nan),
                               "lo": t.get("lo_projected", np.nan),
                               "hi": t.get("hi_projected", np.nan),
                               "truth": truth, "final": final})
                r = flight[-1]
                print(f"{world.name} day {d:g}: forecast {r['forecast']:,.1f}, projected "
                      f"{r['projected']:,.1f} ({r['lo']:,.1f}-{r['hi']:,.1f}); truth's "
                      f"expectation {truth:,.1f}, logged by the end {final:,.0f}", flush=True)
            depth = int(plan.curves["k"].max())
            for factor in args.factors:
                truth, events = _drawn(plan, squeezed(plan.exposure, factor, depth), None, start,
                                       days, args.seed, m)
                t = _card(ws, plan_id, events, start, end, scratch / "c").totals[m]
                freq.append({"world": world.name, "factor": factor, "truth": truth,
                             "at_volume": t["at_volume"], "at_delivered": t["at_delivered"]})
                print(f"{world.name} x{factor:g} frequency: truth's expectation {truth:,.1f}; "
                      f"at the plan's frequency {t['at_volume']:,.1f} "
                      f"({t['at_volume'] / truth:.3f}), at each impression's place "
                      f"{t['at_delivered']:,.1f} ({t['at_delivered'] / truth:.3f})", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\nmid-flight projection of {m} ({len(args.worlds)} worlds; the baseline is the "
          "plan's forecast)")
    df = pd.DataFrame(flight)
    for d, g in df.groupby("day"):
        base, ours = np.log(g["forecast"] / g["truth"]), np.log(g["projected"] / g["truth"])
        base_f, ours_f = np.log(g["forecast"] / g["final"]), np.log(g["projected"] / g["final"])
        inside = ((g["lo"] <= g["final"]) & (g["final"] <= g["hi"])).mean()
        print(f"  day {d:g}: rms log error against the truth's expectation {_rms(base):.3f} -> "
              f"{_rms(ours):.3f} (ratio {_rms(ours) / _rms(base):.2f}; closer on "
              f"{int((ours.abs() < base.abs()).sum())} of {len(g)}); against the final logged "
              f"count {_rms(base_f):.3f} -> {_rms(ours_f):.3f}; range "
              f"{np.exp(base).min():.3f}-{np.exp(base).max():.3f} -> "
              f"{np.exp(ours).min():.3f}-{np.exp(ours).max():.3f}; final count inside the "
              f"projection's band on {inside:.0%}")
    print(f"\nan ad server that ignores the plan's frequency ({m}; the baseline is the forecast "
          "at the plan's frequency)")
    df = pd.DataFrame(freq)
    for f, g in df.groupby("factor"):
        base, ours = np.log(g["at_volume"] / g["truth"]), np.log(g["at_delivered"] / g["truth"])
        print(f"  x{f:g}: rms log error against the truth's expectation {_rms(base):.3f} -> "
              f"{_rms(ours):.3f} (ratio {_rms(ours) / _rms(base):.2f}); mean ratio to the truth "
              f"{np.exp(base).mean():.3f} -> {np.exp(ours).mean():.3f}")


if __name__ == "__main__":
    main()
