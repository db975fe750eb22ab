"""Comparing two plans: KPI deltas, the cells that gained or lost spend, what the change buys.

Data flow: `adopt.Plan.compare(other)` -> `compare_tables` (the two plans'
KPIs and allocations) -> `PlanComparison`, printed in a terminal (`__str__`)
or shown in a notebook (`_repr_html_`).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adopt.plan.html import TOP_CELLS, table_html

CELL = ["campaign_id", "segment", "placement_id"]
CELL_VALUES = ("spend", "impressions", "reach", "clicks", "conversions", "revenue")
OUTCOMES = ("clicks", "conversions", "revenue")


@dataclass
class PlanComparison:
    """What changes from the `other` plan to `this` one (deltas are this minus other).

    Attributes
    ----------
    this, other : str
        Names of the two plans (their plan ids).
    kpis : DataFrame
        Index: the KPIs (budget, spend, ..., cpa, roas); columns: other,
        this, delta, relative (delta / |other|).
    cells : DataFrame
        Every cell in either plan: campaign_id, segment, placement_id, then
        ``<value>_other``, ``<value>_this`` and ``delta_<value>`` for spend,
        impressions, reach, clicks, conversions, revenue, and the frequency caps.
    buys : dict
        extra_spend; extra_clicks / conversions / revenue; ``<outcome>_per_extra_spend``
        (extra outcome per extra unit of spend) and incremental_cpa (extra
        spend per extra conversion); NaN where the spend does not change.
    """

    this: str
    other: str
    kpis: pd.DataFrame
    cells: pd.DataFrame
    buys: dict

    def gained(self, tol: float = 1e-6) -> pd.DataFrame:
        """Cells whose spend rose, largest rise first."""
        rows = self.cells.loc[self.cells["delta_spend"] > tol]
        return rows.sort_values("delta_spend", ascending=False).reset_index(drop=True)

    def lost(self, tol: float = 1e-6) -> pd.DataFrame:
        """Cells whose spend fell, largest fall first."""
        rows = self.cells.loc[self.cells["delta_spend"] < -tol]
        return rows.sort_values("delta_spend").reset_index(drop=True)

    def summary(self) -> str:
        """One sentence: the extra spend and what it buys."""
        b = self.buys
        if not math.isfinite(b["conversions_per_extra_spend"]):
            return (
                f"{self.this} spends the same as {self.other}; conversions change by "
                f"{b['extra_conversions']:+,.2f}."
            )
        more = b["extra_spend"] > 0
        return (
            f"{self.this} spends {abs(b['extra_spend']):,.2f} {'more' if more else 'less'} "
            f"than {self.other} for {b['extra_conversions']:+,.2f} conversions and "
            f"{b['extra_revenue']:+,.2f} revenue: each 1,000 of spend "
            f"{'added buys' if more else 'cut loses'} "
            f"{1000 * b['conversions_per_extra_spend']:,.3g} conversions "
            f"(incremental CPA {b['incremental_cpa']:,.4g})."
        )

    def __str__(self) -> str:
        lines = [
            f"plan {self.this} vs {self.other}",
            "",
            self.kpis.to_string(float_format=_number),
            "",
            self.summary(),
        ]
        for title, table in (("gained spend", self.gained()), ("lost spend", self.lost())):
            lines.append(f"\ncells that {title} ({len(table)}):")
            for row in table.head(5).itertuples(index=False):
                lines.append(
                    f"  {row.campaign_id} / {row.segment} / {row.placement_id}: "
                    f"spend {row.delta_spend:+,.2f}, "
                    f"conversions {row.delta_conversions:+,.3g}"
                )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The notebook view: KPI deltas, what the change buys, the cells that moved."""
        kpis = self.kpis.rename(columns={"other": self.other, "this": self.this})
        kpis.index.name = "kpi"
        cols = ["campaign_id", "segment", "placement_id", "spend_other", "spend_this",
                "delta_spend", "delta_conversions"]
        parts = [
            '<div class="adopt-plan-comparison">',
            f"<p><b>Plan {html.escape(self.this)} vs {html.escape(self.other)}</b></p>",
            table_html(kpis),
            f"<p>{html.escape(self.summary())}</p>",
        ]
        for title, table in (("gained spend", self.gained()), ("lost spend", self.lost())):
            parts.append(f"<p>Cells that {title}: {len(table)}</p>")
            if len(table):
                parts.append(table_html(table.head(TOP_CELLS)[cols], index=False))
        parts.append("</div>")
        return "".join(parts)


def _number(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"


def compare_tables(
    names: tuple[str, str],
    kpis: tuple[pd.Series, pd.Series],
    allocations: tuple[pd.DataFrame, pd.DataFrame],
) -> PlanComparison:
    """Compare this plan with the other (deltas are this minus other); each pair is (this, other).

    Parameters
    ----------
    names : (str, str)
        How the two plans are named in the comparison.
    kpis : (Series, Series)
        `adopt.Plan.kpis` of each.
    allocations : (DataFrame, DataFrame)
        `adopt.Plan.allocation` of each.

    Returns
    -------
    PlanComparison
    """
    this, other = allocations
    # the certified gap is a property of each solve, not something a change buys
    a, b = kpis[0].drop("gap"), kpis[1].drop("gap")
    kpis = pd.DataFrame({"other": b, "this": a, "delta": a - b})
    kpis["relative"] = kpis["delta"] / kpis["other"].abs().replace(0.0, np.nan)

    values = [c for c in (*CELL_VALUES, "frequency_cap") if c in this.columns]
    cells = pd.merge(
        other[CELL + values],
        this[CELL + values],
        on=CELL,
        how="outer",
        suffixes=("_other", "_this"),
    )
    for col in values:
        for side in ("_other", "_this"):
            cells[col + side] = cells[col + side].fillna(0)
        if col != "frequency_cap":
            cells[f"delta_{col}"] = cells[col + "_this"] - cells[col + "_other"]
    cells = cells.sort_values(CELL).reset_index(drop=True)

    extra_spend = float(a["spend"] - b["spend"])
    moved = abs(extra_spend) > 1e-9 * max(1.0, abs(float(b["spend"])))
    buys = {"extra_spend": extra_spend}
    for name in OUTCOMES:
        extra = float(a[name] - b[name])
        buys[f"extra_{name}"] = extra
        buys[f"{name}_per_extra_spend"] = extra / extra_spend if moved else math.nan
    extra_conv = buys["extra_conversions"]
    buys["incremental_cpa"] = extra_spend / extra_conv if moved and extra_conv else math.nan
    return PlanComparison(*names, kpis=kpis, cells=cells, buys=buys)
