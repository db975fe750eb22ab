"""Ray job: validate input files and load them into the workspace warehouse."""

from __future__ import annotations

from adopt.ingest import ingest
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--data", required=True, help="input folder in the input contract")
    p.add_argument("--mode", choices=("append", "replace"), default=None)
    p.add_argument("--on-duplicate", choices=("refuse", "replace"), default="refuse")
    p.add_argument("--pseudonymize-salt", default=None)
    args = p.parse_args()
    print(
        ingest(
            args.data,
            args.workspace,
            mode=args.mode,
            on_duplicate=args.on_duplicate,
            pseudonymize_salt=args.pseudonymize_salt,
        )
    )


if __name__ == "__main__":
    run(main)
