"""The `adopt` subcommands of the whole pipeline: run, demo (and `jobs.pipeline`, which runs `run`).

`add_arguments` defines the pipeline's options; `run_from_args` maps them
onto `adopt.pipeline.run_pipeline`.
"""

from __future__ import annotations

import argparse

from adopt.audiences.segment import DEFAULT_K, DEFAULT_MIN_SIZE
from adopt.cli.common import AddCommand
from adopt.curves.build import DEFAULT_MAX_K, DEFAULT_N_BOOT, DEFAULT_USERS_PER_SEGMENT
from adopt.pipeline.stages import STAGE_NAMES


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
    p.add_argument("--model", choices=("lightgbm", "bert"), default="lightgbm",
                   help="response model (default lightgbm)")
    p.add_argument("--embed-model", default=None, help="local BERT folder for embeddings")
    p.add_argument("--ingest-mode", choices=("append", "replace"), default=None,
                   help="ingest --mode: what changed input files do to the warehouse")
    p.add_argument("--on-duplicate", choices=("refuse", "replace"), default="refuse",
                   help="ingest --on-duplicate (default refuse)")
    p.add_argument("--partitions", type=int, default=None, metavar="N",
                   help="ingest --partitions: also write N user-hash partitions; the profiles "
                        "stage then runs one Ray task a partition")
    add_split_arguments(p)
    p.add_argument("--k", type=int, default=DEFAULT_K, help=f"segments (default {DEFAULT_K})")
    p.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE,
                   help=f"smallest segment kept (default {DEFAULT_MIN_SIZE})")
    p.add_argument("--rules", default=None, help="rule segments (TOML) instead of k-means")
    p.add_argument("--max-k", type=int, default=DEFAULT_MAX_K,
                   help="impression positions per curve")
    p.add_argument("--users-per-segment", type=int, default=DEFAULT_USERS_PER_SEGMENT,
                   help="users sampled per curve")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_N_BOOT,
                   help="bootstrap draws per curve")
    p.add_argument("--world", default=None, help="synthetic world with truth/: score the plan")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true", help="rerun stages whose outputs are current")


def add_split_arguments(p: argparse.ArgumentParser) -> None:
    """The train split's options (`adopt train`, `adopt run`): days or shares."""
    p.add_argument("--valid-days", type=int, default=None, metavar="N",
                   help="days of the valid period, before the test days (default 1)")
    p.add_argument("--test-days", type=int, default=None, metavar="N",
                   help="days of the test period, the last ones (default 1)")
    p.add_argument("--valid-frac", type=float, default=None, metavar="F",
                   help="instead of days: the share of the examples, in time order, for valid "
                        "(sparse or long logs; default 0.15 when --test-frac is given)")
    p.add_argument("--test-frac", type=float, default=None, metavar="F",
                   help="instead of days: the last share of the examples for test "
                        "(default 0.15 when --valid-frac is given)")


def split_from_args(args: argparse.Namespace) -> dict[str, int | float | None]:
    """The split options of parsed arguments, as keyword arguments."""
    return {n: getattr(args, n) for n in ("valid_days", "test_days", "valid_frac", "test_frac")}


def run_from_args(args: argparse.Namespace):
    """Run the pipeline with parsed arguments; returns the `RunSummary`."""
    from adopt.pipeline import run_pipeline

    return run_pipeline(
        args.workspace, args.config, data_dir=args.data, run_id=args.run_id,
        stages=args.stages, address=args.address, model=args.model,
        embed_model=args.embed_model, k=args.k, min_size=args.min_size, rules=args.rules,
        max_k=args.max_k, users_per_segment=args.users_per_segment, n_boot=args.bootstrap,
        world_dir=args.world, seed=args.seed, force=args.force,
        ingest_mode=args.ingest_mode, on_duplicate=args.on_duplicate,
        partitions=args.partitions, **split_from_args(args),
    )


def cmd_run(args: argparse.Namespace) -> None:
    print(run_from_args(args))


def cmd_demo(args: argparse.Namespace) -> None:
    from adopt.pipeline.demo import run_demo

    run_demo(args.workspace, users=args.users, ads=args.ads, days=args.days, seed=args.seed)
