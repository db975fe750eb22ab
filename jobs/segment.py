"""Ray job: build audiences (k-means on profiles and interests, or SQL rules).

Takes the options of ``adopt segment`` (see ``python -m jobs.segment --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("segment")


if __name__ == "__main__":
    sys.exit(main())
