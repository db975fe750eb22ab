"""Ray job: build user profiles, ad history and training examples (DuckDB SQL).

Takes the options of ``adopt profiles`` (see ``python -m jobs.profiles --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("profiles")


if __name__ == "__main__":
    sys.exit(main())
