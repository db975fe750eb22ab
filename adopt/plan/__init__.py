"""The plan: make it (`make_plan`), hold it (`Plan`), save and load its folder, compare two.

Data flow: curves + plan spec -> `make_plan` (the one way: `adopt.Planner.plan`,
``adopt plan`` and the pipeline's plan stage call it) -> `Plan` -> `Plan.save`
-> ``plans/<plan_id>/`` -> `Plan.load`, `Plan.compare`, `Plan.to_html`.
Module map: make (make_plan), plan (Plan), folder (plan.json and the files),
baselines (uniform and historical), compare (PlanComparison), html (notebook view).
"""

from adopt.plan.compare import PlanComparison
from adopt.plan.folder import plan_folder
from adopt.plan.make import make_plan
from adopt.plan.plan import Plan, kpis_of, write_plan

__all__ = ["Plan", "PlanComparison", "kpis_of", "make_plan", "plan_folder", "write_plan"]
