"""Argument checks shared by the API: one clear `ParameterError` per bad argument.

Messages follow scikit-learn's: "The 'budget' parameter of Planner.plan must
be a positive number. Got -5 instead." `where` names the function or method
the user called.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from pydantic import BaseModel, ValidationError

from adopt.exceptions import ParameterError


class OneLineErrors(type(BaseModel)):
    """Metaclass: a model built from Python (``PlanSpec(...)``, ``SegmentConfig(k=0)``)
    raises the one-line `ParameterError` of its class's ``_parameter_error(exc)``, not
    pydantic's report. Only the constructor call is wrapped: ``model_validate`` keeps
    pydantic's error for callers that name their own source (a plan file, a CLI flag).
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise cls._parameter_error(exc) from None


def check_positive(where: str, name: str, value: Any) -> float:
    """`value` as a float when it is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ParameterError(
            f"The '{name}' parameter of {where} must be a positive number. Got {value!r} instead."
        )
    return float(value)


def check_int(where: str, name: str, value: Any, minimum: int) -> int:
    """`value` when it is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ParameterError(
            f"The '{name}' parameter of {where} must be an integer >= "
            f"{minimum}. Got {value!r} instead."
        )
    return int(value)


def check_choice(where: str, name: str, value: Any, allowed: Sequence[str]) -> str:
    """`value` when it is one of `allowed`."""
    if value not in allowed:
        shown = list(allowed) if len(allowed) <= 20 else [*allowed[:20], "..."]
        raise ParameterError(
            f"The '{name}' parameter of {where} must be one of {shown}. Got {value!r} instead."
        )
    return value
