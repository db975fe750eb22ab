"""The `adopt` command: one subcommand per stage, plus `demo`.

Each subcommand parses its arguments and calls the library; errors that adopt
raises on purpose, and filesystem failures (`OSError`: permission denied, a
file where a folder is needed, a read-only disk...), print one line and exit
with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from adopt import commands
from adopt.exceptions import AdoptError
from adopt.progress import setup_logging

EXIT_BAD_INPUT = 2


def _add_world_size(p: argparse.ArgumentParser, users: int, ads: int, days: int) -> None:
    p.add_argument("--users", type=int, default=users, help=f"number of users (default {users})")
    p.add_argument("--ads", type=int, default=ads, help=f"number of ads (default {ads})")
    p.add_argument("--days", type=int, default=days, help=f"days of logs (default {days})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
    from adopt.audiences.segment import DEFAULT_K, DEFAULT_MIN_SIZE
    from adopt.curves.build import DEFAULT_MAX_K, DEFAULT_N_BOOT, DEFAULT_USERS_PER_SEGMENT
    from adopt.pipeline_cli import add_split_arguments
    from adopt.report.privacy import MIN_SEGMENT_SIZE
    from adopt.synth import DEMO_ADS, DEMO_DAYS, DEMO_USERS

    parser = argparse.ArgumentParser(
        prog="adopt",
        description="Ad-targeting optimization: from raw ad logs to a certified-optimal plan.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], None], help: str):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("generate", commands.cmd_generate, "write a synthetic world (input contract + truth/)")
    p.add_argument("--out", required=True, help="folder to write the world to")
    _add_world_size(p, DEMO_USERS, DEMO_ADS, DEMO_DAYS)
    p.add_argument("--fatigue", choices=("logit", "geometric"), default="logit",
                   help="how clicks fall with a user's k-th impression of a campaign: 'logit' "
                        "subtracts a penalty from the click logit, 'geometric' multiplies the "
                        "click probability by R^(k-1) (default logit)")
    p.add_argument("--fatigue-rate", type=float, default=0.72, metavar="R",
                   help="the geometric form's factor per impression, in (0, 1] (default 0.72)")
    p.add_argument("--shards", type=int, default=None, metavar="N",
                   help="write events and behaviors as files that each hold one of N user "
                        "shards (big worlds; memory stays about two parts)")

    p = add("ingest", commands.cmd_ingest, "validate input files and load them into the warehouse")
    p.add_argument("data_dir", help="folder with one file (or folder) per table")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument(
        "--mode",
        choices=("append", "replace"),
        default=None,
        help="what to do with a warehouse that already holds data: 'replace' its input tables "
        "with this input (atomically), or 'append' to it. Default: append, but refuse rows "
        "that look like data loaded again (see docs/ingest.md)",
    )
    p.add_argument(
        "--on-duplicate",
        choices=("refuse", "replace"),
        default="refuse",
        help="an impression_id the warehouse already holds on a different row: refuse the "
        "ingest (default), or replace the warehouse's events of that impression",
    )
    p.add_argument(
        "--pseudonymize-salt",
        default=None,
        metavar="SALT",
        help="replace user ids by a salted hash at load time (keep the salt secret and constant)",
    )
    p.add_argument("--partitions", type=int, default=None, metavar="N",
                   help="also write users, events and behaviors as N user-hash Parquet "
                        "partitions, so `adopt profiles` runs on Ray over them (default: "
                        "keep the workspace's partitioning, if any)")

    from adopt.importers import DEFAULT_CPM, FORMATS

    p = add("import", commands.cmd_import, "convert a public data set into the input contract")
    p.add_argument("format", choices=FORMATS, help="the data set's layout")
    p.add_argument("src", help="the data set folder or file, as its publisher distributes it")
    p.add_argument("--out", required=True, help="output data folder (replaced on success)")
    p.add_argument(
        "--cpm", type=float, default=None, help=f"CPM for every placement (default {DEFAULT_CPM})"
    )
    p.add_argument(
        "--memory-limit", default="2GB", help="DuckDB memory limit; larger work spills to disk"
    )

    p = add("profiles", commands.cmd_profiles,
            "build user profiles, ad history and training examples")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--as-of", default=None, help="profile reference time (default: last event)")
    p.add_argument("--memory-limit", default=None,
                   help="DuckDB memory limit, e.g. 4GB (larger work spills to disk)")
    p.add_argument("--threads", type=int, default=None,
                   help="DuckDB threads (default: all; partitioned: CPUs a partition task, 1)")
    p.add_argument("--single-node", dest="partitioned", action="store_false", default=None,
                   help="build in the one DuckDB file even when the workspace has partitions")
    p.add_argument("--address", default=None,
                   help="Ray address for a partitioned build (default: RAY_ADDRESS or local)")

    p = add("embed", commands.cmd_embed,
            "embed ad creatives and user interests (BERT on Ray, cached)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--model", default=None, help="local BERT model folder (default: MiniLM)")
    p.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    p.add_argument("--batch-size", type=int, default=None, help="texts per batch")
    p.add_argument("--actors", type=int, default=None, help="encoder actors (default: per GPU/CPU)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="matrix-product dtype (auto: bf16 where the GPU or CPU multiplies it "
                   "natively, else fp32)")

    p = add("train", commands.cmd_train, "train a calibrated response model (LightGBM or BERT)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--model", choices=("lightgbm", "bert"), default="lightgbm")
    p.add_argument("--run-id", default=None, help="run id (reuse one to resume a BERT run)")
    p.add_argument("--tune", action="store_true", help="small Ray Tune search on validation")
    p.add_argument("--trials", type=int, default=6, help="trials of the search")
    p.add_argument("--downsample-rate", type=float, default=None, help="share of negatives kept")
    p.add_argument("--no-text-features", dest="text_features", action="store_false",
                   help="leave the embedding features out even when the workspace has them")
    p.add_argument("--vector-components", type=int, default=8,
                   help="projected components per embedding side (0: the cosine only)")
    add_split_arguments(p)
    p.add_argument("--bert-epochs", type=int, default=None, help="BERT: total epochs (3)")
    p.add_argument("--bert-freeze-layers", type=int, default=None,
                   help="BERT: lowest encoder layers kept frozen (0); speeds up CPU training")
    p.add_argument("--bert-max-length", type=int, default=None,
                   help="BERT: tokens per (user, ad) pair (64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", choices=("time", "cv"), default="time",
                   help="LightGBM: a target whose valid days hold few positives picks its rounds "
                        "on the latest days (time; 5-fold CV for thin data) or by 5-fold CV")
    p.add_argument("--engine", choices=("auto", "local", "ray"), default="auto",
                   help="LightGBM: train here, on Ray Train's LightGBMTrainer, or auto "
                        "(Ray for large data or with --workers)")
    p.add_argument("--workers", type=int, default=None,
                   help="LightGBM on Ray: Train workers (default: one per cluster CPU, up to 8)")
    p.add_argument("--examples", nargs="+", default=None, metavar="PATH",
                   help="Parquet files or folders of training_examples (a partitioned "
                        "warehouse) to read instead of the warehouse table")

    p = add("evaluate", commands.cmd_evaluate, "score a trained response model on the test days")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run-id", default=None, help="run to score (default: the latest)")

    p = add("plan", commands.cmd_plan,
            "optimise spend, impressions and frequency caps; write a plan")
    p.add_argument("--config", required=True, help="plan file (TOML): budget, objective, rules")
    p.add_argument("--workspace", default=None, help="workspace: reads its curves, writes plans/")
    p.add_argument("--curves", default=None, help="a curves table (Parquet/CSV) instead")
    p.add_argument("--placements", default=None, help="placement_id, inventory (Parquet/CSV)")
    p.add_argument("--out", default=None, help="folder for plans/<plan_id>/ (with --curves)")
    p.add_argument(
        "--method",
        default="auto",
        choices=("auto", "structured", "highs", "highs-ds", "highs-ipm"),
        help="solver (default auto: the structured exact method, HiGHS as fallback)",
    )
    p.add_argument("--no-frontier", dest="frontier", action="store_false",
                   help="skip the budget frontier")
    p.add_argument("--no-baselines", dest="baselines", action="store_false",
                   help="skip the uniform and historical baselines")
    p.add_argument("--max-spend-multiple", default=None,
                   help="guard rail for curves fitted to aggregates: most spend per cell as a "
                        "multiple of its largest observed spend, or 'off' (default: the plan "
                        "file's, else 2)")

    p = add("segment", commands.cmd_segment, "build audience segments (k-means or SQL rules)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--k", type=int, default=DEFAULT_K,
                   help=f"k-means segments (default {DEFAULT_K})")
    p.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE,
                   help=f"smaller segments are merged or suppressed (default {DEFAULT_MIN_SIZE})")
    p.add_argument("--rules", default=None, help="rule segments (TOML) instead of k-means")
    p.add_argument("--exclusive", action="store_true",
                   help="with --rules: a user joins the first rule that matches only")
    p.add_argument("--attributes", default=None, metavar="NAMES|all|none",
                   help="k-means: user attributes to cluster on too, comma-separated (default: "
                        "all of them when there is no category affinity or interest vector)")
    p.add_argument("--seed", type=int, default=0)

    p = add("curves", commands.cmd_curves,
            "response curves per campaign x segment x placement x k (model or aggregates)")
    p.add_argument("--workspace", default=None, help="workspace: model-based curves")
    p.add_argument("--model", default=None, help="response model run id (default: the latest)")
    p.add_argument("--max-k", type=int, default=DEFAULT_MAX_K,
                   help=f"impression positions (default {DEFAULT_MAX_K})")
    p.add_argument("--users-per-segment", type=int, default=DEFAULT_USERS_PER_SEGMENT,
                   help=f"users sampled per segment (default {DEFAULT_USERS_PER_SEGMENT})")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_N_BOOT,
                   help=f"bootstrap resamples (default {DEFAULT_N_BOOT})")
    p.add_argument("--frequency", choices=("auto", "logs", "model"), default="auto",
                   help="how curves fall with k: fitted within user x campaign pairs of the logs, "
                        "or asked of the model (default auto: the logs when they hold enough "
                        "one-click pairs)")
    p.add_argument("--engine", choices=("auto", "local", "ray"), default="auto",
                   help="score the model rows here, on Ray Data actors in parallel batches, "
                        "or auto (Ray for large grids); the curves are the same")
    p.add_argument("--actors", type=int, default=None,
                   help="Ray Data scoring actors (default: one per cluster CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--aggregates", default=None,
                   help="fit curves to aggregate performance (Parquet/CSV) instead")
    p.add_argument("--out", default=None, help="curves file to write (with --aggregates)")
    p.add_argument("--positions", type=int, default=5, help="positions k (with --aggregates)")
    p.add_argument("--users", default=None,
                   help="audience size with --aggregates: a number, or a Parquet/CSV with "
                        "segment, users (default: a users column, else historical impressions)")
    p.add_argument("--min-points", type=int, default=5,
                   help="distinct spend levels a cell needs for its own fit; fewer: pooled "
                        "(with --aggregates)")

    p = add("report", commands.cmd_report, "write a self-contained HTML report of a plan")
    p.add_argument("--plan", required=True, help="the plan folder (WS/plans/<plan_id>)")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--workspace", default=None, help="workspace (default: the plan's)")
    p.add_argument("--min-segment-size", type=int, default=MIN_SEGMENT_SIZE,
                   help=f"smaller segments are not shown individually (default {MIN_SEGMENT_SIZE})")
    p.add_argument("--export", default=None, help="also write CSV/Parquet/JSON exports here")

    p = add("score", commands.cmd_score,
            "deliver a plan user by user on a synthetic world's ground truth "
            "(vs oracle, uniform, historical)")
    p.add_argument("--world", required=True, help="the world folder (with truth/)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--plan", required=True, help="the plan folder")
    p.add_argument("--seeds", type=int, default=5,
                   help="delivery seeds per allocation (default 5: seeds 0..4)")

    from adopt.pipeline_cli import add_arguments

    p = add("run", commands.cmd_run,
            "run the whole pipeline under a run id (skips stages already done)")
    add_arguments(p)

    p = add("demo", commands.cmd_demo, "generate the demo world and run every stage on it")
    p.add_argument("--workspace", default="demo_workspace", help="workspace folder")
    _add_world_size(p, DEMO_USERS, DEMO_ADS, DEMO_DAYS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        args.func(args)
    except AdoptError as exc:
        print(f"adopt: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"adopt: error: {os_error_line(exc, f'adopt {args.command}')}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if not _is_duckdb_io_error(exc):
            raise
        # DuckDB cannot open or write its file (read-only workspace, full disk, a lock)
        reason = _one_line(str(exc)).removeprefix("IO Error: ")
        print(f"adopt: error: adopt {args.command} cannot use the warehouse: {reason}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _is_duckdb_io_error(exc: BaseException) -> bool:
    """A DuckDB IOException or PermissionException, told without importing duckdb."""
    return any(cls.__module__ in ("duckdb", "_duckdb")
               and cls.__name__ in ("IOException", "PermissionException")
               for cls in type(exc).__mro__)


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def os_error_line(exc: OSError, what: str) -> str:
    """A filesystem failure as one line: ``<what> cannot use <path>: <reason>``.

    Covers every `OSError` (permission denied, a file where a folder is
    needed or the reverse, a read-only file system, a full disk...).
    """
    reason = _one_line(exc.strerror or str(exc) or type(exc).__name__)
    if exc.filename is None:
        return f"{what} failed: {reason}"
    path = str(exc.filename)
    if exc.filename2 is not None:
        path += f" -> {exc.filename2}"
    return f"{what} cannot use {path}: {reason}"


if __name__ == "__main__":
    sys.exit(main())
