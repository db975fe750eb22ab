"""Shadow prices and marginal ROI in words, with their units.

Data flow: `adopt.report.sections_why` hands each constraint row of plan.json
(name, kind, sense, rhs, lhs, shadow_price) to `explain_constraint`. A shadow
price is objective gained per unit of the constraint's right-hand side, and
that unit depends on the kind: money for budgets and spend limits,
impressions for inventory, flights, pins and reachable impressions, users for
reach rows. Sentences quote the effect of a round step of such units
(`step_for`): 1,000 for budgets of 12,000 to 119,999, a smaller or larger
power of ten for smaller or larger plans, so a linear extrapolation stays
near the plan.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from adopt.report.fmt import num

MONEY = {"budget", "campaign_budget", "campaign_min_spend", "min_spend", "max_spend",
         "guard_rail"}
IMPRESSIONS = {"inventory", "flight", "pin", "reachable"}
USERS = {"min_reach"}
# rows whose right-hand side is 0 and whose unit is spend moved between groups
SPEND_RATIO = {"target_cpa", "target_roas", "min_share", "max_share"}


def constraint_subject(name: str, kind: str) -> str:
    """A readable name of a constraint row, from its label (``inventory[p1]`` ...)."""
    m = re.fullmatch(r"[^\[]*\[(.*)\]", name)
    key = m.group(1) if m else ""
    parts = key.split("/")
    if kind == "budget":
        return "the total budget"
    if kind == "inventory":
        return f"the inventory of placement {key}"
    if kind == "campaign_budget":
        return f"the budget of campaign {key}"
    if kind == "campaign_min_spend":
        return f"the minimum spend of campaign {key}"
    if kind in ("min_spend", "max_spend", "min_share", "max_share"):
        what = {"min_spend": "minimum spend", "max_spend": "maximum spend",
                "min_share": "minimum share of spend", "max_share": "maximum share of spend"}[kind]
        return f"the {what} on {key.replace('=', ' ')}" if key != "total" else f"the total {what}"
    if kind == "flight" and "@" in key:
        campaign, placement = key.split("@", 1)
        return f"the flight of campaign {campaign} on placement {placement}"
    if kind == "reachable" and "@" in key:
        segment, placement = key.split("@", 1)
        return f"the impressions the reachable users of segment {segment} can take at " \
               f"placement {placement}"
    if kind == "guard_rail" and len(parts) >= 3:
        # a segment name may hold '/' (age/gender/interest): campaign first, placement last
        return (f"the guard rail of campaign {parts[0]}, segment {'/'.join(parts[1:-1])}, "
                f"placement {parts[-1]} (max_spend_multiple x the largest spend observed there)")
    if kind == "min_reach" and len(parts) == 2:
        return f"the minimum reach of campaign {parts[0]} in segment {parts[1]}"
    if kind == "pin" and len(parts) == 3:
        return f"the pinned impressions of campaign {parts[0]}, segment {parts[1]}, " \
               f"placement {parts[2]}"
    if kind in ("target_cpa", "target_roas"):
        return f"the target {kind.split('_')[1].upper()} ({key})"
    if kind == "target":
        return f"the {key} target"
    return name


def unit_of(kind: str) -> str:
    """The unit of a constraint's right-hand side: "spend", "impressions", "users" or "units"."""
    if kind in MONEY or kind in SPEND_RATIO:
        return "spend"
    if kind in IMPRESSIONS:
        return "impressions"
    if kind in USERS:
        return "users"
    return "units"


def step_for(total: float | None) -> float:
    """The largest power of ten at most 1/12 of `total` (never below 1).

    1,000 for totals from 12,000 to 119,999: a step of 1 to 8% of the plan, so
    a sentence that extrapolates a shadow price linearly stays near the plan.
    """
    if total is None or not math.isfinite(total) or total < 12:
        return 1.0
    return float(10 ** math.floor(math.log10(total / 12)))


@dataclass(frozen=True)
class Steps:
    """The step quoted for each unit (see `step_for`)."""

    spend: float = 1000.0
    impressions: float = 1000.0
    users: float = 1000.0

    def of(self, unit: str) -> float:
        return float(getattr(self, unit, 1.0))


def explain_constraint(row: dict, metric: str, minimise_spend: bool = False,
                       steps: Steps | None = None) -> str:
    """One sentence on what loosening or tightening a constraint is worth.

    Parameters
    ----------
    row : dict
        One entry of plan.json ``constraints``.
    metric : str
        The objective's metric (clicks, conversions, revenue, reach).
    minimise_spend : bool
        The plan minimises spend for a target: prices are then spend per unit.
    steps : Steps, optional
        How many units of spend, impressions or users a sentence quotes.

    Returns
    -------
    str
        Plain text (to be escaped by the caller).
    """
    steps = steps or Steps()
    kind = str(row.get("kind", ""))
    price = float(row.get("shadow_price") or 0.0)
    subject = constraint_subject(str(row.get("name", "")), kind)
    unit = unit_of(kind)
    if minimise_spend:
        if kind == "target":
            return f"Each extra unit of {subject} would cost about {num(price)} more spend."
        return f"Shadow price of {subject}: {num(price)} of spend per unit ({unit})."
    if kind == "target":
        return f"Shadow price of {subject}: {num(price)} {metric} per unit."
    step = steps.of(unit)
    effect = price * step
    amount = f"{num(step)} (in spend)" if kind in SPEND_RATIO else f"{num(step)} {unit}"
    if abs(effect) < 1e-12:
        return f"Changing {subject} by {amount} would not change {metric}."
    if effect > 0:
        if kind in SPEND_RATIO:
            return f"Loosening {subject} by {amount} would buy about {num(effect)} {metric}."
        more = {"spend": "of", "impressions": "impressions of", "users": "users for"}[unit]
        return f"{num(step)} more {more} {subject} would buy about {num(effect)} {metric}."
    return (f"Raising {subject} by {amount} would cost about {num(-effect)} {metric}; "
            f"lowering it by as much would gain about {num(-effect)} {metric}.")


def placement_sentence(placement: str, margin_roi: float, last_roi: float, metric: str,
                       inventory_row: dict | None, steps: Steps | None = None,
                       budget_price: float | None = None) -> str:
    """What one more step of spend (e.g. 1,000) on a placement would buy.

    Parameters
    ----------
    placement : str
    margin_roi : float
        Objective per unit of spend of the cells more budget would extend
        (`adopt.report.margin`); NaN when there are none.
    last_roi : float
        Objective per unit of spend of the last impressions bought there.
    metric : str
    inventory_row : dict, optional
        The placement's inventory constraint: when it binds, more spend buys
        nothing there and the sentence prices the inventory instead.
    steps : Steps, optional
    budget_price : float, optional
        The budget's shadow price: what the next impressions of a cell bought
        through a whole frequency position can be worth at most.
    """
    steps = steps or Steps()
    step = num(steps.spend)
    if inventory_row is not None and inventory_row.get("binding"):
        value = float(inventory_row.get("shadow_price") or 0.0) * steps.impressions
        return (f"Placement {placement} has no inventory left, so more spend buys nothing "
                f"there; {num(steps.impressions)} more impressions of inventory would add "
                f"about {num(value)} {metric}.")
    if math.isfinite(margin_roi):
        return (f"One more {step} on placement {placement} would buy about "
                f"{num(margin_roi * steps.spend)} {metric}.")
    last = f"its last impressions bought {num(last_roi * steps.spend)} {metric} per {step}"
    if budget_price:
        return (f"On placement {placement} every cell is bought through a whole frequency "
                f"position or held by another limit, so one more {step} there would buy the "
                f"next impressions per user: at most about {num(budget_price * steps.spend)} "
                f"{metric} ({last}).")
    return f"Placement {placement}: {last}."
