"""Ray job: optimise spend, impressions and frequency caps from the workspace's curves.

Takes the options of ``adopt plan`` (see ``python -m jobs.plan --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("plan")


if __name__ == "__main__":
    sys.exit(main())
