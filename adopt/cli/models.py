"""The `adopt` subcommands of the learning stages: embed, train, evaluate, segment, curves.

Data flow: the warehouse -> embeddings -> response models -> segments ->
response curves. Each command imports its stage lazily so `adopt --help`
stays fast.
"""

from __future__ import annotations

import argparse

from adopt.cli.common import AddCommand, add_config_arguments, config_from_args
from adopt.cli.pipeline import add_split_arguments, split_from_args
from adopt.configs import CurvesConfig, EmbedConfig, SegmentConfig, TrainConfig
from adopt.exceptions import ParameterError


def add_commands(add: AddCommand) -> None:
    """Add the subcommands embed, train, evaluate, segment, curves."""
    p = add("embed", cmd_embed,
            "embed ad creatives and user interests (BERT on Ray, cached)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    add_config_arguments(p, EmbedConfig, ("model",))
    p.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    add_config_arguments(p, EmbedConfig, ("batch_size", "actors", "precision"))

    p = add("train", cmd_train, "train a calibrated response model (LightGBM or BERT)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    add_config_arguments(p, TrainConfig, ("model",))
    p.add_argument("--run-id", default=None, help="run id (reuse one to resume a BERT run)")
    p.add_argument("--tune", action="store_true", help="small Ray Tune search on validation")
    add_config_arguments(p, TrainConfig, ("num_trials", "downsample_rate",
                                          "negatives_per_positive"))
    p.add_argument("--no-text-features", dest="text_features", action="store_false",
                   help="leave the embedding features out even when the workspace has them")
    add_config_arguments(p, TrainConfig, ("vector_components",))
    add_split_arguments(p)
    p.add_argument("--bert-epochs", type=int, default=None, help="BERT: total epochs (3)")
    p.add_argument("--bert-freeze-layers", type=int, default=None,
                   help="BERT: lowest encoder layers kept frozen (0); speeds up CPU training")
    p.add_argument("--bert-max-length", type=int, default=None,
                   help="BERT: tokens per (user, ad) pair (64)")
    p.add_argument("--seed", type=int, default=0)
    add_config_arguments(p, TrainConfig, ("validation", "engine", "num_workers",
                                          "creative_folds"))
    p.add_argument("--examples", nargs="+", default=None, metavar="PATH",
                   help="Parquet files or folders of training_examples (a partitioned "
                        "warehouse) to read instead of the warehouse table")

    p = add("evaluate", cmd_evaluate, "score a trained response model on the test days")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run-id", default=None, help="run to score (default: the latest)")

    p = add("segment", cmd_segment, "build audience segments (k-means or SQL rules)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    add_config_arguments(p, SegmentConfig)
    p.add_argument("--exclusive", action="store_true",
                   help="with --rules: a user joins the first rule that matches only")
    p.add_argument("--attributes", default=None, metavar="NAMES|all|none",
                   help="k-means: user attributes to cluster on too, comma-separated (default: "
                        "all of them when there is no category affinity or interest vector)")
    p.add_argument("--seed", type=int, default=0)

    p = add("curves", cmd_curves,
            "response curves per campaign x segment x placement x k (model or aggregates)")
    p.add_argument("--workspace", default=None, help="workspace: model-based curves")
    p.add_argument("--model", default=None, help="response model run id (default: the latest)")
    add_config_arguments(p, CurvesConfig)
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


def cmd_embed(args: argparse.Namespace) -> None:
    from adopt.embeddings import embed_workspace

    config = config_from_args(EmbedConfig, args, "adopt embed")
    print(embed_workspace(args.workspace, **dict(config), address=args.address))


def cmd_train(args: argparse.Namespace) -> None:
    from adopt.response.run import train_response

    config = config_from_args(TrainConfig, args, "adopt train")
    card = train_response(
        args.workspace,
        **dict(config),
        run_id=args.run_id,
        tune=args.tune,
        seed=args.seed,
        text_features=args.text_features,
        **split_from_args(args),
        bert={k: v for k, v in (("epochs", args.bert_epochs),
                                ("freeze_layers", args.bert_freeze_layers),
                                ("max_length", args.bert_max_length)) if v is not None} or None,
        example_paths=args.examples,
    )
    print(card.to_markdown())


def cmd_evaluate(args: argparse.Namespace) -> None:
    from adopt.response.metrics import format_metrics
    from adopt.response.run import evaluate_response

    print(format_metrics(evaluate_response(args.workspace, run_id=args.run_id)))


def cmd_segment(args: argparse.Namespace) -> None:
    from adopt.audiences import segment_workspace

    attributes = args.attributes
    if attributes is not None and attributes not in ("all", "none"):
        attributes = [name.strip() for name in attributes.split(",") if name.strip()]
    config = config_from_args(SegmentConfig, args, "adopt segment")
    print(segment_workspace(args.workspace, **dict(config), seed=args.seed,
                            exclusive=True if args.exclusive else None, attributes=attributes))


def cmd_curves(args: argparse.Namespace) -> None:
    if args.aggregates:
        from adopt.curves import curves_from_aggregates

        if not args.out:
            raise ParameterError("adopt curves --aggregates FILE needs --out FILE.")
        users = args.users
        if users is not None:
            try:
                users = float(users)
            except ValueError:
                pass  # a file of segment, users
            else:
                if not users > 0 or users == float("inf"):
                    raise ParameterError("The '--users' parameter of adopt curves must be a "
                                         f"positive number or a file. Got {args.users} instead.")
        curves_from_aggregates(args.aggregates, args.out, positions=args.positions,
                               users=users, min_points=args.min_points)
        print(f"curves written to {args.out}")
        return
    if not args.workspace:
        raise ParameterError("adopt curves needs --workspace WS or --aggregates FILE. Got neither.")
    from adopt.curves import build_curves

    config = config_from_args(CurvesConfig, args, "adopt curves")
    print(build_curves(args.workspace, run_id=args.model, **dict(config), seed=args.seed))
