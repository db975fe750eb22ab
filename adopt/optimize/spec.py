"""The plan spec: budget, objective and constraints, as frozen pydantic models.

Data flow: a planner writes ``plan.toml`` (or builds a `PlanSpec` in Python);
`adopt.optimize.lp` turns the spec and the curves into a linear program.
Constraints are small objects, one class per kind, with factories for the
common ones (`min_spend`, `max_share`, ...). The file format is documented in
``adopt/optimize/README.md``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adopt.exceptions import InputError

Metric = Literal["clicks", "conversions", "revenue", "reach"]
Level = Literal["total", "campaign", "segment", "placement"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CampaignBudget(_Frozen):
    """Spend limits and flight of one campaign."""

    type: Literal["campaign_budget"] = "campaign_budget"
    campaign_id: str = Field(description="The campaign the limits apply to.")
    max_spend: float | None = Field(None, ge=0, description="Most the campaign may spend.")
    min_spend: float = Field(0.0, ge=0, description="Least the campaign must spend.")
    start: dt.date | None = Field(None, description="First day of the flight.")
    end: dt.date | None = Field(None, description="Last day of the flight.")

    @model_validator(mode="after")
    def _order(self) -> CampaignBudget:
        if self.max_spend is not None and self.min_spend > self.max_spend:
            raise ValueError(
                f"campaign_budget {self.campaign_id}: min_spend {self.min_spend} exceeds "
                f"max_spend {self.max_spend}"
            )
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"campaign_budget {self.campaign_id}: start is after end")
        return self


class Inventory(_Frozen):
    """Impressions a placement can serve in the plan period, shared by all campaigns."""

    type: Literal["inventory"] = "inventory"
    placement_id: str = Field(description="The placement.")
    impressions: float = Field(ge=0, description="Impressions available in the period.")


class FrequencyCap(_Frozen):
    """Most impressions one user receives, per placement or across placements.

    With ``across_placements`` false the cap holds at each placement (or at
    ``placement_id`` only); with it true it bounds the average impressions per
    user of a campaign x segment summed over placements.
    """

    type: Literal["frequency_cap"] = "frequency_cap"
    cap: float = Field(gt=0, description="Impressions per user.")
    placement_id: str | None = Field(None, description="Only this placement (default: each).")
    across_placements: bool = Field(False, description="Cap the sum over placements.")


class SpendLimit(_Frozen):
    """Minimum / maximum spend or share of spend of a campaign, segment or placement."""

    type: Literal["spend"] = "spend"
    level: Level = Field(description="What `key` names: campaign, segment or placement.")
    key: str | None = Field(None, description="The campaign_id, segment or placement_id.")
    min: float | None = Field(None, ge=0, description="Least spend.")
    max: float | None = Field(None, ge=0, description="Most spend.")
    min_share: float | None = Field(None, ge=0, le=1, description="Least share of total spend.")
    max_share: float | None = Field(None, ge=0, le=1, description="Most share of total spend.")

    @model_validator(mode="after")
    def _some_limit(self) -> SpendLimit:
        if self.level != "total" and self.key is None:
            raise ValueError(f"a spend limit at level '{self.level}' needs a key")
        if all(v is None for v in (self.min, self.max, self.min_share, self.max_share)):
            raise ValueError("a spend limit needs at least one of min, max, min_share, max_share")
        where = f"spend limit on {self.level} {self.key or ''}".rstrip()
        pairs = ((self.min, self.max, ""), (self.min_share, self.max_share, "_share"))
        for low, high, what in pairs:
            if low is not None and high is not None and low > high:
                raise ValueError(f"{where}: min{what} {low} exceeds max{what} {high}")
        return self


class Pin(_Frozen):
    """Fix the impressions of one cell (0 excludes it)."""

    type: Literal["pin"] = "pin"
    campaign_id: str
    segment: str
    placement_id: str
    impressions: float = Field(ge=0, description="Impressions the cell must receive.")


class MinReach(_Frozen):
    """Least number of users of a segment reached at least once."""

    type: Literal["min_reach"] = "min_reach"
    segment: str
    users: float = Field(gt=0, description="Users to reach.")
    campaign_id: str | None = Field(None, description="Only this campaign (default: each).")


class TargetRatio(_Frozen):
    """Target CPA (spend / conversions <= value) or ROAS (revenue / spend >= value)."""

    type: Literal["target_cpa", "target_roas"]
    value: float = Field(gt=0, description="The CPA ceiling or the ROAS floor.")
    campaign_id: str | None = Field(None, description="Only this campaign (default: all).")


Constraint = Annotated[
    CampaignBudget | Inventory | FrequencyCap | SpendLimit | Pin | MinReach | TargetRatio,
    Field(discriminator="type"),
]


class Objective(_Frozen):
    """Maximise a metric within the budget, or (with `target`) reach it at least spend."""

    metric: Metric = Field("conversions", description="clicks, conversions, revenue or reach.")
    target: float | None = Field(
        None, gt=0, description="When given: minimise spend subject to metric >= target."
    )


class PlanSpec(_Frozen):
    """Everything a plan needs besides the curves."""

    plan_id: str | None = Field(None, description="Folder name under plans/ (default: a hash).")
    budget: float | None = Field(None, description="Total spend ceiling.")
    objective: Objective = Field(default_factory=Objective)
    constraints: tuple[Constraint, ...] = Field(default=(), description="The constraint list.")
    period_start: dt.date | None = Field(None, description="First day of the plan period.")
    period_end: dt.date | None = Field(None, description="Last day of the plan period.")
    integer_caps: bool = Field(False, description="Each reached user gets exactly the cap.")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("objective"), str):
            data = {**data, "objective": {"metric": data["objective"]}}
        return data

    @model_validator(mode="after")
    def _check(self) -> PlanSpec:
        if self.budget is not None and not self.budget > 0:
            raise ValueError(
                f"The 'budget' parameter of PlanSpec must be a positive number. "
                f"Got {self.budget} instead."
            )
        if self.budget is None and self.objective.target is None:
            raise ValueError(
                "The 'budget' parameter of PlanSpec is required unless the objective has a target."
            )
        has_flight = any(
            isinstance(c, CampaignBudget) and (c.start or c.end) for c in self.constraints
        )
        if has_flight and not (self.period_start and self.period_end):
            raise ValueError("campaign flights need period_start and period_end on the plan")
        if self.period_start and self.period_end and self.period_start > self.period_end:
            raise ValueError("period_start is after period_end")
        return self


def min_spend(level: Level, key: str, amount: float) -> SpendLimit:
    """A minimum spend on one campaign, segment or placement."""
    return SpendLimit(level=level, key=key, min=amount)


def max_spend(level: Level, key: str, amount: float) -> SpendLimit:
    """A maximum spend on one campaign, segment or placement."""
    return SpendLimit(level=level, key=key, max=amount)


def max_share(level: Level, key: str, share: float) -> SpendLimit:
    """At most `share` of total spend on one campaign, segment or placement."""
    return SpendLimit(level=level, key=key, max_share=share)


def frequency_cap(cap: float, placement_id: str | None = None) -> FrequencyCap:
    """A per-placement frequency cap (at every placement when none is named)."""
    return FrequencyCap(cap=cap, placement_id=placement_id)


def target_cpa(value: float, campaign_id: str | None = None) -> TargetRatio:
    """Spend per conversion at most `value`."""
    return TargetRatio(type="target_cpa", value=value, campaign_id=campaign_id)


def target_roas(value: float, campaign_id: str | None = None) -> TargetRatio:
    """Revenue per unit of spend at least `value`."""
    return TargetRatio(type="target_roas", value=value, campaign_id=campaign_id)


def _as_input_error(exc: ValidationError, source: str) -> InputError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or None
    msg = err["msg"].removeprefix("Value error, ")
    return InputError(source, where, f"{msg} (got {err.get('input')!r})")


def parse_spec(data: dict, source: str = "plan") -> PlanSpec:
    """Build a `PlanSpec` from a dict; errors become `InputError` naming the field."""
    try:
        return PlanSpec.model_validate(data)
    except ValidationError as exc:
        raise _as_input_error(exc, source) from None


def load_spec(path: str | Path) -> PlanSpec:
    """Load a plan spec from a TOML file.

    Parameters
    ----------
    path : str or Path
        A TOML file with ``budget``, ``objective`` and ``[[constraints]]``
        tables (format: ``adopt/optimize/README.md``).

    Returns
    -------
    PlanSpec
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(path.name, None, f"cannot read the plan file: {exc}") from None
    return parse_spec(data, source=path.name)
