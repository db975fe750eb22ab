"""adopt: ad-targeting optimization engine, from raw ad logs to a certified-optimal plan.

The planner's surface::

    import adopt

    planner = adopt.Planner("ws")
    planner.ingest("data/")
    planner.build_profiles()
    planner.train()
    planner.segment(k=12)
    planner.curves()
    plan = planner.plan(budget=100_000, objective="conversions",
                        constraints=[adopt.frequency_cap(3), adopt.target_cpa(40.0)])
    plan.kpis, plan.frontier, plan.baselines, plan.to_html("report.html")

Names are loaded on first use (module ``__getattr__``), so ``import adopt``
stays fast and loads neither torch, ray nor lightgbm.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from adopt.exceptions import (
    AdoptError,
    InfeasibleError,
    InputError,
    NotFittedError,
    ParameterError,
    WorkspaceError,
)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Planner": "adopt.planner",
    "Plan": "adopt.plan",
    "PlanComparison": "adopt.plan",
    "PlanSpec": "adopt.optimize.spec",
    "Objective": "adopt.optimize.spec",
    "CampaignBudget": "adopt.optimize.spec",
    "FrequencyCap": "adopt.optimize.spec",
    "Inventory": "adopt.optimize.spec",
    "MinReach": "adopt.optimize.spec",
    "Pin": "adopt.optimize.spec",
    "SpendLimit": "adopt.optimize.spec",
    "TargetRatio": "adopt.optimize.spec",
    "frequency_cap": "adopt.optimize.spec",
    "load_spec": "adopt.optimize.spec",
    "max_share": "adopt.optimize.spec",
    "max_spend": "adopt.optimize.spec",
    "min_spend": "adopt.optimize.spec",
    "target_cpa": "adopt.optimize.spec",
    "target_roas": "adopt.optimize.spec",
    "ProfileParams": "adopt.profiles",
    "build_profiles": "adopt.profiles",
    "generate_world": "adopt.synth",
    "load_truth": "adopt.synth",
}

__all__ = [
    "AdoptError",
    "CampaignBudget",
    "FrequencyCap",
    "InfeasibleError",
    "InputError",
    "Inventory",
    "MinReach",
    "NotFittedError",
    "Objective",
    "ParameterError",
    "Pin",
    "Plan",
    "PlanComparison",
    "PlanSpec",
    "Planner",
    "ProfileParams",
    "SpendLimit",
    "TargetRatio",
    "WorkspaceError",
    "__version__",
    "build_profiles",
    "frequency_cap",
    "generate_world",
    "load_spec",
    "load_truth",
    "max_share",
    "max_spend",
    "min_spend",
    "target_cpa",
    "target_roas",
]

if TYPE_CHECKING:
    from adopt.optimize.spec import (
        CampaignBudget,
        FrequencyCap,
        Inventory,
        MinReach,
        Objective,
        Pin,
        PlanSpec,
        SpendLimit,
        TargetRatio,
        frequency_cap,
        load_spec,
        max_share,
        max_spend,
        min_spend,
        target_cpa,
        target_roas,
    )
    from adopt.plan import Plan, PlanComparison
    from adopt.planner import Planner
    from adopt.profiles import ProfileParams, build_profiles
    from adopt.synth import generate_world, load_truth


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adopt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
