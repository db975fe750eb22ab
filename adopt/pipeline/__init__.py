"""The pipeline layer: every stage from input files to a scored plan, under a run id.

Modules: `runner` (`run_pipeline`: the stages in order, skipping the current
ones), `stages` (one function per stage and the parameters of its key),
`runs` (run ids, manifests and the workspace's stage state) and `demo` (the
synthetic demo world through every stage). The command line of ``adopt run``
and ``adopt demo`` lives in `adopt.cli.pipeline`.
"""

from adopt.pipeline.runner import RunSummary, run_pipeline

__all__ = ["RunSummary", "run_pipeline"]
