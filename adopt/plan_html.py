"""Compact HTML summaries of plans and plan comparisons for notebooks (`_repr_html_`).

Data flow: `adopt.Plan` and `adopt.plan_compare.PlanComparison` call these to
show themselves in Jupyter. Every text that reaches the page (campaign,
segment and placement names, notes, constraint names) goes through
`html.escape`; the full report is `adopt.report`'s job.
"""

from __future__ import annotations

import html
import math
from numbers import Number
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from adopt.plan import Plan
    from adopt.plan_compare import PlanComparison

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


def plan_html(plan: Plan) -> str:
    """The notebook summary of a plan: KPIs beside the baselines, binding rows, top cells."""
    objective = plan.objective
    kpis = pd.DataFrame({"plan": plan.kpis})
    for name, row in plan.baselines.iterrows():
        kpis[name] = row
    kpis.index.name = "kpi"
    verb = "minimise" if objective.get("sense") == "min" else "maximise"
    parts = [
        '<div class="adopt-plan">',
        f"<p><b>Plan {html.escape(plan.plan_id)}</b> · {html.escape(plan.status)} · "
        f"{verb} {html.escape(str(objective.get('name')))} = {fmt(objective.get('value'))}"
        f" · certified gap {fmt(plan.certificate.get('gap'))}</p>",
        table_html(kpis),
        f"<p>Binding constraints: {fmt(', '.join(plan.binding) or 'none')}</p>",
    ]
    cols = [c for c in CELL_COLUMNS if c in plan.allocation.columns]
    top = plan.allocation.sort_values("spend", ascending=False).head(TOP_CELLS)[cols]
    parts.append(f"<p>Top {len(top)} of {len(plan.allocation)} cells by spend:</p>")
    parts.append(table_html(top, index=False))
    if plan.frontier is not None:
        parts.append(
            f"<p>Frontier: {len(plan.frontier)} budgets from "
            f"{fmt(plan.frontier['budget'].min())} to "
            f"{fmt(plan.frontier['budget'].max())}.</p>"
        )
    parts += [f"<p>Note: {fmt(note)}</p>" for note in plan.notes]
    parts.append("</div>")
    return "".join(parts)


def comparison_html(cmp: PlanComparison) -> str:
    """The notebook view of a comparison: KPI deltas, what it buys, cells that moved."""
    kpis = cmp.kpis.rename(columns={"other": cmp.other, "this": cmp.this})
    kpis.index.name = "kpi"
    cols = [
        "campaign_id",
        "segment",
        "placement_id",
        "spend_other",
        "spend_this",
        "delta_spend",
        "delta_conversions",
    ]
    parts = [
        '<div class="adopt-plan-comparison">',
        f"<p><b>Plan {html.escape(cmp.this)} vs {html.escape(cmp.other)}</b></p>",
        table_html(kpis),
        f"<p>{html.escape(cmp.summary())}</p>",
    ]
    for title, table in (("gained spend", cmp.gained()), ("lost spend", cmp.lost())):
        parts.append(f"<p>Cells that {title}: {len(table)}</p>")
        if len(table):
            parts.append(table_html(table.head(TOP_CELLS)[cols], index=False))
    parts.append("</div>")
    return "".join(parts)
