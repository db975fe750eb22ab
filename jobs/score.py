"""Ray job: score a plan against a synthetic world's ground truth (plan vs oracle, baselines).

Takes the options of ``adopt score`` (see ``python -m jobs.score --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("score")


if __name__ == "__main__":
    sys.exit(main())
