"""Bench: scoring the curve stage's counterfactual rows in one process against Ray Data.

The curve stage predicts model rows for cells (ad x placement x k) over
sampled users. This bench builds such grids of growing size on a built
workspace with a trained model (``C`` cells x ``--users`` users each), and
scores each, in a fresh spawned process per run, with:

- ``local``: `adopt.curves.pairs.predict_rows` in this process (batches of
  ``BATCH_ROWS`` = 200,000 rows, as the stage does today);
- ``ray``: `adopt.curves.score_ray.predict_rows_on_ray`, ``map_batches`` actors on
  a local Ray of ``--actors`` CPUs (batches of 20,000 rows).

The two engines run interleaved per size. Printed per run: rows, rows/s, the
driver's peak RSS (``ru_maxrss``), the largest peak RSS of any single process
of the run's tree and the peak total RSS of the tree (both sampled from /proc
every 0.2 s; for Ray the tree holds GCS, raylet and the actors). Then per
engine and size the median rows/s, and the peak RSS per process against the
number of cells: the memory bound is what stays flat as the cells grow.

    .venv/bin/python bench/curves_score_bench.py --workspace WS --run-id RUN
        [--cells 500,2000,8000] [--users 100] [--rounds 2] [--actors 2]

The workspace is only read.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any


def _rss_by_process(root: int) -> dict[int, int]:
    """VmRSS (KiB) of ``root`` and each of its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1])
        except OSError:
            continue
    return out


class Sampler:
    """Peak RSS of the largest single process and of the whole tree, every 0.2 s."""

    def __init__(self) -> None:
        self.proc_kib = self.tree_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _rss_by_process(os.getpid())
            if rss:
                self.proc_kib = max(self.proc_kib, max(rss.values()))
                self.tree_kib = max(self.tree_kib, sum(rss.values()))
            self._stop.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _run(ws: str, run_id: str, engine: str, cells: int, users: int, actors: int, seed: int,
         queue: mp.Queue) -> None:
    import numpy as np

    from adopt.curves.pairs import load_response_model, predict_rows, text_feature_hook
    from adopt.curves.state import PairState

    state = PairState.load(ws)
    model, _ = load_response_model(ws, run_id)
    attach = text_feature_hook(ws, model)
    rng = np.random.default_rng(seed)
    n_ads, n_pl = len(state.ads), len(state.placements)
    combos = np.arange(n_ads * n_pl * 10)
    cell = rng.choice(combos, size=cells, replace=cells > len(combos))
    a, p, k = cell // (n_pl * 10), (cell // 10) % n_pl, cell % 10 + 1
    u = rng.integers(len(state.users), size=(cells, users)).ravel()
    a, p, k = (np.repeat(x, users) for x in (a, p, k))
    if engine == "ray":
        import ray

        ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _node_ip_address="127.0.0.1")
    with Sampler() as sampler:
        started = time.perf_counter()
        if engine == "ray":
            from adopt.curves.score_ray import predict_rows_on_ray

            out = predict_rows_on_ray(state, model, u, a, p, k, attach=attach, actors=actors)
        else:
            out = predict_rows(state, model, u, a, p, k, attach=attach)
        seconds = time.perf_counter() - started
    queue.put({"engine": engine, "cells": cells, "rows": len(u), "seconds": seconds,
               "rows_per_s": len(u) / seconds,
               "driver_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "process_mib": sampler.proc_kib / 1024, "tree_mib": sampler.tree_kib / 1024,
               "checksum": float(out["p_click"].sum())})
    if engine == "ray":
        import ray

        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--run-id", required=True, help="model run under WS/models")
    parser.add_argument("--cells", default="500,2000,8000")
    parser.add_argument("--users", type=int, default=100, help="users per cell")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    results: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for cells in map(int, args.cells.split(",")):
            for engine in args.engines.split(","):
                queue = ctx.Queue()
                proc = ctx.Process(target=_run, args=(args.workspace, args.run_id, engine, cells,
                                                      args.users, args.actors, args.seed, queue))
                proc.start()
                out = queue.get()
                proc.join()
                results.append(out)
                print(f"round {r} {engine:5s} {cells:6d} cells {out['rows']:9,d} rows "
                      f"{out['seconds']:7.1f}s {out['rows_per_s']:9,.0f} rows/s  driver "
                      f"{out['driver_mib']:6.0f} MiB  largest process {out['process_mib']:6.0f} "
                      f"MiB  tree {out['tree_mib']:6.0f} MiB  sum p_click "
                      f"{out['checksum']:.6f}", flush=True)
    print(f"\nmedians over {args.rounds} rounds:")
    print("engine   cells       rows    rows/s  driver MiB  largest process MiB  tree MiB")
    for engine in args.engines.split(","):
        for cells in map(int, args.cells.split(",")):
            runs = [o for o in results if o["engine"] == engine and o["cells"] == cells]
            med = {key: statistics.median(o[key] for o in runs)
                   for key in ("rows_per_s", "driver_mib", "process_mib", "tree_mib")}
            print(f"{engine:6s} {cells:7d} {runs[0]['rows']:10,d} {med['rows_per_s']:9,.0f} "
                  f"{med['driver_mib']:10.0f} {med['process_mib']:20.0f} {med['tree_mib']:9.0f}")


if __name__ == "__main__":
    main()
