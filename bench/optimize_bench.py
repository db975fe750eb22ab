"""Benchmark: adopt's structured method vs generic HiGHS on the same plan LP.

Part 1 of the optimizer benchmark (part 2, SLSQP, is ``bench/slsqp_bench.py``).
Builds a plan of segments x 20 placements x 5 positions (1,000,000 variables at
the default 10,000 segments) with a budget, shared placement inventory and
per-placement frequency caps, then solves it with

- adopt (``solve_structured``: the Lagrangian dual minimised in exact trust
  regions, a small HiGHS LP per round over the cells whose plan can change),
- ``linprog(method="highs-ipm")`` and ``linprog(method="highs-ds")`` on the
  full LP, each with a time limit (they take minutes at 1M),

and prints times (median of ``--repeats``), objectives and their relative
difference. Runtime: adopt's solve x repeats + 2 x ``--time-limit`` (highs-ds
may overrun its limit) + 5-15 s to build the instance.

Measured on the shared 2-core dev box, 2026-11-29:

- 100k variables (1,000 segments): adopt 0.32 s (4 rounds of 1k-3.4k open
  cells), highs-ipm 4.6 s, highs-ds 7.4 s; objectives equal (1.6e-16
  relative): 14x the fastest.
- 1M variables (10,000 segments): adopt 1.46 s (4 rounds, gap 1.4e-14),
  highs-ipm 89.8 s (62x; the same objective), highs-ds did not finish
  (stopped after 870 s on a 120 s limit).
  Other seeds of the instance: 1.1-1.5 s (4-6 rounds). Before the trust
  region (working sets grown by column generation from sampled prices)
  adopt took 50-61 s here.

    .venv/bin/python bench/optimize_bench.py --segments 10000 --time-limit 120
    .venv/bin/python bench/optimize_bench.py --segments 1000   # 100k variables
"""

from __future__ import annotations

import argparse
import statistics
import time

from adopt.optimize import PlanSpec, build_grid, build_lp, certify
from adopt.optimize.examples import random_curves
from adopt.optimize.highs import solve_highs
from adopt.optimize.spec import FrequencyCap
from adopt.optimize.structured import solve_structured


def make_lp(segments: int, placements: int = 20, positions: int = 5, seed: int = 0):
    curves, table = random_curves(segments, placements, positions, seed=seed)
    grid = build_grid(curves)
    budget = 0.1 * float((grid.users[:, None] * grid.cpi).sum())
    caps = [FrequencyCap(cap=3, placement_id=f"p{i}") for i in range(0, placements, 4)]
    spec = PlanSpec(budget=budget, objective="clicks", constraints=caps)
    return build_lp(grid, spec, table)


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of adopt's solve")
    parser.add_argument("--time-limit", type=float, default=300.0,
                        help="seconds each generic HiGHS call may run")
    parser.add_argument("--skip-generic", action="store_true")
    args = parser.parse_args()

    t0 = time.perf_counter()
    lp = make_lp(args.segments)
    n_vars = lp.n_vars
    print(f"instance: {lp.n_cells:,} cells x {lp.K} impressions per user = {n_vars:,} variables, "
          f"{len(lp.b)} coupling rows (built in {time.perf_counter() - t0:.1f} s)")

    t_ours, (x, y, info) = timed(lambda: solve_structured(lp), args.repeats)
    if x is None:
        print(f"adopt structured : no certificate after {t_ours:.1f} s ({info.reason}); "
              f"adopt.optimize would fall back to HiGHS here")
        return
    cert = certify(lp, x, y)
    print(f"adopt structured : {t_ours:8.2f} s (median of {args.repeats})  objective "
          f"{cert.primal:.10g}  certificate gap {cert.gap:.1e}  rounds {info.rounds} "
          f"working sets {info.working_set}")
    if args.skip_generic:
        return
    for method in ("highs-ipm", "highs-ds"):
        start = time.perf_counter()
        xg, yg, res = solve_highs(lp, method=method, time_limit=args.time_limit)
        t = time.perf_counter() - start
        if xg is None:
            print(f"linprog {method:9s}: did not finish in {t:.0f} s (limit "
                  f"{args.time_limit:g} s; status {res.status}: {res.message.strip()[:60]})  "
                  f"ratio >= {t / t_ours:.1f}x")
            continue
        obj = float((lp.c * xg).sum())
        rel = abs(obj - cert.primal) / max(1.0, abs(obj))
        print(f"linprog {method:9s}: {t:8.2f} s  objective {obj:.10g}  relative difference "
              f"{rel:.1e}  ratio {t / t_ours:.1f}x")


if __name__ == "__main__":
    main()
