"""Plan quality on a demo world: the optimized plan vs the oracle, uniform and historical plans.

Runs, on a copy of a built demo workspace (or a freshly generated world):
segments (``adopt.audiences.segment_workspace``) -> LightGBM response model
(``train_response``) -> curves (``build_curves``) -> plan
(``adopt/pipeline/demo_plan.toml``) -> ``score_plan``: the plan, the oracle (the
optimizer on the true curves) and the uniform and historical exposures at the
same budget, each delivered user by user on the world's ground truth over
``--delivery-seeds`` seeds. Prints each stage's time, the ScoreCard, then one
row per world (``--seeds``, each with every ``--fatigue`` form when the
generator has that option): plan / oracle / historical delivered, the plan's
forecast, forecast / delivered, the ratios and whether the delivered value
lies in the plan's 95% forecast interval (1 or 0; its mean is the coverage);
then their mean and spread. Targets (issue 6): plan >= 90% of the oracle,
>= 1.2x historical, forecast within 10% of delivery.

The curves are built once per ``--frequency`` mode (and ``--creatives``
choice) from the same model, so the fall with k asked of the model (the
baseline) and the fall fitted within user x campaign pairs of the logs (ours)
are compared side by side, and so are the creatives predicted in sample (the
baseline) and by the refits that never saw them (ours, `--creatives in-sample
held-out`); with several modes the last lines give each mode's mean plan /
oracle and |log forecast / delivered| against the first mode's.

Several ``--users-per-segment`` values make each a curve mode of its own (the
users the curves sample per segment). The ceiling plans on every user of a
segment, so one ceiling serves them all.

``--ceiling`` also plans each world on the curves a planner would expect that
knows all of the truth but each creative's quality, read exactly from the
creative's logs (`adopt.synth.posterior.ceiling_curves`), delivers that plan the
same way and prints its plan / oracle (against the ScoreCard's oracle) and
forecast / delivered beside the model's (on the first curve mode's cells), and
how many worlds the model, the ceiling and both miss issue 13's targets for
every world (plan / oracle >= 0.90, forecast / delivered 0.85-1.15; the
"targets" column names them): where the ceiling misses too, a planner reading
the logs exactly misses there as well, and only a model's own errors could land
it above.

    .venv/bin/python bench/plan_quality_bench.py --source /tmp/demo_ws
    .venv/bin/python bench/plan_quality_bench.py --generate --users 6000 --no-text \
        --seeds 0 1 2 --fatigue logit geometric
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

DEMO_PLAN = Path(__file__).resolve().parents[1] / "adopt" / "pipeline" / "demo_plan.toml"
EVERY_WORLD_BAND = (0.85, 1.15)  # the forecast / delivered every world must hold (issue 13)


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


def _prepare(args: argparse.Namespace, root: Path, times: dict[str, float], seed: int,
             options: dict[str, object]) -> Path:
    ws = root / "ws"
    if args.generate:
        from adopt.ingest import ingest
        from adopt.profiles import build_profiles
        from adopt.synth import generate_world

        _timed(times, "generate", generate_world, ws / "world", users=args.users, ads=args.ads,
               days=args.days, seed=seed, show_progress=False, **options)
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
    p.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="world seeds (with --generate; default 0)")
    p.add_argument("--fatigue", nargs="+", default=None,
                   help="fatigue forms of the generated worlds, e.g. logit geometric "
                        "(generate_world(fatigue=...); default the generator's logit)")
    p.add_argument("--conversion-quality", type=float, nargs="+", default=None,
                   help="how much a creative's quality moves its conversions per click in the "
                        "generated worlds (generate_world(conversion_quality=...); default the "
                        "generator's 0.8); several values: a world for each")
    p.add_argument("--placement-conversion", type=float, nargs="+", default=None,
                   help="how much the placement a click came from moves its conversions per "
                        "click (generate_world(placement_conversion=...); default the "
                        "generator's 0); several values: a world for each")
    p.add_argument("--campaign-quality", type=float, nargs="+", default=None,
                   help="sd of a latent quality every creative of a campaign shares in the "
                        "generated worlds (generate_world(campaign_quality=...); default the "
                        "generator's 0); several values: a world for each")
    p.add_argument("--creative-audience", type=float, nargs="+", default=None,
                   help="sd of each creative's appeal to each age band in the generated "
                        "worlds (generate_world(creative_audience=...); default the "
                        "generator's 0); several values: a world for each")
    p.add_argument("--delivery-seeds", type=int, default=5,
                   help="delivery seeds per allocation (default 5)")
    p.add_argument("--text", action=argparse.BooleanOptionalAction, default=True,
                   help="train with the embedding features (when the workspace has them)")
    p.add_argument("--segments", type=int, default=12, help="k-means segments")
    p.add_argument("--valid-days", type=int, default=1, help="as `adopt train` (default 1)")
    p.add_argument("--users-per-segment", type=int, nargs="+", default=[300],
                   help="users the curves sample per segment; several: each a curve mode")
    p.add_argument("--config", default=str(DEMO_PLAN))
    p.add_argument("--keep", default=None, help="folder to keep the workspace in")
    p.add_argument("--frequency", nargs="+", choices=("model", "logs", "auto"),
                   default=["model", "logs"], help="curve modes to compare (default both)")
    p.add_argument("--calibrate", nargs="+", choices=("off", "on"), default=["off"],
                   help="the curves' level calibration against the latest logs "
                        "(build_curves(calibrate=...)); both to compare (default off)")
    p.add_argument("--creatives", nargs="+", choices=("held-out", "in-sample"),
                   default=["held-out"],
                   help="each creative predicted by the refit that never saw it (the default) "
                        "or by the model in sample (build_curves(held_out_creatives=...)); "
                        "both to compare")
    p.add_argument("--ceiling", action="store_true",
                   help="also plan on the curves of a planner that knows all but each "
                        "creative's quality (read from its logs) and deliver that plan")
    args = p.parse_args()
    if args.days is None:
        from adopt.synth import DEMO_DAYS

        args.days = DEMO_DAYS

    from adopt.progress import setup_logging

    setup_logging()

    worlds = list(itertools.product(args.seeds, args.fatigue or [None],
                                    args.conversion_quality or [None],
                                    args.placement_conversion or [None],
                                    args.campaign_quality or [None],
                                    args.creative_audience or [None])) \
        if args.generate else [(None, None, None, None, None, None)]
    rows = []
    for seed, fatigue, quality, placement, shared, audience in worlds:
        label = "source" if seed is None else f"seed {seed}" + (f" {fatigue}" if fatigue else "")
        label += "" if quality is None else f" cq {quality:g}"
        label += "" if placement is None else f" pc {placement:g}"
        label += "" if shared is None else f" cmq {shared:g}"
        label += "" if audience is None else f" ca {audience:g}"
        print(f"\n== world {label}", flush=True)
        options = {k: v for k, v in (("fatigue", fatigue), ("conversion_quality", quality),
                                     ("placement_conversion", placement),
                                     ("campaign_quality", shared),
                                     ("creative_audience", audience)) if v is not None}
        scores, ceiling = _one_world(args, seed, options)
        for mode, score in scores.items():
            rows.append((label, mode, score,
                         ceiling[1] if ceiling is not None and ceiling[0] == mode else None))
    _print_rows(rows)


def _one_world(args: argparse.Namespace, seed: int | None, options: dict[str, object]
               ) -> tuple[dict, tuple[str, tuple[float, float]] | None]:
    """Each curve mode's ScoreCard, and when asked for the ceiling's (the mode whose cells it
    planned on, (plan / oracle, forecast / delivered))."""
    from adopt.curves import build_curves
    from adopt.optimize import load_spec
    from adopt.plan import make_plan
    from adopt.response.run import train_response
    from adopt.scoring import score_plan

    times: dict[str, float] = {}
    quality, placement = options.get("conversion_quality"), options.get("placement_conversion")
    shared, audience = options.get("campaign_quality"), options.get("creative_audience")
    name = (f"world_{seed}_{options.get('fatigue')}"
            + ("" if quality is None else f"_cq{quality:g}")
            + ("" if placement is None else f"_pc{placement:g}")
            + ("" if shared is None else f"_cmq{shared:g}")
            + ("" if audience is None else f"_ca{audience:g}"))
    root = Path(args.keep) / name if args.keep else \
        Path(tempfile.mkdtemp(prefix="plan_quality_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        ws = _prepare(args, root, times, seed, options)
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
        scores, ceiling = {}, None
        objective = load_spec(args.config).objective.metric  # the curves choose creatives for it
        for users, freq, cal, held in itertools.product(
                args.users_per_segment, args.frequency, args.calibrate, args.creatives):
            mode = freq if args.calibrate == ["off"] else f"{freq}, calibrate {cal}"
            mode = mode if len(args.creatives) == 1 else f"{mode}, {held}"
            mode = mode if len(args.users_per_segment) == 1 else f"{mode}, {users} users"
            print(_timed(times, f"curves ({mode})", build_curves, ws, run_id="bench",
                         users_per_segment=users, frequency=freq, creative_metric=objective,
                         calibrate=cal == "on", held_out_creatives=held == "held-out"))
            folder = _timed(times, f"plan ({mode})", make_plan, args.config, workspace=ws).folder
            scores[mode] = _timed(times, f"score ({mode})", score_plan, ws / "world", ws, folder,
                                  seeds=range(args.delivery_seeds))
            print(f"\n{scores[mode]}\n")
            if args.ceiling and ceiling is None:  # on the first mode's cells and plan
                ceiling = mode, _timed(times, "ceiling", _ceiling, ws, folder, scores[mode],
                                       range(args.delivery_seeds))
        print("\nstage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()))
        return scores, ceiling
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _ceiling(ws: Path, folder: Path, card, seeds: range) -> tuple[float, float]:
    """The ceiling's plan (its spec on `ceiling_curves`) delivered: (delivered / the card's
    oracle, promised / delivered)."""
    from plan_gap_bench import delivered_and_promised

    from adopt.scoring import PlanInputs
    from adopt.synth.posterior import ceiling_curves

    plan = PlanInputs.read(ws / "world", ws, folder)
    curves = ceiling_curves(ws / "world", plan.truth, plan.audiences, plan.curves,
                            metric=plan.metric)
    delivered, promised = delivered_and_promised(plan, curves, seeds)
    of_oracle, of_delivery = (a / b if b > 0 else float("nan")
                              for a, b in ((delivered, card.value("oracle")),
                                           (promised, delivered)))
    print(f"  ceiling (knows all but each creative's quality, read from its logs): delivered "
          f"{delivered:.1f}, {of_oracle:.3f} of the oracle; promised {promised:.1f}, "
          f"{of_delivery:.3f} of its delivery")
    return of_oracle, of_delivery


def _misses(plan_vs_oracle: float, forecast_ratio: float) -> list[str]:
    """Issue 13's targets for every world that a plan misses (a ratio that could not be
    measured, NaN, misses)."""
    from adopt.scoring import TARGETS

    lo, hi = EVERY_WORLD_BAND
    return [name for name, holds in (("plan", plan_vs_oracle >= TARGETS["oracle"]),
                                     ("forecast", lo <= forecast_ratio <= hi)) if not holds]


def _print_rows(rows: list) -> None:
    """One row per world x fall-with-k mode, then the mean and spread over worlds."""
    with_ceiling = any(ceiling is not None for *_, ceiling in rows)
    head = ["plan", "oracle", "historical", "forecast", "fcst/deliv", "plan/oracle", "plan/hist",
            "in interval"] + (["ceil/oracle", "ceil fc/dl"] if with_ceiling else [])
    print(f"\n{'world':24s} {'fall':18s}" + "".join(f"{h:>12s}" for h in head) + "  targets")
    table, misses = {}, {}
    for label, mode, sc, ceiling in rows:
        vals = [sc.value("plan"), sc.value("oracle"), sc.value("historical"),
                sc.forecast.get(sc.metric, float("nan")), sc.forecast_ratio,
                sc.ratio("oracle"), sc.ratio("historical"),
                float("nan") if sc.delivered_in_interval is None
                else float(sc.delivered_in_interval)]
        vals += list(ceiling or (float("nan"),) * 2) if with_ceiling else []
        table.setdefault(mode, []).append(vals)
        note = "hold" if sc.meets_targets else "missed"
        if ceiling is not None:
            ours, theirs = _misses(vals[5], vals[4]), _misses(*ceiling)
            misses.setdefault(mode, []).append((ours, theirs))
            note += "; every-world targets missed: " + ", ".join(
                f"{m} (ceiling {'too' if m in theirs else 'held'})" for m in ours) if ours else ""
        print(f"{label:24s} {mode:18s}" + "".join(f"{v:12.3f}" for v in vals) + f"  {note}")
    for mode, vals in table.items():
        arr = np.array(vals)
        print(f"{'mean':24s} {mode:18s}" + "".join(f"{v:12.3f}" for v in arr.mean(axis=0)))
        # a range can be wider than its column: a space keeps the columns apart
        print(f"{'min..max':24s} {mode:18s}" + "".join(
            f" {f'{lo:.2f}..{hi:.2f}':>11s}" for lo, hi in zip(arr.min(axis=0), arr.max(axis=0),
                                                              strict=True)))
    for mode in table:
        cards = [sc for _, m, sc, _ in rows if m == mode and sc.interval_z is not None]
        z = np.array([sc.interval_z for sc in cards])
        if len(z):
            print(f"forecast interval ({mode}): delivered inside on "
                  f"{sum(bool(sc.delivered_in_interval) for sc in cards)} of {len(z)}, "
                  "root mean square of its z (delivered / forecast in the interval's "
                  "standard deviations) "
                  f"{np.sqrt((z ** 2).mean()):.2f} (1 for an honest interval)")
    from adopt.scoring import TARGETS

    for mode, pairs in misses.items():
        lo, hi = EVERY_WORLD_BAND
        for target, text in (("plan", f"plan / oracle under {TARGETS['oracle']}"),
                             ("forecast", f"forecast / delivered outside {lo}-{hi}")):
            print(f"{text} ({mode}): the model on {sum(target in o for o, _ in pairs)}, the "
                  f"ceiling on {sum(target in t for _, t in pairs)}, both on "
                  f"{sum(target in o and target in t for o, t in pairs)} of {len(pairs)} worlds")
    modes = list(table)
    if len(modes) > 1:
        base = np.array(table[modes[0]])
        for mode in modes[1:]:
            arr = np.array(table[mode])
            print(f"{mode} against {modes[0]}: plan / oracle {arr[:, 5].mean():.3f} / "
                  f"{base[:, 5].mean():.3f} = {arr[:, 5].mean() / base[:, 5].mean():.3f}; "
                  f"mean |log forecast / delivered| {np.abs(np.log(arr[:, 4])).mean():.3f} / "
                  f"{np.abs(np.log(base[:, 4])).mean():.3f}; forecasts outside "
                  f"{EVERY_WORLD_BAND[0]}-{EVERY_WORLD_BAND[1]} "
                  f"{_outside(arr[:, 4])} / {_outside(base[:, 4])}")


def _outside(ratios: np.ndarray) -> int:
    """How many forecast / delivered ratios fall outside `EVERY_WORLD_BAND`."""
    lo, hi = EVERY_WORLD_BAND
    return int(((ratios < lo) | (ratios > hi)).sum())


if __name__ == "__main__":
    main()
