"""Compact HTML for notebooks: escaped values and tables, and a plan's summary.

Data flow: `adopt.Plan._repr_html_` (`plan_html`) and
`adopt.plan.compare.PlanComparison._repr_html_` (`table_html`) show
themselves in Jupyter with these. Every text that reaches the page (campaign,
segment and placement names, notes, constraint names) goes through
`html.escape`; the full report is `adopt.report`'s job.
"""

from __future__ import annotations

import html
import math
from numbers import Number

import numpy as np
import pandas as pd

TOP_CELLS = 10
CELL_COLUMNS = (
    "campaign_id",
    "segment",
    "placement_id",
    "ad_id",
    "frequency_cap",
    "reach",
    "impressions",
    "spend",
    "clicks",
    "conversions",
    "revenue",
    "marginal_roi",
)
STYLE = "border-collapse:collapse;font-size:12px;margin:4px 0;font-family:system-ui,sans-serif"


def fmt(value: object) -> str:
    """A value as escaped text: thousands separators, a few significant digits, '–' for none."""
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, Number):
        v = float(value)
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"
    return html.escape(str(value))


def table_html(frame: pd.DataFrame, index: bool = True) -> str:
    """A small HTML table with every header and cell escaped."""
    head = ([html.escape(str(frame.index.name or ""))] if index else []) + [
        html.escape(str(c)) for c in frame.columns
    ]
    cell = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:right"
    out = [f'<table style="{STYLE}"><thead><tr>']
    out += [f'<th style="{cell}">{h}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for label, row in frame.iterrows():
        out.append("<tr>")
        if index:
            out.append(f'<th style="{cell};text-align:left">{fmt(label)}</th>')
        out += [f'<td style="{cell}">{fmt(v)}</td>' for v in row.tolist()]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def plan_html(
    plan_id: str,
    status: str,
    objective: dict,
    gap: float | None,
    kpis: pd.DataFrame,
    binding: list[str],
    allocation: pd.DataFrame,
    frontier: pd.DataFrame | None,
    notes: list[str],
) -> str:
    """The notebook summary of a plan: KPIs beside the baselines, binding rows, top cells.

    The arguments are the `adopt.Plan` properties of the same names; `kpis`
    has the plan's KPIs and each baseline's as columns.
    """
    kpis = kpis.copy()
    kpis.index.name = "kpi"
    verb = "minimise" if objective.get("sense") == "min" else "maximise"
    parts = [
        '<div class="adopt-plan">',
        f"<p><b>Plan {html.escape(plan_id)}</b> · {html.escape(status)} · "
        f"{verb} {html.escape(str(objective.get('name')))} = {fmt(objective.get('value'))}"
        f" · certified gap {fmt(gap)}</p>",
        table_html(kpis),
        f"<p>Binding constraints: {fmt(', '.join(binding) or 'none')}</p>",
    ]
    cols = [c for c in CELL_COLUMNS if c in allocation.columns]
    top = allocation.sort_values("spend", ascending=False).head(TOP_CELLS)[cols]
    parts.append(f"<p>Top {len(top)} of {len(allocation)} cells by spend:</p>")
    parts.append(table_html(top, index=False))
    if frontier is not None:
        parts.append(
            f"<p>Frontier: {len(frontier)} budgets from "
            f"{fmt(frontier['budget'].min())} to "
            f"{fmt(frontier['budget'].max())}.</p>"
        )
    parts += [f"<p>Note: {fmt(note)}</p>" for note in notes]
    parts.append("</div>")
    return "".join(parts)
