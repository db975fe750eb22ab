"""The `adopt` subcommands that make and load data: generate, ingest, import, profiles.

Data flow: a synthetic world or a public data set -> the input contract ->
the warehouse -> profiles. Each command imports its stage lazily so `adopt
--help` stays fast.
"""

from __future__ import annotations

import argparse

from adopt.cli.common import AddCommand, add_config_arguments, config_from_args
from adopt.configs import IngestConfig, ProfilesConfig


def add_commands(add: AddCommand) -> None:
    """Add the subcommands generate, ingest, import, profiles."""
    from adopt.importers import DEFAULT_CPM, FORMATS
    from adopt.synth import DEMO_ADS, DEMO_DAYS, DEMO_USERS

    p = add("generate", cmd_generate, "write a synthetic world (input contract + truth/)")
    p.add_argument("--out", required=True, help="folder to write the world to")
    add_world_size(p, DEMO_USERS, DEMO_ADS, DEMO_DAYS)
    p.add_argument("--fatigue", choices=("logit", "geometric"), default="logit",
                   help="how clicks fall with a user's k-th impression of a campaign: 'logit' "
                        "subtracts a penalty from the click logit, 'geometric' multiplies the "
                        "click probability by R^(k-1) (default logit)")
    p.add_argument("--fatigue-rate", type=float, default=0.72, metavar="R",
                   help="the geometric form's factor per impression, in (0, 1] (default 0.72)")
    p.add_argument("--conversion-quality", type=float, default=0.8, metavar="Q",
                   help="how much a creative's latent quality moves its conversions per click, "
                        "as a multiple of what it moves its clicks (default 0.8; 0: not at all)")
    p.add_argument("--placement-conversion", type=float, default=0.0, metavar="C",
                   help="how much the placement a click came from moves its conversions per "
                        "click, as a multiple of the placement's effect on clicks (default 0: "
                        "not at all)")
    p.add_argument("--campaign-quality", type=float, default=0.0, metavar="SD",
                   help="sd of a latent quality every creative of a campaign shares (a "
                        "brand's appeal; default 0: none)")
    p.add_argument("--creative-audience", type=float, default=0.0, metavar="SD",
                   help="sd of each creative's appeal to each age band, in its clicks and "
                        "conversions (default 0: every age alike)")
    p.add_argument("--shards", type=int, default=None, metavar="N",
                   help="write events and behaviors as files that each hold one of N user "
                        "shards (big worlds; memory stays about two parts)")

    p = add("ingest", cmd_ingest, "validate input files and load them into the warehouse")
    p.add_argument("data_dir", help="folder with one file (or folder) per table")
    p.add_argument("--workspace", required=True, help="workspace folder")
    add_config_arguments(p, IngestConfig, ("mode", "on_duplicate"))
    p.add_argument(
        "--pseudonymize-salt",
        default=None,
        metavar="SALT",
        help="replace user ids by a salted hash at load time (keep the salt secret and constant)",
    )
    add_config_arguments(p, IngestConfig, ("partitions",))

    p = add("import", cmd_import, "convert a public data set into the input contract")
    p.add_argument("format", choices=FORMATS, help="the data set's layout")
    p.add_argument("src", help="the data set folder or file, as its publisher distributes it")
    p.add_argument("--out", required=True, help="output data folder (replaced on success)")
    p.add_argument(
        "--cpm", type=float, default=None, help=f"CPM for every placement (default {DEFAULT_CPM})"
    )
    p.add_argument(
        "--memory-limit", default="2GB", help="DuckDB memory limit; larger work spills to disk"
    )

    p = add("profiles", cmd_profiles,
            "build user profiles, ad history and training examples")
    p.add_argument("--workspace", required=True, help="workspace folder")
    add_config_arguments(p, ProfilesConfig)
    p.add_argument("--single-node", dest="partitioned", action="store_false", default=None,
                   help="build in the one DuckDB file even when the workspace has partitions")
    p.add_argument("--address", default=None,
                   help="Ray address for a partitioned build (default: RAY_ADDRESS or local)")


def add_world_size(p: argparse.ArgumentParser, users: int, ads: int, days: int) -> None:
    """The synthetic world's size and seed (`adopt generate`, `adopt demo`)."""
    p.add_argument("--users", type=int, default=users, help=f"number of users (default {users})")
    p.add_argument("--ads", type=int, default=ads, help=f"number of ads (default {ads})")
    p.add_argument("--days", type=int, default=days, help=f"days of logs (default {days})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def cmd_generate(args: argparse.Namespace) -> None:
    from adopt.synth import generate_world

    summary = generate_world(
        args.out, users=args.users, ads=args.ads, days=args.days, seed=args.seed,
        fatigue=args.fatigue, fatigue_rate=args.fatigue_rate,
        conversion_quality=args.conversion_quality,
        placement_conversion=args.placement_conversion,
        campaign_quality=args.campaign_quality, creative_audience=args.creative_audience,
        shards=args.shards,
    )
    print(summary)


def cmd_ingest(args: argparse.Namespace) -> None:
    from adopt.ingest import ingest

    config = config_from_args(IngestConfig, args, "adopt ingest")
    summary = ingest(args.data_dir, args.workspace, **dict(config),
                     pseudonymize_salt=args.pseudonymize_salt)
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

    config = config_from_args(ProfilesConfig, args, "adopt profiles")
    print(build_profiles(args.workspace, **dict(config), partitioned=args.partitioned,
                         address=args.address))
