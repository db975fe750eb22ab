"""`adopt demo`: the pipeline end to end on a generated world, scored against its truth.

The demo writes a synthetic world under ``<workspace>/world`` (input files +
``truth/``), then runs `adopt.pipeline.run_pipeline` on it with the demo plan
file ``adopt/pipeline/demo_plan.toml``: ingest, profiles, embeddings (BERT on a local
Ray), LightGBM response model, audiences, response curves, plan, report, and
the score of the plan against the truth (oracle, uniform and historical
allocations at the same budget). It prints each stage's figures as it goes,
then the stage timings and where the report is.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from adopt.exceptions import WorkspaceError
from adopt.pipeline.runs import StageRecord, StageState
from adopt.pipeline.stages import STAGE_NAMES
from adopt.workspace import Workspace

log = logging.getLogger("adopt")

DEMO_PLAN = Path(__file__).with_name("demo_plan.toml")
MODEL_FIGURES = ("auc", "ne", "logloss", "base_auc", "base_ne", "base_logloss")


def run_demo(
    workspace: str | Path,
    *,
    users: int,
    ads: int,
    days: int,
    seed: int = 0,
    embed: bool = True,
    config: str | Path | None = None,
) -> dict[str, Any]:
    """Generate the demo world, run every stage on it and return its key figures.

    Parameters
    ----------
    workspace : path
        Workspace folder; created if missing. A previous demo world in it is
        replaced and the warehouse is rebuilt from scratch.
    users, ads, days, seed : int
        Size and seed of the synthetic world.
    embed : bool
        Run the BERT embedding stage (on a local Ray); without it the model and
        the audiences use no text vectors.
    config : path, optional
        Plan file; default the demo plan ``adopt/pipeline/demo_plan.toml``.

    Returns
    -------
    dict
        ``run_id``, ``seconds`` (total), ``stage_seconds`` (per stage, the world's
        generation included), ``world`` (its summary line), ``model`` (AUC and NE
        against the base rate), ``plan`` (totals and certificate gap),
        ``score`` (the ScoreCard), ``report`` (path) and ``manifest`` (path).
    """
    from adopt.pipeline import run_pipeline
    from adopt.synth import generate_world

    config = Path(config) if config is not None else DEMO_PLAN
    if not config.is_file():
        raise WorkspaceError(f"The demo plan file {config} is missing.")
    ws = Workspace.of(workspace).ensure()
    started = time.perf_counter()
    world = ws.root / "world"
    if world.exists():
        shutil.rmtree(world)
    # A demo starts from an empty warehouse, so its figures are its own.
    ws.warehouse.unlink(missing_ok=True)
    StageState(ws).invalidate(list(STAGE_NAMES))

    _step("generate the demo world")
    t0 = time.perf_counter()
    world_summary = generate_world(world, users=users, ads=ads, days=days, seed=seed)
    generate_seconds = round(time.perf_counter() - t0, 2)
    print(world_summary, flush=True)

    stages = [n for n in STAGE_NAMES if embed or n != "embed"]
    _step(STAGE_NAMES[0])
    run = run_pipeline(ws, config, data_dir=world, world_dir=world, stages=stages,
                       seed=seed, on_stage=_printer(stages))

    figures: dict[str, Any] = {
        "run_id": run.run_id,
        "seconds": round(time.perf_counter() - started, 1),
        "stage_seconds": {"generate": generate_seconds}
        | {r.name: r.seconds for r in run.manifest.stages},
        "world": str(world_summary).splitlines()[0],
        "model": {k: v for k, v in run.outputs("train").items() if k in MODEL_FIGURES},
        "plan": {k: run.outputs("plan").get(k) for k in ("plan_id", "plan_folder", "totals",
                                                         "certificate_gap", "certified")},
        "score": run.results.get("score"),
        "report": str(run.report) if run.report else None,
        "manifest": str(run.manifest.path),
    }
    _step("done")
    print(_timings(figures["stage_seconds"]))
    print(f"total time: {figures['seconds']} s")
    print(f"workspace:  {ws.root}")
    print(f"world:      {world} (ground truth in {world / 'truth'})")
    print(f"plan:       {figures['plan']['plan_folder']}")
    print(f"report:     {figures['report']}")
    print(f"manifest:   {figures['manifest']}")
    return figures


def _printer(stages: list[str]):
    """Print each stage's figures when it ends, then the next stage's title."""

    def on_stage(record: StageRecord, result: object) -> None:
        if record.name == "train" and record.outputs:
            o = record.outputs
            print(f"click model on the test days: AUC {o.get('auc')} (base rate "
                  f"{o.get('base_auc', 0.5)}), normalised entropy {o.get('ne')} "
                  f"(base rate {o.get('base_ne', 1.0)})")
        elif record.name == "plan" and record.outputs:
            print(_plan_lines(record.outputs))
        elif result is not None:
            print(result)
        print(f"({record.name}: {record.status} in {record.seconds}s)", flush=True)
        following = stages.index(record.name) + 1
        if following < len(stages):
            _step(stages[following])

    return on_stage


def _plan_lines(o: dict[str, Any]) -> str:
    totals = o.get("totals") or {}
    kpis = ", ".join(f"{k} {v:,.2f}" if isinstance(v, int | float) else f"{k} {v}"
                     for k, v in totals.items())
    return (f"plan {o.get('plan_id')} ({o.get('status')}): {kpis}\n"
            f"certificate: duality gap {o.get('certificate_gap')}, "
            f"certified {o.get('certified')}\nplan folder: {o.get('plan_folder')}")


def _timings(seconds: dict[str, float | None]) -> str:
    lines = ["stage timings:"]
    lines += [f"  {name:<9} {s:8.1f} s" for name, s in seconds.items() if s is not None]
    return "\n".join(lines)


def _step(name: str) -> None:
    print(f"\n== {name}", flush=True)
