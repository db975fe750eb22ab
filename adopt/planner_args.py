"""Argument checks of `adopt.Planner`: one clear `ParameterError` per bad argument.

Data flow: `Planner` methods call these (and the generic checks of
`adopt._validation`) before any stage runs. Messages
follow "The 'budget' parameter of Planner.plan must be a positive number.
Got -5 instead."
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from adopt._validation import check_positive
from adopt.exceptions import ParameterError


def objective_of(where: str, objective: Any) -> dict:
    """The objective as a dict (metric, target) from a metric name, an `Objective` or a dict."""
    from adopt.optimize.spec import Objective

    if isinstance(objective, Objective):
        return objective.model_dump()
    if isinstance(objective, str):
        objective = {"metric": objective}
    if isinstance(objective, dict):
        try:
            return Objective.model_validate(objective).model_dump()
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ParameterError(
                f"The 'objective' parameter of {where} must name a metric (clicks, conversions, "
                f"revenue or reach) and optionally a positive target; {field}: "
                f"{err['msg']}. Got {objective!r} instead."
            ) from None
    raise ParameterError(
        f"The 'objective' parameter of {where} must be a metric name, an "
        f"Objective or a dict. Got {type(objective).__name__} instead."
    )


def plan_constraints(where: str, constraints: Any) -> tuple:
    """The constraint objects (or dicts in the plan file's form) as a tuple."""
    from adopt.optimize.spec import (
        CampaignBudget,
        FrequencyCap,
        Inventory,
        MinReach,
        Pin,
        SpendLimit,
        TargetRatio,
    )

    kinds = (CampaignBudget, FrequencyCap, Inventory, MinReach, Pin, SpendLimit, TargetRatio)
    if isinstance(constraints, BaseModel):
        constraints = (constraints,)
    if isinstance(constraints, str | bytes) or not isinstance(constraints, Sequence):
        raise ParameterError(
            f"The 'constraints' parameter of {where} must be a list of "
            f"constraints (e.g. [adopt.frequency_cap(3)]). Got "
            f"{constraints!r} instead."
        )
    for item in constraints:
        if not isinstance(item, (*kinds, dict)):
            raise ParameterError(
                f"The 'constraints' parameter of {where} must hold constraint objects "
                f"({', '.join(k.__name__ for k in kinds)}) or dicts. Got {item!r} instead."
            )
    return tuple(constraints)


def select_campaigns(
    where: str, curves: pd.DataFrame, campaigns: Any
) -> tuple[pd.DataFrame, list[str] | None, list]:
    """Restrict the curves to the chosen campaigns.

    Parameters
    ----------
    where : str
        The calling method, for messages.
    curves : DataFrame
        The curves table.
    campaigns : sequence of str or CampaignBudget, or None
        None keeps every campaign.

    Returns
    -------
    curves, chosen ids (None for all), the `CampaignBudget` objects to add as constraints
    """
    from adopt.optimize.spec import CampaignBudget

    if campaigns is None:
        return curves, None, []
    if isinstance(campaigns, str | CampaignBudget):
        campaigns = [campaigns]
    if not isinstance(campaigns, Sequence) or not campaigns:
        raise ParameterError(
            f"The 'campaigns' parameter of {where} must be a non-empty list of "
            f"campaign ids or CampaignBudget objects. Got {campaigns!r} "
            "instead."
        )
    budgets = [c for c in campaigns if isinstance(c, CampaignBudget)]
    ids = [c.campaign_id if isinstance(c, CampaignBudget) else c for c in campaigns]
    bad = [c for c in ids if not isinstance(c, str)]
    if bad:
        raise ParameterError(
            f"The 'campaigns' parameter of {where} must hold campaign ids "
            f"(str) or CampaignBudget objects. Got {bad[0]!r} instead."
        )
    if "campaign_id" not in curves.columns:
        raise ParameterError(
            f"The 'campaigns' parameter of {where} needs a campaign_id column in the curves."
        )
    known = curves["campaign_id"].astype(str)
    unknown = sorted(set(ids) - set(known))
    if unknown:
        shown = sorted(set(known))[:20]
        raise ParameterError(
            f"The 'campaigns' parameter of {where} names unknown campaign(s) "
            f"{unknown}; the curves have {shown}"
            f"{' ...' if known.nunique() > 20 else ''}."
        )
    chosen = sorted(set(ids))
    return curves.loc[known.isin(chosen)].reset_index(drop=True), chosen, budgets


def spec_data(
    where: str,
    base: Any,
    budget: Any,
    objective: Any,
    constraints: Any,
    integer_caps: Any,
    plan_id: Any,
) -> dict:
    """The plan spec as a dict: `base` (a `PlanSpec` or None) with the arguments over it.

    `budget`, `objective`, `integer_caps` and `plan_id` replace the spec's when
    given; `constraints` are added to the spec's.
    """
    data = base.model_dump() if base is not None else {}
    if budget is not None:
        data["budget"] = check_positive(where, "budget", budget)
    if objective is not None:
        data["objective"] = objective_of(where, objective)
    data["constraints"] = (*data.get("constraints", ()), *plan_constraints(where, constraints))
    if integer_caps is not None:
        if not isinstance(integer_caps, bool):
            raise ParameterError(
                f"The 'integer_caps' parameter of {where} must be True or False. "
                f"Got {integer_caps!r} instead."
            )
        data["integer_caps"] = integer_caps
    if plan_id is not None:
        from adopt.optimize.spec import check_plan_id

        data["plan_id"] = check_plan_id(where, plan_id)
    target = objective_of(where, data.get("objective") or {})["target"]
    if data.get("budget") is None and target is None:
        raise ParameterError(
            f"The 'budget' parameter of {where} must be a positive number (or give a spec "
            "with a budget, or an objective with a target). Got None instead."
        )
    return data
