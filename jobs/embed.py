"""Ray job: embed ad creatives and user interest texts with BERT (cached).

Takes the options of ``adopt embed`` (see ``python -m jobs.embed --help``); inside
a submitted job ``ray.init()`` joins the job's cluster.
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    return run_command("embed")


if __name__ == "__main__":
    sys.exit(main())
