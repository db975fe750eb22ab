"""Ray job: validate input files and load them into the workspace warehouse."""

from __future__ import annotations

from adopt.cli.common import add_config_arguments, config_from_args
from adopt.configs import IngestConfig
from adopt.ingest import ingest
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--data", required=True, help="input folder in the input contract")
    add_config_arguments(p, IngestConfig, ("mode", "on_duplicate"))
    p.add_argument("--pseudonymize-salt", default=None)
    args = p.parse_args()
    config = config_from_args(IngestConfig, args, "jobs.ingest")
    print(ingest(args.data, args.workspace, **dict(config),
                 pseudonymize_salt=args.pseudonymize_salt))


if __name__ == "__main__":
    run(main)
