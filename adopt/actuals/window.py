"""The delivery period a card reads, and the plan's own period (plan.json's spec)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from adopt.exceptions import InputError, ParameterError


def plan_inputs(doc: dict) -> dict:
    """plan.json's ``inputs`` ({} when it is not an object: the file is read, not trusted)."""
    return doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}


def plan_spec(doc: dict) -> dict | None:
    """The plan's spec as plan.json records it (``inputs.spec``), None when not an object."""
    spec = plan_inputs(doc).get("spec")
    return spec if isinstance(spec, dict) else None


def read_day(value: Any, name: str, where: str = "check_actuals") -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        out = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        out = pd.NaT
    if out is pd.NaT or out.tzinfo is not None:
        message = (f"must be a date or a time without a time zone (2026-03-01). "
                   f"Got {value!r} instead.")
        if where == "plan.json":
            raise InputError("plan.json", name, message)
        raise ParameterError(f"The '{name}' parameter of {where} {message}")
    return out


def plan_window(doc: dict, start: Any = None, end: Any = None) -> tuple[pd.Timestamp,
                                                                        pd.Timestamp]:
    """The delivery period [start, end): the arguments, else the plan's period.

    ``end`` defaults to the day after the plan's period_end, else to its period_start (else
    start) plus the plan's period in days (plan.json ``inputs.period_days``).
    """
    inputs, spec = plan_inputs(doc), plan_spec(doc) or {}
    first = read_day(start, "start")
    planned_start = read_day(spec.get("period_start"), "period_start", "plan.json")
    if first is None:
        first = planned_start
    if first is None:
        raise ParameterError("The 'start' parameter of check_actuals is needed: the plan has "
                             "no period_start. Give the first day the plan was delivered.")
    last = read_day(end, "end")
    if last is None:
        period_end = read_day(spec.get("period_end"), "period_end", "plan.json")
        last = None if period_end is None else later(period_end, 1.0)
    if last is None:
        days = read_number(inputs.get("period_days"))
        if not days or days <= 0:
            raise ParameterError("The 'end' parameter of check_actuals is needed: the plan "
                                 "has no period_end nor period_days.")
        last = later(first if planned_start is None else planned_start, days)
    if not last > first:
        raise ParameterError(f"The 'end' parameter of check_actuals must come after start "
                             f"({first}). Got {last} instead.")
    return first, last


def later(day: pd.Timestamp, days: float) -> pd.Timestamp:
    """`day` plus `days`; a period past what a timestamp holds is one line."""
    try:
        return day + pd.Timedelta(days=days)
    except (OverflowError, pd.errors.OutOfBoundsTimedelta, pd.errors.OutOfBoundsDatetime) as err:
        raise InputError("plan.json", "period_days", "the plan's period runs past the dates a "
                         f"timestamp holds ({err})") from err


def read_number(value: Any) -> float | None:
    """A finite float, or None (plan.json is read as written, not trusted)."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def plan_period(doc: dict, first: pd.Timestamp,
                 last: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The plan's own period: from its period_start (else the card's start) to its end (its
    period_end or period_days), else to the card's end."""
    planned = read_day((plan_spec(doc) or {}).get("period_start"), "period_start", "plan.json")
    try:
        return plan_window(doc, None if planned is not None else first)
    except (ParameterError, InputError):
        return (planned, last) if planned is not None and planned < last else (first, last)
