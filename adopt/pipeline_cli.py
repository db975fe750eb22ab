"""The pipeline's command-line arguments: `adopt run` (and `jobs.pipeline`, which runs it).

`add_arguments` defines the options; `run_from_args` maps them onto
`adopt.pipeline.run_pipeline`.
"""

from __future__ import annotations

import argparse

from adopt.stages import STAGE_NAMES


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
    p.add_argument("--k", type=int, default=12, help="segments (default 12)")
    p.add_argument("--min-size", type=int, default=50, help="smallest segment kept (default 50)")
    p.add_argument("--rules", default=None, help="rule segments (TOML) instead of k-means")
    p.add_argument("--max-k", type=int, default=10, help="impression positions per curve")
    p.add_argument("--users-per-segment", type=int, default=300, help="users sampled per curve")
    p.add_argument("--bootstrap", type=int, default=30, help="bootstrap draws per curve")
    p.add_argument("--world", default=None, help="synthetic world with truth/: score the plan")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true", help="rerun stages whose outputs are current")


def run_from_args(args: argparse.Namespace):
    """Run the pipeline with parsed arguments; returns the `RunSummary`."""
    from adopt.pipeline import run_pipeline

    return run_pipeline(
        args.workspace, args.config, data_dir=args.data, run_id=args.run_id,
        stages=args.stages, address=args.address, model=args.model,
        embed_model=args.embed_model, k=args.k, min_size=args.min_size, rules=args.rules,
        max_k=args.max_k, users_per_segment=args.users_per_segment, n_boot=args.bootstrap,
        world_dir=args.world, seed=args.seed, force=args.force,
    )
