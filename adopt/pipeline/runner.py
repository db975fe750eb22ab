"""The pipeline runner: every stage from input files to a scored plan, under a run id.

``run_pipeline`` runs the stages of `adopt.pipeline.stages` in order (ingest, profiles,
embed, train, segment, curves, plan, report, and score when a world with
ground truth is given) and records each in ``WS/runs/<run_id>/manifest.json``
(see `adopt.pipeline.runs`). A stage whose inputs did not change since the workspace's
current outputs of it were made is skipped, so a retried job, with the same
run id or not, redoes only what failed or changed; the stages themselves are
idempotent (ingest drops rows already loaded, the others replace their
outputs atomically), so a rerun never duplicates rows. The plan lands in
``WS/plans/<plan_id>/`` (linked from the manifest), the report in
``WS/runs/<run_id>/report.html``.

The same runner serves ``adopt run``, ``python -m jobs.pipeline`` (also as a
submitted Ray job) and ``adopt demo``. Only the stages that need Ray start
or join it: ``address`` joins a cluster, ``RAY_ADDRESS`` (set inside a
submitted job) is honoured, otherwise a local Ray starts.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adopt.configs import (
    CurvesConfig,
    IngestConfig,
    ReportConfig,
    SegmentConfig,
    TrainConfig,
    creative_metric_for,
)
from adopt.exceptions import ParameterError
from adopt.pipeline.runs import (
    Manifest,
    StageRecord,
    StageState,
    check_run_id,
    default_run_id,
    digest,
    now,
)
from adopt.pipeline.stages import STAGE_NAMES, STAGES, RunContext
from adopt.ray_client import is_client_address, run_on_cluster
from adopt.workspace import Workspace, has_table

log = logging.getLogger("adopt")
# the stages' defaults
_SEGMENT, _CURVES = SegmentConfig(), CurvesConfig()
_INGEST, _REPORT, _TRAIN = IngestConfig(), ReportConfig(), TrainConfig()


@dataclass
class RunSummary:
    """What a pipeline run did.

    Attributes
    ----------
    run_id : str
    workspace : Path
    manifest : Manifest
        The run's manifest, as saved in ``WS/runs/<run_id>/manifest.json``.
    results : dict
        The summary object of each stage this call ran (e.g. the IngestSummary,
        the ModelCard, the ScoreCard); skipped stages have none.
    seconds : float
        Wall time of this call.
    """

    run_id: str
    workspace: Path
    manifest: Manifest
    results: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0

    def outputs(self, stage: str) -> dict[str, Any]:
        """The outputs the manifest records for `stage` (empty when it did not run)."""
        try:
            return self.manifest.stage(stage).outputs
        except KeyError:
            return {}

    @property
    def plan_folder(self) -> Path | None:
        """The plan folder ``WS/plans/<plan_id>``, when the plan stage ran or was reused."""
        folder = self.outputs("plan").get("plan_folder")
        return Path(folder) if folder else None

    @property
    def report(self) -> Path | None:
        """The report's path, when the report stage ran or was reused."""
        path = self.outputs("report").get("report")
        return Path(path) if path else None

    def __str__(self) -> str:
        lines = [f"run {self.run_id} in {self.workspace}: {self.manifest.status} "
                 f"in {self.seconds:.1f}s (manifest {self.manifest.path})"]
        for r in self.manifest.stages:
            secs = f"{r.seconds:7.1f}s" if r.seconds is not None else " " * 8
            note = f"  (outputs of run {r.made_by})" if r.status == "skipped" else ""
            if r.status == "done" and r.attempt and r.attempt < self.manifest.attempts:
                note = f"  (by attempt {r.attempt})"
            if r.error:
                note = f"  {r.error}"
            lines.append(f"  {r.name:<9} {r.status:<8} {secs}{note}")
        return "\n".join(lines)


def run_pipeline(
    workspace: str | os.PathLike[str],
    config: str | os.PathLike[str] | None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    stages: Sequence[str] | None = None,
    address: str | None = None,
    model: str = _TRAIN.model,
    embed_model: str | os.PathLike[str] | None = None,
    k: int = _SEGMENT.k,
    min_size: int = _SEGMENT.min_size,
    rules: str | os.PathLike[str] | None = _SEGMENT.rules,
    max_k: int = _CURVES.max_k,
    users_per_segment: int = _CURVES.users_per_segment,
    level_users: int = _CURVES.level_users,
    n_boot: int = _CURVES.n_boot,
    min_segment_size: int = _REPORT.min_segment_size,
    ingest_mode: str | None = _INGEST.mode,
    on_duplicate: str = _INGEST.on_duplicate,
    partitions: int | None = _INGEST.partitions,
    valid_days: int | None = None,
    test_days: int | None = None,
    valid_frac: float | None = None,
    test_frac: float | None = None,
    world_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    force: bool = False,
    on_stage: Callable[[StageRecord, object], None] | None = None,
) -> RunSummary:
    """Run the pipeline's stages in order under a run id; skip those already done.

    Parameters
    ----------
    workspace : path
        Workspace folder (created when missing).
    config : path or None
        The plan file (TOML, see ``adopt/optimize/README.md``); needed when the
        plan stage runs. It is parsed before any stage runs, so a bad plan file
        fails at once.
    data_dir : path, optional
        Input files (the input contract). Given: the run starts with ingest.
        None: the run starts from the warehouse as it is.
    run_id : str, optional
        Folder name under ``WS/runs``. Default ``run-<hash>`` of the inputs'
        fingerprint (input files, plan file, options), so rerunning the same
        inputs finds the same run.
    stages : sequence of str, optional
        Run only these stages (names from `adopt.pipeline.stages.STAGE_NAMES`); default
        all that apply (ingest only with `data_dir`, score only with `world_dir`).
    address : str, optional
        Ray cluster for the stages that use Ray (partitioned profiles, embed,
        training, curve scoring). A ``ray://`` (Ray Client) address runs the
        whole run as one task on that cluster (`adopt.ray_client`).
    model : {"lightgbm", "bert"}
        Response model to train.
    embed_model : path, optional
        Local BERT folder for the embeddings (default: the bundled MiniLM).
    k, min_size, rules : segment stage options (`adopt.configs.SegmentConfig`).
    max_k, users_per_segment, level_users, n_boot : curve stage options
        (`adopt.configs.CurvesConfig`). The curves choose each cell's creative by the
        plan file's objective (clicks for reach; conversions without a plan file).
    ingest_mode, on_duplicate : ingest's ``mode`` and ``on_duplicate`` (see
        `adopt.ingest.ingest`): what a rerun with changed input files does to the
        warehouse. Default: append, refusing data loaded again with changes.
    partitions : int, optional
        Ingest also writes the event-grain tables as this many user-hash
        partitions, and the profiles stage then runs one Ray task a partition
        (docs/scale.md).
    valid_days, test_days, valid_frac, test_frac : the train stage's split
        (see `adopt.response.run.train_response`): whole days, default 1 each,
        or shares of the examples in time order.
    min_segment_size : int
        Report: segments smaller than this are not shown individually.
    world_dir : path, optional
        A synthetic world with ``truth/``: adds the score stage (plan vs oracle,
        uniform and historical allocations on the truth).
    seed : int
        Seed passed to the stages that draw random numbers.
    force : bool
        Rerun every selected stage even when its outputs are current.
    on_stage : callable, optional
        Called after each stage with its manifest record and its summary object
        (None when skipped); `adopt demo` prints the figures with it.

    Returns
    -------
    RunSummary

    Raises
    ------
    ParameterError
        Unknown stage names, a bad run id, a missing plan file or data folder.
    AdoptError
        The error of the stage that failed; the manifest records it, and the
        outputs of the stages before it stay.
    """
    if is_client_address(address):
        # Ray Data cannot run under Ray Client: the whole run drives from the cluster
        return run_on_cluster(address, run_pipeline, **{**locals(), "address": None})
    started = time.perf_counter()
    ws = Workspace.of(workspace).ensure()
    cfg = _existing(config, "config") if config is not None else None
    data = _existing(data_dir, "data_dir") if data_dir is not None else None
    world = _existing(world_dir, "world_dir") if world_dir is not None else None
    selected = _select(stages, data is not None, world is not None)
    if "plan" in selected and cfg is None:
        raise ParameterError("The 'config' parameter of run_pipeline is needed to run the "
                             "plan stage: give a plan file (TOML). Got None instead.")
    creative_metric = _CURVES.creative_metric
    if cfg is not None:
        from adopt.optimize import load_spec

        # a bad plan file fails before hours of work; the curves choose each cell's creative
        # for the plan's own objective
        creative_metric = creative_metric_for(load_spec(cfg).objective.metric)
    if model not in ("lightgbm", "bert"):
        raise ParameterError("The 'model' parameter of run_pipeline must be 'lightgbm' or "
                             f"'bert'. Got {model!r} instead.")
    from adopt.ingest.load import check_choices
    from adopt.response.split import split_settings

    check_choices(ingest_mode, on_duplicate, caller="run_pipeline")
    if partitions is not None:
        from adopt.partitions import check_partitions

        check_partitions(partitions)
    split = split_settings(valid_days, test_days, valid_frac, test_frac, caller="run_pipeline")
    # a bad option fails before hours of work
    segment = SegmentConfig.of("run_pipeline", k=k, min_size=min_size, rules=_path_or_name(rules))
    curves = CurvesConfig.of("run_pipeline", max_k=max_k, users_per_segment=users_per_segment,
                             level_users=level_users, n_boot=n_boot)
    report = ReportConfig.of("run_pipeline", min_segment_size=min_segment_size)
    options = {"model": model, "embed_model": _path_or_name(embed_model),
               **segment.model_dump(), "max_k": curves.max_k,
               "users_per_segment": curves.users_per_segment,
               "level_users": curves.level_users, "n_boot": curves.n_boot,
               "creative_metric": creative_metric,
               "min_segment_size": report.min_segment_size, "seed": seed,
               "ingest": {"mode": ingest_mode, "on_duplicate": on_duplicate}
               | ({"partitions": partitions} if partitions is not None else {}),
               "split": split}
    ctx = RunContext(workspace=ws, run_id="", run_dir=ws.root, config=cfg, data_dir=data,
                     world_dir=world, address=address, options=options)
    keys = _stage_keys(ctx)
    run_id = check_run_id(run_id) if run_id else default_run_id(digest(keys))
    ctx.run_id, ctx.run_dir = run_id, ws.runs / run_id
    ctx.run_dir.mkdir(parents=True, exist_ok=True)

    previous = Manifest.find(ws, run_id)
    manifest = Manifest(
        run_id=run_id, workspace=str(ws.root), created=now(),
        params={"config": str(cfg) if cfg else None, "data_dir": str(data) if data else None,
                "world_dir": str(world) if world else None, "address": address} | options,
        stages=[StageRecord(name, key=keys[name]) for name in selected],
        attempts=previous.attempts + 1 if previous else 1,
    )
    if previous is not None:
        manifest.created = previous.created
        done = {r.name: r for r in previous.stages if r.status == "done"}
        manifest.stages = [done.get(r.name, r) if done.get(r.name, r).key == r.key else r
                           for r in manifest.stages]
    manifest.save()
    state = StageState(ws)
    ctx.outputs = {name: entry["outputs"] for name, entry in state.entries.items()}
    summary = RunSummary(run_id, ws.root, manifest)
    log.info("run %s: stages %s in %s", run_id, ", ".join(selected), ws.root)
    try:
        for i, record in enumerate(manifest.stages, 1):
            _run_stage(ctx, record, state, manifest, summary, f"[{i}/{len(selected)}]", force)
            if on_stage is not None:
                on_stage(record, summary.results.get(record.name))
        manifest.status = "done"
    except BaseException:
        manifest.status = "failed"
        raise
    finally:
        manifest.finished = now()
        manifest.save()
        if ctx.ray_started:
            import ray

            ray.shutdown()
        summary.seconds = time.perf_counter() - started
        log.info("run %s: %s in %.1fs; manifest %s", run_id, manifest.status, summary.seconds,
                 manifest.path)
    return summary


def _run_stage(ctx: RunContext, record: StageRecord, state: StageState, manifest: Manifest,
               summary: RunSummary, step: str, force: bool) -> None:
    """Skip `record`'s stage when its outputs are current, else run it and record the result."""
    name = record.name
    entry = None if force else state.current(name, record.key)
    if entry is not None:
        ctx.outputs[name] = entry["outputs"]
        if record.status == "done" and entry["run_id"] == ctx.run_id:
            log.info("run %s: %s %s: done by attempt %s, outputs current", ctx.run_id, step,
                     name, record.attempt)
            return
        record.status, record.made_by, record.outputs = "skipped", entry["run_id"], entry["outputs"]
        record.started = record.seconds = record.error = record.attempt = None
        manifest.save()
        log.info("run %s: %s %s: skipped, outputs current (made by run %s)", ctx.run_id, step,
                 name, entry["run_id"])
        return
    # The stage's outputs and everything after them are about to change.
    state.invalidate(list(STAGE_NAMES[STAGE_NAMES.index(name):]))
    record.status, record.started, record.error = "running", now(), None
    record.made_by, record.attempt, record.outputs = None, manifest.attempts, {}
    manifest.save()
    log.info("run %s: %s %s: running", ctx.run_id, step, name)
    t0 = time.perf_counter()
    stage = next(s for s in STAGES if s.name == name)
    try:
        result = stage.run(ctx)
    except BaseException as exc:
        record.status, record.seconds = "failed", round(time.perf_counter() - t0, 2)
        record.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        manifest.save()
        log.error("run %s: %s %s: failed after %.1fs: %s", ctx.run_id, step, name,
                  record.seconds, record.error)
        raise
    record.status, record.seconds = "done", round(time.perf_counter() - t0, 2)
    record.outputs, record.made_by = result.outputs, ctx.run_id
    ctx.outputs[name] = result.outputs
    summary.results[name] = result.summary
    state.record(name, record.key, ctx.run_id, result.outputs, result.paths)
    manifest.save()
    log.info("run %s: %s %s: done in %.1fs", ctx.run_id, step, name, record.seconds)


def _stage_keys(ctx: RunContext) -> dict[str, str]:
    """Each stage's key: the key before it chained with the stage's own parameters."""
    keys: dict[str, str] = {}
    previous = _warehouse_fingerprint(ctx) if ctx.data_dir is None else "inputs"
    for stage in STAGES:
        previous = digest(previous, stage.name, stage.params(ctx))
        keys[stage.name] = previous
    return keys


def _warehouse_fingerprint(ctx: RunContext) -> str:
    """Without input files, the warehouse's ingest log stands for the data."""
    if not ctx.workspace.warehouse.is_file():
        return "no-warehouse"
    with ctx.workspace.connect(read_only=True) as con:
        rows = (con.execute("select * from ingest_log").fetchall()
                if has_table(con, "ingest_log") else [])
    return digest([list(map(str, r)) for r in rows])


def _select(stages: Sequence[str] | None, has_data: bool, has_world: bool) -> list[str]:
    if stages is None:
        return [n for n in STAGE_NAMES
                if (n != "ingest" or has_data) and (n != "score" or has_world)]
    if isinstance(stages, str):
        stages = [s.strip() for s in stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGE_NAMES]
    if unknown or not stages:
        raise ParameterError(f"The 'stages' parameter of run_pipeline must name stages among "
                             f"{', '.join(STAGE_NAMES)}. Got {list(stages)!r} instead.")
    if "ingest" in stages and not has_data:
        raise ParameterError("The ingest stage needs the 'data_dir' parameter of run_pipeline "
                             "(the input files). Got None instead.")
    if "score" in stages and not has_world:
        raise ParameterError("The score stage needs the 'world_dir' parameter of run_pipeline "
                             "(a world with truth/). Got None instead.")
    return [n for n in STAGE_NAMES if n in stages]


def _existing(path: str | os.PathLike[str], name: str) -> Path:
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise ParameterError(f"The '{name}' parameter of run_pipeline must be an existing path. "
                             f"Got {str(path)!r}, which does not exist.")
    return p


def _path_or_name(value: str | os.PathLike[str] | None) -> str | None:
    """An existing path made absolute (jobs run elsewhere); anything else as given."""
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p.resolve()) if p.exists() else str(value)
