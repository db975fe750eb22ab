"""Ray job: response curves per campaign x segment x placement x k from a trained model.

Takes the options of ``adopt curves`` (see ``python -m jobs.curves --help``).
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("curves")


if __name__ == "__main__":
    sys.exit(main())
