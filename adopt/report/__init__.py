"""Allocation reports and exports of a plan.

Data flow: the last stage. ``plans/<plan_id>/`` (+ the workspace's segments,
ads and model cards) -> `build_report` (one self-contained, offline HTML file)
and `export_plan` (CSV / Parquet / JSON tables for analysts). Small segments
are suppressed in both; see ``docs/report.md``.
"""

from adopt.report.build import build_report
from adopt.report.data import ReportData, load_report_data
from adopt.report.export import export_plan

__all__ = ["ReportData", "build_report", "export_plan", "load_report_data"]
