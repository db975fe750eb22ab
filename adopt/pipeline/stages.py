"""The pipeline's stages: each calls one adopt stage function and says what it made.

Used by `adopt.pipeline.run_pipeline`, in this order: ingest, profiles, embed,
train, segment, curves, plan, report, score. Each stage function takes the
run's `RunContext` and returns a `StageResult`: the outputs the manifest
records (paths and key figures, JSON-able), the paths whose existence proves
the outputs are still there, and the stage's own summary object. The stage
libraries are imported lazily, so that importing the pipeline stays light.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adopt.configs import CurvesConfig, IngestConfig
from adopt.exceptions import WorkspaceError
from adopt.pipeline.runs import digest, file_digest, folder_fingerprint
from adopt.workspace import Workspace, atomic_path


@dataclass
class RunContext:
    """What the stages of one run share."""

    workspace: Workspace
    run_id: str
    run_dir: Path
    config: Path | None
    data_dir: Path | None
    world_dir: Path | None
    address: str | None
    options: dict[str, Any]
    # Outputs of the stages before: from this run, else the workspace's current ones.
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ray_started: bool = False

    def plan_folder(self) -> str:
        """The plan folder the plan stage made (this run or the workspace's current)."""
        folder = self.outputs.get("plan", {}).get("plan_folder")
        if folder is None:
            raise WorkspaceError(f"No plan in {self.workspace.root}: run the plan stage first.")
        return folder

    def ray(self) -> None:
        """Join the cluster at `address` once, before the first stage that uses Ray.

        Without an address the stages start a local Ray themselves, or join
        ``RAY_ADDRESS`` (set inside a submitted job), only when they need it.
        """
        if self.address is None:
            return
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
            self.ray_started = True


@dataclass
class StageResult:
    """What one stage made."""

    outputs: dict[str, Any]
    paths: list[str]
    summary: object = None


@dataclass(frozen=True)
class Stage:
    """A stage: its name, its function and the parameters that enter its key."""

    name: str
    run: Callable[[RunContext], StageResult]
    params: Callable[[RunContext], dict[str, Any]]


def _ingest(ctx: RunContext) -> StageResult:
    from adopt.ingest import ingest

    how = ctx.options.get("ingest") or {}
    summary = ingest(ctx.data_dir, ctx.workspace, **IngestConfig(**how).model_dump())
    loaded = {t.table: t.rows_loaded for t in summary.tables}
    return StageResult({"rows_loaded": loaded}, [str(ctx.workspace.warehouse)], summary)


def _profiles(ctx: RunContext) -> StageResult:
    from adopt.partitions import is_partitioned
    from adopt.profiles import build_profiles

    if is_partitioned(ctx.workspace):
        ctx.ray()  # the partition tasks run on the cluster at --address
    summary = build_profiles(ctx.workspace, address=ctx.address)
    return StageResult({"warehouse": str(ctx.workspace.warehouse)},
                       [str(ctx.workspace.warehouse)], summary)


def _embed(ctx: RunContext) -> StageResult:
    from adopt.embeddings import embed_workspace

    ctx.ray()
    summary = embed_workspace(ctx.workspace, model=ctx.options["embed_model"],
                              address=ctx.address)
    outputs = {"model_id": summary.model_id, "texts": summary.texts,
               "embedded": summary.embedded, "cached": summary.cached,
               "device": summary.device, "texts_per_second": round(summary.texts_per_second, 1)}
    return StageResult(outputs, [str(ctx.workspace.warehouse)], summary)


def _train(ctx: RunContext) -> StageResult:
    from adopt.response.run import train_response

    model = ctx.options["model"]
    ctx.ray()  # with --address: BERT trains there, LightGBM's "auto" engine too
    model_run = f"{ctx.run_id}-{model}"
    card = train_response(ctx.workspace, model=model, run_id=model_run,
                          seed=ctx.options["seed"], **ctx.options.get("split", {}))
    folder = ctx.workspace.models / model_run
    outputs = {"model_run_id": model_run, "model_folder": str(folder)} | card_figures(card.metrics)
    return StageResult(outputs, [str(folder / "card.json")], card)


def card_figures(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall click AUC / NE of the model and the base rate, from a model card's metrics."""
    figures: dict[str, Any] = {}
    for row in metrics:
        if row.get("slice") != "overall" or row.get("target", "click") != "click":
            continue
        prefix = "" if row.get("predictor") == "model" else "base_"
        for name in ("auc", "ne", "logloss"):
            value = row.get(name)
            if isinstance(value, int | float) and math.isfinite(value):
                figures[f"{prefix}{name}"] = round(float(value), 4)
    return figures


def _segment(ctx: RunContext) -> StageResult:
    from adopt.audiences import segment_workspace

    o = ctx.options
    summary = segment_workspace(ctx.workspace, k=o["k"], min_size=o["min_size"],
                                rules=o["rules"], seed=o["seed"])
    table = summary.segments
    shown = table if "suppressed" not in table else table[~table["suppressed"].astype(bool)]
    outputs = {"segments": int(len(shown)), "suppressed": int(len(table) - len(shown))}
    return StageResult(outputs, [str(ctx.workspace.warehouse)], summary)


def _curves(ctx: RunContext) -> StageResult:
    from adopt.curves import build_curves

    o = ctx.options
    ctx.ray()  # with --address: the "auto" scoring engine runs on that cluster
    model_run = ctx.outputs.get("train", {}).get("model_run_id")
    summary = build_curves(ctx.workspace, run_id=model_run, max_k=o["max_k"],
                           users_per_segment=o["users_per_segment"],
                           level_users=o["level_users"], n_boot=o["n_boot"],
                           creative_metric=o["creative_metric"], seed=o["seed"])
    folder = ctx.workspace.curves
    paths = [str(folder / name) for name in ("curves.parquet", "reach.parquet",
                                             "curves_boot.parquet")]
    return StageResult({"curves": paths[0], "reach": paths[1], "model_run_id": model_run},
                       paths, summary)


def _plan(ctx: RunContext) -> StageResult:
    from adopt.plan import make_plan

    plan = make_plan(ctx.config, workspace=ctx.workspace, where="the plan stage")
    folder, doc = plan.folder, plan.document
    certificate = doc.get("certificate") or {}
    outputs = {"plan_id": plan.plan_id, "plan_folder": str(folder), "status": doc.get("status"),
               "objective": doc.get("objective"), "totals": doc.get("totals"),
               "certificate_gap": certificate.get("gap"),
               "certified": certificate.get("certified")}
    return StageResult(outputs, [str(Path(folder) / "plan.json")], doc)


def _report(ctx: RunContext) -> StageResult:
    from adopt.report import build_report

    plan_folder = ctx.plan_folder()
    out = build_report(plan_folder, ctx.run_dir / "report.html", workspace=ctx.workspace,
                       min_segment_size=ctx.options["min_segment_size"])
    return StageResult({"report": str(out)}, [str(out)], out)


def _score(ctx: RunContext) -> StageResult:
    from adopt.scoring import score_plan

    plan_folder = ctx.plan_folder()
    card = score_plan(ctx.world_dir, ctx.workspace, plan_folder)
    doc = card.to_dict() if hasattr(card, "to_dict") else asdict(card)
    out = ctx.run_dir / "score.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=str))
    outputs = {"score": str(out)} | json.loads(json.dumps(doc, default=str))
    return StageResult(outputs, [str(out)], card)


def _data_params(ctx: RunContext) -> dict[str, Any]:
    params = {"data": folder_fingerprint(ctx.data_dir) if ctx.data_dir else None}
    how = ctx.options.get("ingest") or {}
    defaults = IngestConfig().model_dump()
    if any(how.get(name, value) != value for name, value in defaults.items()):
        params["ingest"] = how  # the defaults keep the keys of earlier runs
    return params


def _train_params(ctx: RunContext) -> dict[str, Any]:
    from adopt.response.split import split_settings

    params = _option_params("model", "seed")(ctx)
    default = split_settings()
    split = ctx.options.get("split") or default
    if split != default:
        params["split"] = split  # the default keeps the keys of earlier runs
    return params


def _none(ctx: RunContext) -> dict[str, Any]:
    return {}


def _option_params(*names: str) -> Callable[[RunContext], dict[str, Any]]:
    def params(ctx: RunContext) -> dict[str, Any]:
        return {n: ctx.options[n] for n in names}

    return params


def _segment_params(ctx: RunContext) -> dict[str, Any]:
    rules = ctx.options["rules"]
    if isinstance(rules, str | os.PathLike) and Path(rules).is_file():
        rules = file_digest(rules)
    return _option_params("k", "min_size", "seed")(ctx) | {"rules": digest(rules)}


def _curves_params(ctx: RunContext) -> dict[str, Any]:
    params = _option_params("max_k", "users_per_segment", "n_boot", "seed")(ctx)
    if ctx.options["level_users"] != CurvesConfig.default("level_users"):
        params["level_users"] = ctx.options["level_users"]  # the default keeps earlier runs' keys
    params["creative_metric"] = ctx.options["creative_metric"]  # earlier runs chose otherwise
    return params


def _plan_params(ctx: RunContext) -> dict[str, Any]:
    return {"config": file_digest(ctx.config) if ctx.config else None}


def _score_params(ctx: RunContext) -> dict[str, Any]:
    truth = ctx.world_dir / "truth" if ctx.world_dir else None
    return {"truth": folder_fingerprint(truth) if truth and truth.exists() else None}


STAGES: tuple[Stage, ...] = (
    Stage("ingest", _ingest, _data_params),
    Stage("profiles", _profiles, _none),
    Stage("embed", _embed, _option_params("embed_model")),
    Stage("train", _train, _train_params),
    Stage("segment", _segment, _segment_params),
    Stage("curves", _curves, _curves_params),
    Stage("plan", _plan, _plan_params),
    Stage("report", _report, _option_params("min_segment_size")),
    Stage("score", _score, _score_params),
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
