"""Ray job: weigh a delivered plan's forecast against its delivery's logged events.

Takes the options of ``adopt actuals`` (see ``python -m jobs.actuals --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("actuals")


if __name__ == "__main__":
    sys.exit(main())
