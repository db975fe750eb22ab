"""`build_report`: one self-contained HTML file from a plan folder.

Data flow: ``plans/<plan_id>/`` (+ the workspace's warehouse and model
cards) -> `adopt.report.data.load_report_data` -> the sections
(`sections_plan`, `sections_why`, `sections_context`) -> `template.page`
-> ``report.html``, written to a temporary name and renamed, so a failed or
killed run leaves the previous report whole.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from adopt.exceptions import ParameterError
from adopt.progress import log
from adopt.report import sections_context, sections_plan, sections_why
from adopt.report.data import load_report_data
from adopt.report.privacy import MIN_SEGMENT_SIZE
from adopt.report.template import page
from adopt.workspace import atomic_path

SECTIONS = (
    sections_plan.glance, sections_plan.delivery, sections_plan.allocation, sections_plan.frequency,
    sections_plan.frontier, sections_why.marginal, sections_why.binding,
    sections_context.segments, sections_context.model, sections_context.assumptions,
)


def _non_file_kind(path: Path) -> str | None:
    """What `path` is when it exists and is not a regular file (None otherwise)."""
    if path.is_symlink():
        return "a symbolic link"
    if not path.exists() or path.is_file():
        return None
    return "a folder" if path.is_dir() else "not a regular file"


def build_report(
    plan_folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    workspace: str | os.PathLike[str] | None = None,
    min_segment_size: int = MIN_SEGMENT_SIZE,
) -> Path:
    """Write the allocation report of a plan as one offline HTML file.

    Parameters
    ----------
    plan_folder : path
        ``WS/plans/<plan_id>`` (allocation.parquet, plan.json; optional
        audiences.parquet, frontier.parquet).
    out : path
        The HTML file to write (replaced atomically).
    workspace : path, optional
        The workspace whose warehouse (segments, ads) and model cards the
        report reads; default ``plan.json["inputs"]["workspace"]`` (never
        guessed from where the plan folder sits). Without one those sections
        say "not available".
    min_segment_size : int
        Segments with fewer users, or marked suppressed, are shown only
        together, as "other (suppressed)".

    Returns
    -------
    Path
        `out`.

    Raises
    ------
    WorkspaceError
        The plan folder lacks plan.json or allocation.parquet.
    InputError
        plan.json or the allocation is malformed.
    ParameterError
        `min_segment_size` is not a non-negative integer, or `out` is a folder.
    """
    out = Path(out)
    kind = _non_file_kind(out)
    if kind:
        raise ParameterError(f"The 'out' parameter of build_report must be a file path (new or "
                             f"a regular file). Got {out} instead ({kind}, left alone).")
    data = load_report_data(plan_folder, workspace, min_segment_size)
    sections = [s for s in (make(data) for make in SECTIONS) if s is not None]
    plan_id = str(data.plan.get("plan_id") or data.plan_folder.resolve().name)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    title = f"Allocation report: {plan_id}"
    subtitle = (f"objective {data.plan.get('objective', {}).get('name', data.metric)}, "
                f"created {created}")
    footer = ("Made by adopt. Every figure is an expected value from the response curves; "
              "no user identifiers are included.")
    html = page(title, subtitle, sections, footer)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("report for %s written to %s (%d sections)", plan_id, out, len(sections))
    return out
