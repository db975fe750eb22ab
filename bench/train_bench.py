"""Bench: the LightGBM train stage, today's rounds-by-cross-validation against the time window
and against Ray Train.

Runs `adopt.response.train_response` (the whole train stage: read the examples
and embeddings, split, fit both targets, calibrate, score the test days, write
the model and card) on a copy of a workspace, in a fresh spawned process per
run, so every run pays its own start-up (for Ray: starting a local Ray). The
variants run interleaved, round after round, so a shared machine's load falls
on all of them alike:

- ``cv``: ``validation="cv", engine="local"``: today's behaviour, a target whose
  valid day holds fewer than 200 positives is 5-fold cross-validated;
- ``time``: ``validation="time", engine="local"``: such a target stops early on
  the latest days instead (`adopt.response.lgbm`), cross-validation only for
  thin data;
- ``time_ray``: the same on Ray Train's LightGBMTrainer with ``--workers`` workers.

Prints per run the seconds, each target's method and rounds, and the test AUC;
then per variant the median seconds, the ratio to ``cv`` and the median test
AUC delta to ``cv`` (click and conversion), plus each process's peak RSS.

    .venv/bin/python bench/train_bench.py --source /tmp/demo_ws [--rounds 3]
        [--variants cv,time,time_ray] [--workers 2]

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
    "cv": {"validation": "cv", "engine": "local"},
    "time": {"validation": "time", "engine": "local"},
    "time_ray": {"validation": "time", "engine": "ray"},
}


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
    started = time.perf_counter()
    card = train_response(ws, run_id=f"bench-{variant}", seed=seed, **kwargs)
    seconds = time.perf_counter() - started
    auc = {}
    for row in card.metrics:
        if row.get("slice") == "overall" and row.get("predictor") == "model":
            auc[row["target"]] = row["auc"]
    targets = card.hyperparameters["targets"]
    queue.put({"variant": variant, "seconds": seconds, "auc": auc,
               "methods": {t: (v["method"], v.get("engine"), v.get("rounds"))
                           for t, v in targets.items()},
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    if kwargs["engine"] == "ray":
        import ray

        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="built workspace (copied)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="cv,time,time_ray")
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
                print(f"round {r} {v:9s} {out['seconds']:7.1f}s  "
                      + "  ".join(f"{t}: auc {a:.4f}" for t, a in out["auc"].items())
                      + "  " + "  ".join(f"{t}: {m[0]}/{m[1]}/{m[2]} rounds" for t, m in
                                         out["methods"].items())
                      + f"  peak {out['peak_rss_mib']:.0f} MiB", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = [o for o in results if o["variant"] == variants[0]]
    base_s = statistics.median(o["seconds"] for o in base)
    print(f"\nmedians over {args.rounds} interleaved rounds (baseline {variants[0]}):")
    for v in variants:
        runs = [o for o in results if o["variant"] == v]
        sec = statistics.median(o["seconds"] for o in runs)
        line = f"  {v:9s} {sec:7.1f}s  ratio {sec / base_s:5.2f} of {variants[0]}"
        for target in runs[0]["auc"]:
            auc = statistics.median(o["auc"][target] for o in runs)
            ref = statistics.median(o["auc"][target] for o in base if target in o["auc"])
            line += f"  {target} auc {auc:.4f} (delta {auc - ref:+.4f})"
        print(line)


if __name__ == "__main__":
    main()
