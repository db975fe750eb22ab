"""Plan quality on a demo world: the optimized plan vs the oracle, uniform and historical plans.

Runs, on a copy of a built demo workspace (or a freshly generated world):
segments (``adopt.audiences.segment_workspace``) -> LightGBM response model
(``train_response``) -> curves (``build_curves``) -> plan
(``adopt/demo_plan.toml``) -> ``score_plan`` against the world's ground truth,
and prints each stage's time and the ScoreCard: the plan's true conversions
beside the oracle (the optimizer on the true curves) and the uniform and
historical allocations at the same budget, all scored on the truth in one
process. Targets (issue 6): plan >= 90% of the oracle, >= 1.2x historical.

The curves are built once per ``--frequency`` mode from the same model, so
the fall with k asked of the model (the baseline) and the fall fitted within
user x campaign pairs of the logs (ours) are compared side by side.

    .venv/bin/python bench/plan_quality_bench.py --source /tmp/demo_ws
    .venv/bin/python bench/plan_quality_bench.py --generate --users 6000 --no-text
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

DEMO_PLAN = Path(__file__).resolve().parents[1] / "adopt" / "demo_plan.toml"


def _timed(times: dict[str, float], name: str, fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    times[name] = time.perf_counter() - started
    print(f"[{name}] {times[name]:.1f}s", flush=True)
    return out


def _simple_segments(ws: Path) -> None:
    """Top-category segments, for trees without the audience stage."""
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute("create or replace table audiences as select user_id, "
                    "coalesce(top_categories[1], 'none') as segment from user_profiles")


def _prepare(args: argparse.Namespace, root: Path, times: dict[str, float]) -> Path:
    ws = root / "ws"
    if args.generate:
        from adopt.ingest import ingest
        from adopt.profiles import build_profiles
        from adopt.synth import generate_world

        _timed(times, "generate", generate_world, ws / "world", users=args.users, ads=args.ads,
               days=args.days, seed=args.seed, show_progress=False)
        _timed(times, "ingest", ingest, ws / "world", ws)
        _timed(times, "profiles", build_profiles, ws)
        if args.text:
            from adopt.embeddings import embed_workspace

            _timed(times, "embed", embed_workspace, ws)
    else:
        _timed(times, "copy", shutil.copytree, args.source, ws,
               ignore=shutil.ignore_patterns("models", "curves", "plans", "runs"))
    return ws


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="/tmp/demo_ws", help="built demo workspace to copy")
    p.add_argument("--generate", action="store_true", help="generate a world instead")
    p.add_argument("--users", type=int, default=6000)
    p.add_argument("--ads", type=int, default=120)
    p.add_argument("--days", type=int, default=None, help="days of logs (default: the demo's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text", action=argparse.BooleanOptionalAction, default=True,
                   help="train with the embedding features (when the workspace has them)")
    p.add_argument("--segments", type=int, default=12, help="k-means segments")
    p.add_argument("--valid-days", type=int, default=1, help="as `adopt train` (default 1)")
    p.add_argument("--users-per-segment", type=int, default=300)
    p.add_argument("--config", default=str(DEMO_PLAN))
    p.add_argument("--keep", default=None, help="folder to keep the workspace in")
    p.add_argument("--frequency", nargs="+", choices=("model", "logs", "auto"),
                   default=["model", "logs"], help="curve modes to compare (default both)")
    args = p.parse_args()
    if args.days is None:
        from adopt.synth import DEMO_DAYS

        args.days = DEMO_DAYS

    from adopt.curves import build_curves
    from adopt.optimize import plan_from_workspace
    from adopt.progress import setup_logging
    from adopt.response.run import train_response
    from adopt.scoring import score_plan

    setup_logging()

    times: dict[str, float] = {}
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="plan_quality_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        ws = _prepare(args, root, times)
        try:
            from adopt.audiences import segment_workspace
        except ImportError:
            _timed(times, "segments (top category)", _simple_segments, ws)
        else:
            print(_timed(times, "segments", segment_workspace, ws, k=args.segments,
                         min_size=50, seed=0))
        card = _timed(times, "train", train_response, ws, "lightgbm", run_id="bench",
                      valid_days=args.valid_days, text_features=args.text)
        print(f"  features: {len(card.features)}")
        scores = {}
        for mode in args.frequency:
            print(_timed(times, f"curves ({mode})", build_curves, ws, run_id="bench",
                         users_per_segment=args.users_per_segment, frequency=mode))
            _, folder = _timed(times, f"plan ({mode})", plan_from_workspace, ws, args.config)
            scores[mode] = _timed(times, f"score ({mode})", score_plan, ws / "world", ws, folder)
            print(f"\n{scores[mode]}\n")
        print("\nstage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()))
        print(f"\n{'fall with k':12s} {'plan':>8s} {'oracle':>8s} {'plan/oracle':>12s} "
              f"{'plan/historical':>16s}  meets targets")
        for mode, score in scores.items():
            print(f"{mode:12s} {score.value('plan'):8.1f} {score.value('oracle'):8.1f} "
                  f"{score.ratio('oracle'):12.3f} {score.ratio('historical'):16.3f}  "
                  f"{score.meets_targets}")
        if {"model", "logs"} <= scores.keys():
            gain = scores["logs"].value("plan") / scores["model"].value("plan")
            print(f"logs / model (true {scores['logs'].metric}): {gain:.3f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
