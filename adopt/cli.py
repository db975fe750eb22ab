"""The `adopt` command: one subcommand per stage, plus `demo`.

Each subcommand parses its arguments and calls the library; errors that adopt
raises on purpose print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from adopt.exceptions import AdoptError, ParameterError
from adopt.progress import setup_logging

EXIT_BAD_INPUT = 2


def _cmd_generate(args: argparse.Namespace) -> None:
    from adopt.synth import generate_world

    summary = generate_world(
        args.out, users=args.users, ads=args.ads, days=args.days, seed=args.seed
    )
    print(summary)


def _cmd_ingest(args: argparse.Namespace) -> None:
    from adopt.ingest import ingest

    summary = ingest(args.data_dir, args.workspace, pseudonymize_salt=args.pseudonymize_salt)
    print(summary)


def _cmd_import(args: argparse.Namespace) -> None:
    from adopt.importers import import_dataset

    print(
        import_dataset(
            args.format, args.src, args.out, cpm=args.cpm, memory_limit=args.memory_limit
        )
    )


def _cmd_profiles(args: argparse.Namespace) -> None:
    from adopt.profiles import build_profiles

    print(build_profiles(args.workspace, as_of=args.as_of))


def _cmd_embed(args: argparse.Namespace) -> None:
    from adopt.embeddings import embed_workspace

    print(
        embed_workspace(
            args.workspace,
            model=args.model,
            address=args.address,
            batch_size=args.batch_size,
            actors=args.actors,
        )
    )


def _cmd_train(args: argparse.Namespace) -> None:
    from adopt.response.run import train_response

    card = train_response(
        args.workspace,
        model=args.model,
        run_id=args.run_id,
        tune=args.tune,
        num_trials=args.trials,
        downsample_rate=args.downsample_rate,
        seed=args.seed,
    )
    print(card.to_markdown())


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from adopt.response.run import evaluate_response

    print(evaluate_response(args.workspace, run_id=args.run_id).to_string(index=False))


def _cmd_plan(args: argparse.Namespace) -> None:
    from adopt.optimize import plan_from_files, plan_from_workspace
    from adopt.workspace import Workspace

    if args.curves:
        out_root = args.out or (Workspace(args.workspace).plans if args.workspace else "plans")
        plan_id, folder = plan_from_files(
            args.curves, args.config, out_root, args.placements, method=args.method
        )
    elif args.workspace:
        plan_id, folder = plan_from_workspace(args.workspace, args.config, method=args.method)
    else:
        raise ParameterError("adopt plan needs --workspace WS or --curves FILE. Got neither.")
    print(f"plan {plan_id} written to {folder}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from adopt.demo import run_demo

    run_demo(args.workspace, users=args.users, ads=args.ads, days=args.days, seed=args.seed)


def _add_world_size(p: argparse.ArgumentParser, users: int, ads: int, days: int) -> None:
    p.add_argument("--users", type=int, default=users, help=f"number of users (default {users})")
    p.add_argument("--ads", type=int, default=ads, help=f"number of ads (default {ads})")
    p.add_argument("--days", type=int, default=days, help=f"days of logs (default {days})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
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

    p = add("generate", _cmd_generate, "write a synthetic world (input contract + truth/)")
    p.add_argument("--out", required=True, help="folder to write the world to")
    _add_world_size(p, DEMO_USERS, DEMO_ADS, DEMO_DAYS)

    p = add("ingest", _cmd_ingest, "validate input files and load them into the warehouse")
    p.add_argument("data_dir", help="folder with one file (or folder) per table")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument(
        "--pseudonymize-salt",
        default=None,
        metavar="SALT",
        help="replace user ids by a salted hash at load time (keep the salt secret and constant)",
    )

    from adopt.importers import DEFAULT_CPM, FORMATS

    p = add("import", _cmd_import, "convert a public data set into the input contract")
    p.add_argument("format", choices=FORMATS, help="the data set's layout")
    p.add_argument("src", help="the data set folder or file, as its publisher distributes it")
    p.add_argument("--out", required=True, help="output data folder (replaced on success)")
    p.add_argument(
        "--cpm", type=float, default=None, help=f"CPM for every placement (default {DEFAULT_CPM})"
    )
    p.add_argument(
        "--memory-limit", default="2GB", help="DuckDB memory limit; larger work spills to disk"
    )

    p = add("profiles", _cmd_profiles, "build user profiles, ad history and training examples")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--as-of", default=None, help="profile reference time (default: last event)")

    p = add("embed", _cmd_embed, "embed ad creatives and user interests (BERT on Ray, cached)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--model", default=None, help="local BERT model folder (default: MiniLM)")
    p.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    p.add_argument("--batch-size", type=int, default=None, help="texts per batch")
    p.add_argument("--actors", type=int, default=None, help="encoder actors (default: per GPU/CPU)")

    p = add("train", _cmd_train, "train a calibrated response model (LightGBM or BERT)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--model", choices=("lightgbm", "bert"), default="lightgbm")
    p.add_argument("--run-id", default=None, help="run id (reuse one to resume a BERT run)")
    p.add_argument("--tune", action="store_true", help="small Ray Tune search on validation")
    p.add_argument("--trials", type=int, default=6, help="trials of the search")
    p.add_argument("--downsample-rate", type=float, default=None, help="share of negatives kept")
    p.add_argument("--seed", type=int, default=0)

    p = add("evaluate", _cmd_evaluate, "score a trained response model on the test days")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run-id", default=None, help="run to score (default: the latest)")

    p = add("plan", _cmd_plan, "optimise spend, impressions and frequency caps; write a plan")
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

    p = add("demo", _cmd_demo, "generate the demo world and run every stage on it")
    p.add_argument("--workspace", default="demo_workspace", help="workspace folder")
    _add_world_size(p, DEMO_USERS, DEMO_ADS, DEMO_DAYS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        args.func(args)
    except AdoptError as exc:
        print(f"adopt: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
