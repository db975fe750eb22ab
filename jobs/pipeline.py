"""Ray job: the whole pipeline under a run id (a retried job redoes only what is left).

``ray job submit --address http://127.0.0.1:8265 --working-dir . --
python -m jobs.pipeline --workspace /abs/WS --config /abs/plan.toml --data /abs/DATA``
"""

from __future__ import annotations

import sys

from jobs._args import run_command


def main() -> int:
    """``adopt run`` with this process's arguments, after naming the Python that runs the job."""
    print(f"job python: {sys.executable}", flush=True)
    return run_command("run")


if __name__ == "__main__":
    sys.exit(main())
