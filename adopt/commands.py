"""What each `adopt` subcommand does: parse-free functions that call the library.

`adopt.cli` builds the parser and maps each subcommand to one function here;
each imports its stage lazily so `adopt --help` stays fast.
"""

from __future__ import annotations

import argparse

from adopt.exceptions import ParameterError


def cmd_generate(args: argparse.Namespace) -> None:
    from adopt.synth import generate_world

    summary = generate_world(
        args.out, users=args.users, ads=args.ads, days=args.days, seed=args.seed,
        fatigue=args.fatigue, fatigue_rate=args.fatigue_rate, shards=args.shards,
    )
    print(summary)


def cmd_ingest(args: argparse.Namespace) -> None:
    from adopt.ingest import ingest

    summary = ingest(
        args.data_dir,
        args.workspace,
        mode=args.mode,
        on_duplicate=args.on_duplicate,
        pseudonymize_salt=args.pseudonymize_salt,
        partitions=args.partitions,
    )
    print(summary)


def cmd_import(args: argparse.Namespace) -> None:
    from adopt.importers import import_dataset

    print(
        import_dataset(
            args.format, args.src, args.out, cpm=args.cpm, memory_limit=args.memory_limit
        )
    )


def cmd_profiles(args: argparse.Namespace) -> None:
    from adopt.profiles import build_profiles

    print(build_profiles(args.workspace, as_of=args.as_of, memory_limit=args.memory_limit,
                         threads=args.threads, partitioned=args.partitioned,
                         address=args.address))


def cmd_embed(args: argparse.Namespace) -> None:
    from adopt.embeddings import embed_workspace

    print(
        embed_workspace(
            args.workspace,
            model=args.model,
            address=args.address,
            batch_size=args.batch_size,
            actors=args.actors,
            precision=args.precision,
        )
    )


def cmd_train(args: argparse.Namespace) -> None:
    from adopt.pipeline_cli import split_from_args
    from adopt.response.run import train_response

    card = train_response(
        args.workspace,
        model=args.model,
        run_id=args.run_id,
        tune=args.tune,
        num_trials=args.trials,
        downsample_rate=args.downsample_rate,
        seed=args.seed,
        text_features=args.text_features,
        vector_components=args.vector_components,
        **split_from_args(args),
        bert={k: v for k, v in (("epochs", args.bert_epochs),
                                ("freeze_layers", args.bert_freeze_layers),
                                ("max_length", args.bert_max_length)) if v is not None} or None,
        validation=args.validation,
        engine=args.engine,
        num_workers=args.workers,
        example_paths=args.examples,
    )
    print(card.to_markdown())


def cmd_evaluate(args: argparse.Namespace) -> None:
    from adopt.response.metrics import format_metrics
    from adopt.response.run import evaluate_response

    print(format_metrics(evaluate_response(args.workspace, run_id=args.run_id)))


def _guard_rail(value: str | None) -> float | bool | None:
    """--max-spend-multiple: None (the plan file's), False ('off') or a positive number."""
    if value is None:
        return None
    if value.strip().lower() == "off":
        return False
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not (number > 0 and number != float("inf")):
        raise ParameterError("The '--max-spend-multiple' parameter of adopt plan must be a "
                             f"positive number or 'off'. Got {value!r} instead.")
    return number


def cmd_plan(args: argparse.Namespace) -> None:
    from adopt.plan import make_plan

    if not (args.curves or args.workspace):
        raise ParameterError("adopt plan needs --workspace WS or --curves FILE. Got neither.")
    # --out is for --curves; a workspace's plans go under its plans/
    out = (args.out or (None if args.workspace else "plans")) if args.curves else None
    plan = make_plan(args.config, workspace=args.workspace, curves=args.curves,
                     placements=args.placements if args.curves else None, method=args.method,
                     frontier=args.frontier, baselines=args.baselines,
                     max_spend_multiple=_guard_rail(args.max_spend_multiple), out=out,
                     where="adopt plan")
    print(f"plan {plan.plan_id} written to {plan.folder}")


def cmd_demo(args: argparse.Namespace) -> None:
    from adopt.demo import run_demo

    run_demo(args.workspace, users=args.users, ads=args.ads, days=args.days, seed=args.seed)


def cmd_segment(args: argparse.Namespace) -> None:
    from adopt.audiences import segment_workspace

    attributes = args.attributes
    if attributes is not None and attributes not in ("all", "none"):
        attributes = [name.strip() for name in attributes.split(",") if name.strip()]
    print(segment_workspace(args.workspace, k=args.k, min_size=args.min_size, rules=args.rules,
                            seed=args.seed, exclusive=True if args.exclusive else None,
                            attributes=attributes))


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

    print(build_curves(args.workspace, run_id=args.model, max_k=args.max_k,
                       users_per_segment=args.users_per_segment, n_boot=args.bootstrap,
                       seed=args.seed, frequency=args.frequency, engine=args.engine,
                       actors=args.actors))


def cmd_report(args: argparse.Namespace) -> None:
    from adopt.report import build_report, export_plan
    from adopt.report.export import check_export_dir

    if args.export:
        check_export_dir(args.export, "adopt report --export")  # before anything is written
    out = build_report(args.plan, args.out, workspace=args.workspace,
                       min_segment_size=args.min_segment_size)
    print(f"report written to {out}")
    if args.export:
        export_plan(args.plan, args.export, workspace=args.workspace,
                    min_segment_size=args.min_segment_size)
        print(f"exports written to {args.export}")


def cmd_score(args: argparse.Namespace) -> None:
    from adopt.scoring import score_plan

    print(score_plan(args.world, args.workspace, args.plan, seeds=range(args.seeds)))


def cmd_run(args: argparse.Namespace) -> None:
    from adopt.pipeline_cli import run_from_args

    print(run_from_args(args))
