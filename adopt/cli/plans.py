"""The `adopt` subcommands of the plan: plan, report, score, actuals.

Data flow: response curves + a plan file -> ``plans/<plan_id>/`` -> the HTML
report and exports; on a synthetic world, the plan delivered on the truth; after
a delivery, the plan's forecast against the delivery's logged events.
"""

from __future__ import annotations

import argparse

from adopt.cli.common import AddCommand, add_config_arguments, config_from_args
from adopt.configs import ReportConfig
from adopt.exceptions import ParameterError


def add_commands(add: AddCommand) -> None:
    """Add the subcommands plan, report, score, actuals."""
    p = add("plan", cmd_plan,
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

    p = add("report", cmd_report, "write a self-contained HTML report of a plan")
    p.add_argument("--plan", required=True, help="the plan folder (WS/plans/<plan_id>)")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--workspace", default=None, help="workspace (default: the plan's)")
    add_config_arguments(p, ReportConfig)
    p.add_argument("--export", default=None, help="also write CSV/Parquet/JSON exports here")

    p = add("score", cmd_score,
            "deliver a plan user by user on a synthetic world's ground truth "
            "(vs oracle, uniform, historical)")
    p.add_argument("--world", required=True, help="the world folder (with truth/)")
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--plan", required=True, help="the plan folder")
    p.add_argument("--seeds", type=int, default=5,
                   help="delivery seeds per allocation (default 5: seeds 0..4)")
    p.add_argument("--write-delivery", default=None, metavar="DIR",
                   help="also deliver the plan once (seed 0) and write what an ad server would "
                        "log into DIR (a new folder): events, users, ads, placements, for "
                        "`adopt ingest --mode append` and `adopt actuals`")

    p = add("actuals", cmd_actuals,
            "weigh a plan's forecast against its delivery's events in the warehouse")
    p.add_argument("--plan", required=True, help="the plan folder (WS/plans/<plan_id>)")
    p.add_argument("--workspace", default=None,
                   help="workspace (default: the one the plan folder sits in, else the plan's)")
    p.add_argument("--start", default=None,
                   help="first day (or time) of the delivery (default: the plan's period_start)")
    p.add_argument("--end", default=None,
                   help="end of the delivery, exclusive (default: the day after the plan's "
                        "period_end, else its period_start (else start) + its period in days)")
    p.add_argument("--min-segment-size", type=int,
                   default=ReportConfig.default("min_segment_size"),
                   help="merge the campaign x segment rows of smaller segments (default: the "
                        "report's, %(default)s)")


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


def cmd_report(args: argparse.Namespace) -> None:
    from adopt.report import build_report, export_plan
    from adopt.report.export import check_export_dir

    if args.export:
        check_export_dir(args.export, "adopt report --export")  # before anything is written
    config = config_from_args(ReportConfig, args, "adopt report")
    out = build_report(args.plan, args.out, workspace=args.workspace, **dict(config))
    print(f"report written to {out}")
    if args.export:
        export_plan(args.plan, args.export, workspace=args.workspace, **dict(config))
        print(f"exports written to {args.export}")


def cmd_score(args: argparse.Namespace) -> None:
    from adopt.scoring import score_plan, write_delivery_log

    if args.write_delivery:  # first: seconds, and its refusals come before the scoring's minutes
        out, start, end = write_delivery_log(args.world, args.workspace, args.plan,
                                             args.write_delivery)
        print(f"one delivery's log, {start} to {end}, written to {out}")
    print(score_plan(args.world, args.workspace, args.plan, seeds=range(args.seeds)))


def cmd_actuals(args: argparse.Namespace) -> None:
    from adopt.actuals import check_actuals

    card = check_actuals(args.plan, args.workspace, start=args.start, end=args.end,
                         min_segment_size=args.min_segment_size)
    path = card.save(args.plan)  # before printing: a closed pipe must not lose the card
    print(card)
    print(f"written to {path}")
