"""The plan spec: budget, objective and constraints, as frozen pydantic models.

Data flow: a planner writes ``plan.toml`` (or builds a `PlanSpec` in Python);
`adopt.optimize.lp` turns the spec and the curves into a linear program.
Constraints are small objects, one class per kind, with factories for the
common ones (`min_spend`, `max_share`, ...). The file format is documented in
``adopt/optimize/README.md``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from numbers import Real
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from adopt._validation import OneLineErrors
from adopt.exceptions import InputError, ParameterError

Metric = Literal["clicks", "conversions", "revenue", "reach"]
Level = Literal["total", "campaign", "segment", "placement"]

PLAN_ID_RULE = ("1 to 100 letters, digits, '.', '_' or '-', not starting with '.'")
_PLAN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def plan_id_problem(value: object) -> str | None:
    """Why `value` cannot be a plan id (a folder name under plans/), or None when it can."""
    if not isinstance(value, str) or not _PLAN_ID.fullmatch(value):
        return f"must be {PLAN_ID_RULE}"
    return None


def check_plan_id(where: str, value: object) -> str:
    """`value` when it is a valid plan id, else `ParameterError` naming `where`."""
    problem = plan_id_problem(value)
    if problem:
        raise ParameterError(
            f"The 'plan_id' parameter of {where} {problem}. Got {value!r} instead."
        )
    return value  # type: ignore[return-value]


def _finite_number(value: Any) -> Any:
    # strict: a bool, a string or inf/nan is refused, never coerced
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Number = Annotated[float, BeforeValidator(_finite_number)]


def _shown(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _field_of(err: dict) -> str:
    # constraints[0].cap: without the tag pydantic puts in the location of a union member
    out = ""
    for p in err["loc"]:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p not in _KINDS:
            out += f".{p}" if out else str(p)
    return out


_PHRASES = {"Field required": "is required", "Extra inputs are not permitted": "is unknown",
            "Input should be a valid boolean": "must be True or False"}


def _as_parameter_error(
    exc: ValidationError, where: str, name: str | None = None
) -> ParameterError:
    err = exc.errors()[0]
    msg = err["msg"].removeprefix("Value error, ")
    if not err["loc"] and msg.startswith("The '"):
        return ParameterError(msg)  # a model check that already names the parameter
    name = name or _field_of(err) or "value"
    msg = _PHRASES.get(msg, msg.replace("Input should be ", "must be ", 1))
    if not msg.startswith(("must", "is ")):
        msg = f"is invalid: {msg}"
    got = "nothing" if err["type"] == "missing" else _shown(err.get("input"))
    return ParameterError(f"The '{name}' parameter of {where} {msg}. Got {got} instead.")


class _Frozen(BaseModel, metaclass=OneLineErrors):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def _parameter_error(cls, exc: ValidationError) -> ParameterError:
        return _as_parameter_error(exc, cls.__name__)


class CampaignBudget(_Frozen):
    """Spend limits and flight of one campaign."""

    type: Literal["campaign_budget"] = "campaign_budget"
    campaign_id: str = Field(description="The campaign the limits apply to.")
    max_spend: Number | None = Field(None, ge=0, description="Most the campaign may spend.")
    min_spend: Number = Field(0.0, ge=0, description="Least the campaign must spend.")
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
    impressions: Number = Field(ge=0, description="Impressions available in the period.")


class FrequencyCap(_Frozen):
    """Most impressions one user receives, per placement or across placements.

    With ``across_placements`` false the cap holds at each placement (or at
    ``placement_id`` only); with it true it bounds the average impressions per
    user of a campaign x segment summed over placements.
    """

    type: Literal["frequency_cap"] = "frequency_cap"
    cap: Number = Field(gt=0, description="Impressions per user.")
    placement_id: str | None = Field(None, description="Only this placement (default: each).")
    across_placements: StrictBool = Field(False, description="Cap the sum over placements.")


class SpendLimit(_Frozen):
    """Minimum / maximum spend or share of spend of a campaign, segment or placement."""

    type: Literal["spend"] = "spend"
    level: Level = Field(description="What `key` names: campaign, segment or placement.")
    key: str | None = Field(None, description="The campaign_id, segment or placement_id.")
    min: Number | None = Field(None, ge=0, description="Least spend.")
    max: Number | None = Field(None, ge=0, description="Most spend.")
    min_share: Number | None = Field(None, ge=0, le=1, description="Least share of total spend.")
    max_share: Number | None = Field(None, ge=0, le=1, description="Most share of total spend.")

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
    impressions: Number = Field(ge=0, description="Impressions the cell must receive.")


class MinReach(_Frozen):
    """Least number of users of a segment reached at least once."""

    type: Literal["min_reach"] = "min_reach"
    segment: str
    users: Number = Field(gt=0, description="Users to reach.")
    campaign_id: str | None = Field(None, description="Only this campaign (default: each).")


class TargetRatio(_Frozen):
    """Target CPA (spend / conversions <= value) or ROAS (revenue / spend >= value)."""

    type: Literal["target_cpa", "target_roas"]
    value: Number = Field(gt=0, description="The CPA ceiling or the ROAS floor.")
    campaign_id: str | None = Field(None, description="Only this campaign (default: all).")


_KINDS = frozenset({"campaign_budget", "inventory", "frequency_cap", "spend", "pin", "min_reach",
                    "target_cpa", "target_roas"})
Constraint = Annotated[
    CampaignBudget | Inventory | FrequencyCap | SpendLimit | Pin | MinReach | TargetRatio,
    Field(discriminator="type"),
]


class Objective(_Frozen):
    """Maximise a metric within the budget, or (with `target`) reach it at least spend."""

    metric: Metric = Field("conversions", description="clicks, conversions, revenue or reach.")
    target: Number | None = Field(
        None, gt=0, description="When given: minimise spend subject to metric >= target."
    )


class PlanSpec(_Frozen):
    """Everything a plan needs besides the curves."""

    plan_id: str | None = Field(None, description="Folder name under plans/ (default: a hash).")
    budget: Number | None = Field(None, description="Total spend ceiling.")
    objective: Objective = Field(default_factory=Objective)
    constraints: tuple[Constraint, ...] = Field(default=(), description="The constraint list.")
    period_start: dt.date | None = Field(None, description="First day of the plan period.")
    period_end: dt.date | None = Field(None, description="Last day of the plan period.")
    integer_caps: StrictBool = Field(False, description="Each reached user gets exactly the cap.")
    max_spend_multiple: Number | None = Field(
        2.0, gt=0, description="Guard rail for curves fitted to aggregates: no cell spends more "
        "than this multiple of the largest spend observed for it (None or false: off).")

    @field_validator("max_spend_multiple", mode="before")
    @classmethod
    def _guard_off(cls, value: object) -> object:
        return None if value is False else value

    @field_validator("plan_id")
    @classmethod
    def _plan_id(cls, value: str | None) -> str | None:
        problem = None if value is None else plan_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

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


def _build(model: type[BaseModel], where: str, names: dict[str, str], **data: Any) -> Any:
    """`model(**data)`, with errors as one `ParameterError` naming the factory's parameter."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_of(err)
        raise _as_parameter_error(exc, where, names.get(field, field)) from None


def min_spend(level: Level, key: str, amount: float) -> SpendLimit:
    """A minimum spend on one campaign, segment or placement."""
    return _build(SpendLimit, "min_spend", {"min": "amount"}, level=level, key=key, min=amount)


def max_spend(level: Level, key: str, amount: float) -> SpendLimit:
    """A maximum spend on one campaign, segment or placement."""
    return _build(SpendLimit, "max_spend", {"max": "amount"}, level=level, key=key, max=amount)


def max_share(level: Level, key: str, share: float) -> SpendLimit:
    """At most `share` of total spend on one campaign, segment or placement."""
    return _build(SpendLimit, "max_share", {"max_share": "share"}, level=level, key=key,
                  max_share=share)


def frequency_cap(cap: float, placement_id: str | None = None) -> FrequencyCap:
    """A per-placement frequency cap (at every placement when none is named)."""
    return _build(FrequencyCap, "frequency_cap", {}, cap=cap, placement_id=placement_id)


def target_cpa(value: float, campaign_id: str | None = None) -> TargetRatio:
    """Spend per conversion at most `value`."""
    return _build(TargetRatio, "target_cpa", {}, type="target_cpa", value=value,
                  campaign_id=campaign_id)


def target_roas(value: float, campaign_id: str | None = None) -> TargetRatio:
    """Revenue per unit of spend at least `value`."""
    return _build(TargetRatio, "target_roas", {}, type="target_roas", value=value,
                  campaign_id=campaign_id)


def _as_input_error(exc: ValidationError, source: str) -> InputError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or None
    msg = err["msg"].removeprefix("Value error, ")
    if not err["loc"]:
        return InputError(source, None, msg)  # a check across fields: the message names them
    return InputError(source, where, f"{msg} (got {_shown(err.get('input'))})")


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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path.name, None, f"cannot read the plan file: not UTF-8 text (byte "
                         f"{exc.start}: {exc.object[exc.start:exc.start + 1]!r})") from None
    except OSError as exc:
        raise InputError(path.name, None, f"cannot read the plan file {path}: "
                         f"{exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc).splitlines()[0]
        raise InputError(path.name, None, f"cannot read the plan file: {reason}") from None
    return parse_spec(data, source=path.name)
