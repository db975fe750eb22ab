"""Bench: the LightGBM train stage, rounds by cross-validation on every row (before issue 17)
against the default (time window, negatives thinned) and against Ray Train.

Runs `adopt.response.train_response` (the whole train stage: read the examples
and embeddings, split, fit both targets, calibrate, score the test days, write
the model and card) on a copy of a workspace, in a fresh spawned process per
run, so every run pays its own start-up (for Ray: starting a local Ray). The
variants run interleaved, round after round, so a shared machine's load falls
on all of them alike:

- ``cv``: ``validation="cv", negatives_per_positive=0, engine="local"``: the
  behaviour before issue 17, a target whose valid day holds fewer than 200
  positives is 5-fold cross-validated on all its rows;
- ``time_all``: ``validation="time", negatives_per_positive=0, engine="local"``:
  such a target stops early on the latest days instead (`adopt.response.lgbm`),
  cross-validation only for thin data; every negative kept;
- ``time``: the default (``validation="time"``, a target with thousands of
  positives fits on at most 10 negatives per positive), local;
- ``time_ray``: the default on Ray Train's LightGBMTrainer with ``--workers`` workers.

Prints per run the wall seconds, the driver's CPU seconds (on a loaded shared
machine the steadier figure for the local engine), each target's method,
rounds and share of negatives kept, and the test AUC; then per variant the
median seconds, the ratio to ``cv``, the median driver CPU seconds and the
median test AUC delta to ``cv`` (click and conversion), plus each process's
peak RSS.

    .venv/bin/python bench/train_bench.py --source /tmp/demo_ws [--rounds 3]
        [--variants cv,time_all,time,time_ray] [--workers 2]

The source workspace (a built demo world: `adopt demo`, or ingest, profiles and
embed) is copied, never written.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

VARIANTS: dict[str, dict[str, Any]] = {
    "cv": {"validation": "cv", "negatives_per_positive": 0, "engine": "local"},
    "time_all": {"validation": "time", "negatives_per_positive": 0, "engine": "local"},
    "time": {"validation": "time", "engine": "local"},
    "time_ray": {"validation": "time", "engine": "ray"},
}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its reaped children (the local engine's
    cost, less sensitive than wall time to a shared machine's load; Ray's workers are not in it)."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run(ws: str, variant: str, workers: int, seed: int, queue: mp.Queue) -> None:
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from adopt.response.run import train_response

    kwargs = dict(VARIANTS[variant])
    if kwargs["engine"] == "ray":
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _node_ip_address="127.0.0.1")
        kwargs["num_workers"] = workers
    started, cpu = time.perf_counter(), _cpu_seconds()
    card = train_response(ws, run_id=f"bench-{variant}", seed=seed, **kwargs)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    auc = {}
    for row in card.metrics:
        if row.get("slice") == "overall" and row.get("predictor") == "model":
            auc[row["target"]] = row["auc"]
    targets = card.hyperparameters["targets"]
    queue.put({"variant": variant, "seconds": seconds, "cpu_seconds": cpu, "auc": auc,
               "methods": {t: (v["method"], v.get("engine"), v.get("rounds"),
                               v.get("downsample_rate"))
                           for t, v in targets.items()},
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    if kwargs["engine"] == "ray":
        import ray

        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="built workspace (copied)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="cv,time_all,time,time_ray")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    variants = args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; choose among {', '.join(VARIANTS)}")
    tmp = Path(tempfile.mkdtemp(prefix="train_bench_"))
    ws = tmp / "ws"
    shutil.copytree(args.source, ws, ignore=shutil.ignore_patterns("models", "plans", "runs",
                                                                   "reports", "world"))
    ctx = mp.get_context("spawn")
    results: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            for v in variants:
                queue = ctx.Queue()
                proc = ctx.Process(target=_run, args=(str(ws), v, args.workers, args.seed, queue))
                proc.start()
                out = queue.get()
                proc.join()
                out["round"] = r
                results.append(out)
                print(f"round {r} {v:9s} {out['seconds']:7.1f}s (cpu {out['cpu_seconds']:6.1f}s)  "
                      + "  ".join(f"{t}: auc {a:.4f}" for t, a in out["auc"].items())
                      + "  " + "  ".join(f"{t}: {m[0]}/{m[1]}/{m[2]} rounds"
                                         + (f" (negatives {m[3]:.2f})" if m[3] else "")
                                         for t, m in out["methods"].items())
                      + f"  peak {out['peak_rss_mib']:.0f} MiB", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = [o for o in results if o["variant"] == variants[0]]
    base_s = statistics.median(o["seconds"] for o in base)
    print(f"\nmedians over {args.rounds} interleaved rounds (baseline {variants[0]}):")
    for v in variants:
        runs = [o for o in results if o["variant"] == v]
        sec = statistics.median(o["seconds"] for o in runs)
        cpu = statistics.median(o["cpu_seconds"] for o in runs)
        line = (f"  {v:9s} {sec:7.1f}s  ratio {sec / base_s:5.2f} of {variants[0]}  "
                f"driver cpu {cpu:6.1f}s")
        for target in runs[0]["auc"]:
            auc = statistics.median(o["auc"][target] for o in runs)
            ref = statistics.median(o["auc"][target] for o in base if target in o["auc"])
            line += f"  {target} auc {auc:.4f} (delta {auc - ref:+.4f})"
        print(line)


if __name__ == "__main__":
    main()
