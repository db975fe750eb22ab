"""Ray job: train a calibrated response model (LightGBM, or BERT on Ray Train).

Takes the options of ``adopt train`` (see ``python -m jobs.train --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("train")


if __name__ == "__main__":
    sys.exit(main())
