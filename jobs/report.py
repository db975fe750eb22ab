"""Ray job: write a plan's self-contained HTML report.

Takes the options of ``adopt report`` (see ``python -m jobs.report --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("report")


if __name__ == "__main__":
    sys.exit(main())
