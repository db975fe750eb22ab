"""Report sections that explain the plan: marginal ROI, shadow prices, binding constraints.

Data flow: `ReportData` (allocation with ``marginal_roi``; plan.json
``constraints`` with shadow prices) -> sentences from `adopt.report.words`
-> HTML `Section`s.
"""

from __future__ import annotations

from adopt.report.data import ReportData
from adopt.report.fmt import esc, frame_rows, num, table
from adopt.report.margin import placement_margins
from adopt.report.sections_plan import Section, unavailable
from adopt.report.words import Steps, explain_constraint, placement_sentence, step_for


def steps(data: ReportData) -> Steps:
    """Round steps of spend, impressions and users, 1 to 8% of the plan's own."""
    totals = data.plan.get("totals") or {}
    return Steps(spend=step_for(data.budget or totals.get("spend")),
                 impressions=step_for(totals.get("impressions")),
                 users=step_for(totals.get("reach")))


def marginal(data: ReportData) -> Section:
    """The budget's shadow price and each placement's marginal ROI, in words."""
    metric = data.metric
    step = steps(data)
    rows = {str(r.get("name")): r for r in data.plan.get("constraints", [])}
    html = []
    budget = rows.get("budget")
    if data.minimise_spend:
        html.append("<p>This plan spends as little as possible to reach its target; "
                    "there is no budget to extend.</p>")
    elif budget is None:
        html.append(unavailable("the plan has no budget row"))
    elif budget.get("binding"):
        price = float(budget.get("shadow_price") or 0.0)
        html.append(f"<p><b>Budget.</b> {esc(num(step.spend))} more of the total budget "
                    f"would buy about {esc(num(price * step.spend))} {esc(metric)} (shadow price "
                    f"{esc(num(price))} {esc(metric)} per unit of spend).</p>")
    else:
        html.append(f"<p><b>Budget.</b> The plan spends {esc(num(budget.get('lhs')))} of its "
                    f"budget of {esc(num(budget.get('rhs')))}: other limits (below) bind "
                    f"first, so more budget would buy nothing.</p>")
    a = data.allocation
    if "marginal_roi" not in a:
        html.append(unavailable("the allocation has no marginal_roi column"))
        return Section("marginal", "Marginal ROI and shadow prices", "".join(html))
    per = placement_margins(a, data.plan.get("constraints", []))
    price = float(budget.get("shadow_price") or 0.0) if budget and budget.get("binding") \
        and not data.minimise_spend else None
    sentences = [placement_sentence(r.placement_id, r.margin_roi, r.last_roi, metric,
                                    rows.get(f"inventory[{r.placement_id}]"), step, price)
                 for r in per.itertuples(index=False)]
    html.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul>")
    html.append("<p>More budget goes to the cells it alone holds back: those whose last "
                "frequency position is only partly bought and that no other binding "
                "constraint touches. Their return is close to the budget's shadow price "
                "everywhere (an optimal plan equalises it). The last impressions bought in "
                "other cells can return more, but those cells are at a frequency cap or "
                "another limit.</p>")
    per["last"] = per["last_roi"] * step.spend
    per["next"] = per["margin_roi"] * step.spend
    cols = ["placement_id", "spend", "last", "next", "margin_cells"]
    html.append(table(frame_rows(per, cols), [
        "placement", "spend", f"{metric} per {num(step.spend)}: last impressions bought",
        f"{metric} per {num(step.spend)} more", "cells more budget would extend"],
        numeric=[False, True, True, True, True]))
    return Section("marginal", "Marginal ROI and shadow prices", "".join(html))


def binding(data: ReportData) -> Section:
    """The constraints that hold with equality and have a price, explained."""
    rows = [r for r in data.plan.get("constraints", []) if r.get("binding")]
    if not data.plan.get("constraints"):
        return Section("binding", "Binding constraints",
                       unavailable("plan.json lists no constraints"))
    if not rows:
        return Section("binding", "Binding constraints",
                       "<p>No constraint binds: the plan stops where more impressions would "
                       "add nothing.</p>")
    rows = sorted(rows, key=lambda r: -abs(float(r.get("shadow_price") or 0.0)))
    step = steps(data)
    items = [explain_constraint(r, data.metric, data.minimise_spend, step) for r in rows]
    html = ["<ul>" + "".join(f"<li>{esc(s)}</li>" for s in items) + "</ul>"]
    cols = ["name", "kind", "sense", "rhs", "lhs", "shadow_price"]
    html.append(table([[r.get(c) for c in cols] for r in rows],
                      ["constraint", "kind", "sense", "limit", "used", "shadow price"],
                      numeric=[False, False, False, True, True, True]))
    gained = "spend added" if data.minimise_spend else f"{data.metric} gained"
    html.append(f"<p>A shadow price is {esc(gained)} per unit more of the constraint's "
                f"limit, in that limit's unit (spend for budgets and spend limits, "
                f"impressions for inventory, flights, pins and reachable impressions, users "
                f"for reach).</p>")
    return Section("binding", "Binding constraints", "".join(html))
