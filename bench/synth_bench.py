"""Benchmark of the synthetic world: the oracle curves, and chunked generation.

Part 1: `Truth.true_curves` against a pandas baseline that scores the explicit
users x ads x placements x k cross product with `Truth.expected`, averages per
segment and picks each campaign's best creative with a groupby. Same process,
median of `--repeats` runs; prints both times, their ratio and the largest
difference between the two tables.

Part 2: `generate_world` at `--users` (default 200,000 users x 35 days, about
10M events) written in parts of 1M rows (ours) and as one part (baseline: the
whole table buffered), each in a fresh process; prints wall time and peak RSS.

Run: ``.venv/bin/python bench/synth_bench.py [--users 200000] [--repeats 3] [--skip-big]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import tempfile
import time

import numpy as np
import pandas as pd

from adopt.synth import Truth, generate_world, load_truth

METRIC = {
    "clicks": "p_click",
    "reach": "p_click",
    "conversions": "p_conversion",
    "revenue": "expected_revenue",
}


def baseline_curves(truth: Truth, audiences: pd.DataFrame, max_k: int) -> pd.DataFrame:
    """Cross product scored row by row (vectorised per call), then groupbys."""
    ads = truth.ads.reset_index()[["ad_id", "campaign_id"]]
    grid = (
        audiences.merge(ads, how="cross")
        .merge(pd.DataFrame({"placement_id": truth.placements.index}), how="cross")
        .merge(pd.DataFrame({"k": np.arange(1, max_k + 1)}), how="cross")
    )
    scored = truth.expected(grid.user_id, grid.ad_id, grid.placement_id, grid.k)
    grid = pd.concat([grid, scored], axis=1)
    key = ["campaign_id", "segment", "placement_id", "ad_id"]
    cols = ["p_click", "p_conversion", "expected_revenue"]
    means = grid.groupby(key + ["k"], as_index=False)[cols].mean()
    metric = means.campaign_id.map(truth.campaigns.objective).map(METRIC)
    means["value"] = np.select([metric == c for c in cols], [means[c] for c in cols])
    total = means.groupby(key, as_index=False).value.sum()
    best = total.loc[total.groupby(key[:3]).value.idxmax(), key]
    return means.merge(best, on=key).rename(
        columns={"p_click": "clicks", "p_conversion": "conversions", "expected_revenue": "revenue"}
    )


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_curves(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate_world(tmp, users=1_500, ads=30, days=7, seed=1, show_progress=False)
        truth = load_truth(tmp)
    rng = np.random.default_rng(0)
    audiences = pd.DataFrame(
        {"user_id": truth.users.index, "segment": rng.integers(0, 10, len(truth.users))}
    )
    max_k = 5
    t_base, base = _median_time(lambda: baseline_curves(truth, audiences, max_k), repeats)
    t_ours, ours = _median_time(lambda: truth.true_curves(audiences, max_k=max_k), repeats)
    key = ["campaign_id", "segment", "placement_id", "k"]
    both = ours.merge(base, on=key, suffixes=("", "_base"))
    assert len(both) == len(ours) == len(base)
    diff = max(
        float((both[c] - both[f"{c}_base"]).abs().max())
        for c in ("clicks", "conversions", "revenue")
    )
    same_ad = float((both.ad_id == both.ad_id_base).mean())
    print(f"true_curves, 1,500 users x 30 ads x 8 placements x k<={max_k}, 10 segments:")
    print(
        f"  baseline (cross product + groupby) {t_base:.2f}s, ours {t_ours:.2f}s, "
        f"ratio {t_base / t_ours:.1f}x; max abs diff {diff:.1e}, same creative {same_ad:.0%}"
    )


def _generate(out: str, users: int, days: int, part_rows: int, queue: mp.Queue) -> None:
    t0 = time.perf_counter()
    summary = generate_world(
        out, users=users, ads=400, days=days, part_rows=part_rows, show_progress=False
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((time.perf_counter() - t0, rss, summary.rows["events"], summary.rows["behaviors"]))


def bench_generate(users: int, days: int) -> None:
    ctx = mp.get_context("spawn")
    results = {}
    for name, part_rows in (("one part (baseline)", 10**12), ("1M-row parts (ours)", 1_000_000)):
        with tempfile.TemporaryDirectory() as tmp:
            queue = ctx.Queue()
            proc = ctx.Process(target=_generate, args=(tmp, users, days, part_rows, queue))
            proc.start()
            results[name] = queue.get()
            proc.join()
    for name, (secs, rss, events, behaviors) in results.items():
        print(
            f"generate_world {users:,} users x {days} days ({events:,} events, "
            f"{behaviors:,} behaviors), {name}: {secs:.1f}s, peak RSS {rss:,.0f} MiB"
        )
    (t_base, m_base, *_), (t_ours, m_ours, *_) = results.values()
    print(f"  time ratio baseline/ours {t_base / t_ours:.2f}, peak RSS ratio {m_base / m_ours:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-big", action="store_true", help="only part 1")
    args = parser.parse_args()
    bench_curves(args.repeats)
    if not args.skip_big:
        bench_generate(args.users, args.days)


if __name__ == "__main__":
    main()
