"""Ray job: the whole pipeline under a run id (a retried job redoes only what is left).

``ray job submit --address http://127.0.0.1:8265 --working-dir . --
python -m jobs.pipeline --workspace /abs/WS --config /abs/plan.toml --data /abs/DATA``
"""

from __future__ import annotations

import logging
import sys

from adopt.pipeline_cli import add_arguments, run_from_args
from jobs._args import parser, run


def main() -> None:
    p = parser(__doc__)
    add_arguments(p, workspace=False)
    args = p.parse_args()
    logging.getLogger("adopt").info("job python: %s", sys.executable)
    print(run_from_args(args))


if __name__ == "__main__":
    run(main)
