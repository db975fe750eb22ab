"""The `adopt` subcommands of the whole pipeline: run, demo (and `jobs.pipeline`, which runs `run`).

`add_arguments` defines the pipeline's options; `run_from_args` maps them
onto `adopt.pipeline.run_pipeline`.
"""

from __future__ import annotations

import argparse

from adopt.cli.common import AddCommand, add_config_arguments, config_from_args
from adopt.configs import (
    CurvesConfig,
    EmbedConfig,
    IngestConfig,
    SegmentConfig,
    SplitConfig,
    TrainConfig,
)
from adopt.pipeline.stages import STAGE_NAMES

# the curve options `adopt run` takes; the others keep their defaults
RUN_CURVE_OPTIONS = ("max_k", "users_per_segment", "level_users", "n_boot")
# `adopt run` names ingest's --mode and embed's --model after their stage
INGEST_FLAGS = {"mode": "--ingest-mode"}
EMBED_FLAGS = {"model": "--embed-model"}


def add_commands(add: AddCommand) -> None:
    """Add the subcommands run, demo."""
    from adopt.cli.data import add_world_size
    from adopt.synth import DEMO_ADS, DEMO_DAYS, DEMO_USERS

    p = add("run", cmd_run,
            "run the whole pipeline under a run id (skips stages already done)")
    add_arguments(p)

    p = add("demo", cmd_demo, "generate the demo world and run every stage on it")
    p.add_argument("--workspace", default="demo_workspace", help="workspace folder")
    add_world_size(p, DEMO_USERS, DEMO_ADS, DEMO_DAYS)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the pipeline's options to `p`."""
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--config", default=None, help="plan file (TOML); needed for the plan stage")
    p.add_argument("--data", default=None, help="input files; without, start from the warehouse")
    p.add_argument("--run-id", default=None, help="run id (default: derived from the inputs)")
    p.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    p.add_argument("--stages", default=None, help=f"comma list among {','.join(STAGE_NAMES)}")
    add_config_arguments(p, TrainConfig, ("model",))
    add_config_arguments(p, EmbedConfig, ("model",), flags=EMBED_FLAGS)
    add_config_arguments(p, IngestConfig, flags=INGEST_FLAGS)
    add_split_arguments(p)
    add_config_arguments(p, SegmentConfig)
    add_config_arguments(p, CurvesConfig, RUN_CURVE_OPTIONS)
    p.add_argument("--world", default=None, help="synthetic world with truth/: score the plan")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true", help="rerun stages whose outputs are current")


def add_split_arguments(p: argparse.ArgumentParser) -> None:
    """The train split's options (`adopt train`, `adopt run`): days or shares."""
    add_config_arguments(p, SplitConfig)


def split_from_args(args: argparse.Namespace) -> dict[str, int | float | None]:
    """The split options of parsed arguments, as keyword arguments."""
    return {n: getattr(args, n) for n in SplitConfig.model_fields}


def run_from_args(args: argparse.Namespace):
    """Run the pipeline with parsed arguments; returns the `RunSummary`."""
    from adopt.pipeline import run_pipeline

    train = config_from_args(TrainConfig, args, "adopt run")
    embed = config_from_args(EmbedConfig, args, "adopt run", EMBED_FLAGS)
    ingest = config_from_args(IngestConfig, args, "adopt run", INGEST_FLAGS)
    segment = config_from_args(SegmentConfig, args, "adopt run")
    curves = config_from_args(CurvesConfig, args, "adopt run")
    return run_pipeline(
        args.workspace, args.config, data_dir=args.data, run_id=args.run_id,
        stages=args.stages, address=args.address, model=train.model,
        embed_model=embed.model, **dict(segment),
        **{n: getattr(curves, n) for n in RUN_CURVE_OPTIONS},
        world_dir=args.world, seed=args.seed, force=args.force,
        ingest_mode=ingest.mode, on_duplicate=ingest.on_duplicate,
        partitions=ingest.partitions, **split_from_args(args),
    )


def cmd_run(args: argparse.Namespace) -> None:
    print(run_from_args(args))


def cmd_demo(args: argparse.Namespace) -> None:
    from adopt.pipeline.demo import run_demo

    run_demo(args.workspace, users=args.users, ads=args.ads, days=args.days, seed=args.seed)
