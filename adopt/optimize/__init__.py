"""The certified-optimal budget and frequency optimizer.

Data flow: curves table (from the curve stage, a planner's file, or
`fit_curves` on aggregates) + plan spec (``plan.toml``) -> `optimize` ->
`PlanResult` (allocation, totals, duals, binding constraints, certificate)
-> `adopt.plan` (``plans/<plan_id>/``). Module map: curves (contract),
spec (plan spec), lp (the LP), lagrangian (the fast exact method), highs
(general path), certificate, infeasible, integer, frontier, result, fit,
forecast, observed. Nothing here imports `adopt.curves` or `adopt.plan`.
"""

from adopt.optimize.certificate import Certificate, certify
from adopt.optimize.curves import CurveGrid, build_grid, validate_curves
from adopt.optimize.fit import fit_curves
from adopt.optimize.frontier import budget_frontier
from adopt.optimize.lp import PlanLP, build_lp
from adopt.optimize.result import PlanResult
from adopt.optimize.solve import optimize
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
    parse_spec,
    target_cpa,
    target_roas,
)

__all__ = [
    "CampaignBudget",
    "Certificate",
    "CurveGrid",
    "FrequencyCap",
    "Inventory",
    "MinReach",
    "Objective",
    "Pin",
    "PlanLP",
    "PlanResult",
    "PlanSpec",
    "SpendLimit",
    "TargetRatio",
    "budget_frontier",
    "build_grid",
    "build_lp",
    "certify",
    "fit_curves",
    "frequency_cap",
    "load_spec",
    "max_share",
    "max_spend",
    "min_spend",
    "optimize",
    "parse_spec",
    "target_cpa",
    "target_roas",
    "validate_curves",
]
