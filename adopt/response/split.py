"""Time-based train / valid / test split of training examples, and the cold-start flag.

Response models are fitted on earlier days, stopped early and calibrated on the
next, and scored on the last, as they will be used: predicting days they have
not seen. The valid and test periods are whole days (``valid_days``,
``test_days``, default 1 each) or shares of the examples in time order
(``valid_frac``, ``test_frac``: sparse or long logs, where the last day holds a
handful of rows). `check_outcomes` refuses a split whose train or valid
part lacks a click or a non-click, and says which setting would give it both. An
ad is cold-start in the test period when it had no impression before it; the
metrics report those rows apart.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from adopt.exceptions import InputError

log = logging.getLogger("adopt")


@dataclass(frozen=True)
class TimeSplit:
    """The three periods of a time split, each a DataFrame of examples."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    how: dict[str, Any] = field(default_factory=dict)  # the settings that made it

    def summary(self) -> dict[str, dict[str, object]]:
        """Rows and first / last day of each part (for the model card)."""
        out: dict[str, dict[str, object]] = {}
        for name in ("train", "valid", "test"):
            part: pd.DataFrame = getattr(self, name)
            days = part["ts"].dt.floor("D")
            out[name] = {
                "rows": len(part),
                "first_day": str(days.min().date()),
                "last_day": str(days.max().date()),
            }
        return out


def split_settings(
    valid_days: int | None = None,
    test_days: int | None = None,
    valid_frac: float | None = None,
    test_frac: float | None = None,
    caller: str = "time_split",
) -> dict[str, Any]:
    """Check and complete the split settings: whole days, or shares of the examples.

    Returns ``{"valid_days", "test_days", "valid_frac", "test_frac"}`` with
    None for the unused pair: days default to 1 each; a share given for one
    part makes the other default to 0.15.

    Raises
    ------
    ParameterError
        Days and shares mixed, days not a positive integer, shares outside
        (0, 1) or leaving no train part.
    """
    from adopt.exceptions import ParameterError

    by_frac = valid_frac is not None or test_frac is not None
    if by_frac and (valid_days is not None or test_days is not None):
        raise ParameterError(
            f"The split of {caller} is given either in days (valid_days, test_days) or as "
            f"shares (valid_frac, test_frac), not both. Got valid_days={valid_days!r}, "
            f"test_days={test_days!r}, valid_frac={valid_frac!r}, test_frac={test_frac!r}."
        )
    if not by_frac:
        out = {"valid_days": 1 if valid_days is None else valid_days,
               "test_days": 1 if test_days is None else test_days}
        for name, value in out.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"The '{name}' parameter of {caller} must be an int >= 1. "
                                     f"Got {value!r} instead.")
        return out | {"valid_frac": None, "test_frac": None}
    out = {"valid_frac": DEFAULT_FRAC if valid_frac is None else valid_frac,
           "test_frac": DEFAULT_FRAC if test_frac is None else test_frac}
    for name, value in out.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise ParameterError(f"The '{name}' parameter of {caller} must be a share in "
                                 f"(0, 1). Got {value!r} instead.")
    if out["valid_frac"] + out["test_frac"] > MAX_HELD_OUT:
        raise ParameterError(
            f"The 'valid_frac' and 'test_frac' parameters of {caller} must leave at least "
            f"{1 - MAX_HELD_OUT:.0%} of the examples to train on. Got {out['valid_frac']!r} "
            f"+ {out['test_frac']!r} instead."
        )
    return out | {"valid_days": None, "test_days": None}


DEFAULT_FRAC = 0.15
MAX_HELD_OUT = 0.8


def time_split(
    df: pd.DataFrame,
    valid_days: int | None = None,
    test_days: int | None = None,
    ts: str = "ts",
    *,
    valid_frac: float | None = None,
    test_frac: float | None = None,
) -> TimeSplit:
    """Split examples in time: test = the last days (or share), valid = those before.

    With days, examples spanning fewer days than ``valid_days + test_days + 1``
    are cut 70% / 15% / 15% in time order instead (with a warning).

    Parameters
    ----------
    df : examples with a timestamp column.
    valid_days, test_days : how many distinct days each of valid and test get
        (default 1 each, unless shares are given).
    ts : the timestamp column.
    valid_frac, test_frac : instead of days, the shares of the examples (in time
        order) that valid and test get; giving one sets the other to 0.15.

    Returns
    -------
    TimeSplit
        With ``how`` = the settings used (see `split_settings`).
    """
    how = split_settings(valid_days, test_days, valid_frac, test_frac)
    if ts not in df.columns:
        raise InputError("training_examples", ts, "the timestamp column is missing")
    stamps = pd.to_datetime(df[ts])
    df = df.assign(**{ts: stamps})
    if how["valid_frac"] is not None:
        return _cut_in_time_order(df, ts, how["valid_frac"], how["test_frac"], how)
    valid_days, test_days = how["valid_days"], how["test_days"]
    days = stamps.dt.floor("D")
    distinct = np.sort(days.dropna().unique())
    if len(distinct) < valid_days + test_days + 1:
        log.warning("time split: the examples span %d day(s), too few for %d valid and %d "
                    "test day(s) and a train day; cut 70/15/15 in time order instead",
                    len(distinct), valid_days, test_days)
        return _cut_in_time_order(df, ts, SHORT_LOG_SHARES[1], SHORT_LOG_SHARES[2], how)
    test_start = distinct[-test_days]
    valid_start = distinct[-(test_days + valid_days)]
    return TimeSplit(
        train=df.loc[days < valid_start],
        valid=df.loc[(days >= valid_start) & (days < test_start)],
        test=df.loc[days >= test_start],
        how=how,
    )


SHORT_LOG_SHARES = (0.70, 0.15, 0.15)


def _cut_in_time_order(
    df: pd.DataFrame, ts: str, valid_frac: float, test_frac: float, how: dict[str, Any]
) -> TimeSplit:
    """Cut by row order: shares asked for, or logs too short for whole days.

    The rows are sorted by time (stably: such samples often share timestamps)
    and cut, so the model still trains on the earlier impressions and is
    scored on the later ones.
    """
    if len(df) < 3:
        raise InputError("training_examples", ts,
                         f"a time split needs at least 3 rows; got {len(df)}")
    ordered = df.iloc[np.argsort(df[ts].to_numpy(), kind="stable")]
    first = int(len(ordered) * (1 - valid_frac - test_frac))
    second = int(len(ordered) * (1 - test_frac))
    return TimeSplit(train=ordered.iloc[:first], valid=ordered.iloc[first:second],
                     test=ordered.iloc[second:], how=how)


# A suggested setting should give the part at least this many clicks (and non-clicks).
SUGGEST_POSITIVES = 20


def check_outcomes(split: TimeSplit, label: str = "clicked") -> None:
    """Refuse a split whose train or valid part lacks one of the two outcomes.

    A model cannot learn from, stop early on or calibrate on a part without a
    click (or without a non-click). The error names the part, its days, its
    rows and positives, and the setting that would give it enough: the valid
    days or share that hold at least `SUGGEST_POSITIVES` positives, or fewer
    held-out days when the train part is the one left short. A test part
    without both outcomes only leaves the model unscored: `outcome_problem`
    words the warning.

    Raises
    ------
    InputError
        Table ``training_examples``, column `label`.
    """
    if label not in split.train.columns:
        raise InputError("training_examples", label, "the label column is missing")
    for part in ("train", "valid"):
        problem = outcome_problem(split, part, label)
        if problem is not None:
            raise InputError("training_examples", label, problem)


def outcome_problem(split: TimeSplit, part: str, label: str = "clicked") -> str | None:
    """What is wrong with `part` and what to change, or None when it holds both outcomes."""
    y = getattr(split, part)[label].fillna(0).astype(int).to_numpy()
    if y.size and 0 < y.sum() < y.size:
        return None
    summary = split.summary()[part] if y.size else {"first_day": "-", "last_day": "-"}
    where = (f"the {part} split ({summary['first_day']} to {summary['last_day']}) has "
             f"{y.size:,} rows and {int(y.sum()):,} positives ({label})")
    need = "to be scored on it" if part == "test" else "in it"
    return (f"{where}, and the model needs both outcomes {need}; "
            f"{_advice(split, part, label)}")


def _advice(split: TimeSplit, part: str, label: str) -> str:
    """What to change so that `part` gets both outcomes."""
    how = split.how
    by_frac = how.get("valid_frac") is not None
    if part == "train":
        if by_frac:
            return ("the train part is what is left after valid_frac and test_frac: lower them "
                    "(--valid-frac, --test-frac)")
        return ("the train part is what is left before the valid and test days: give fewer "
                "(--valid-days, --test-days) or shares instead (--valid-frac 0.15)")
    parts = [split.train, split.valid] + ([split.test] if part == "test" else [])
    earlier = pd.concat(parts).sort_values("ts", kind="stable")
    y = earlier[label].fillna(0).astype(int).to_numpy()[::-1]  # latest first
    clicks, rest = np.cumsum(y), np.cumsum(1 - y)
    enough = np.flatnonzero((clicks >= SUGGEST_POSITIVES) & (rest >= SUGGEST_POSITIVES))
    if enough.size == 0 or clicks[-1] - clicks[enough[0]] < 1:
        return (f"the examples up to the {part} part hold {int(clicks[-1] if y.size else 0):,} "
                f"positives in all, too few for a train and a {part} part: bring a longer log")
    rows = int(enough[0]) + 1
    total = len(split.train) + len(split.valid) + len(split.test)
    frac = math.ceil(rows / total * 20) / 20
    days = earlier["ts"].dt.floor("D").to_numpy()[::-1]
    n_days = len(np.unique(days[:rows]))
    if by_frac:
        return f"give it a larger share: --{part}-frac {frac:g} ({part}_frac={frac:g})"
    return (f"give it more days: --{part}-days {n_days} ({part}_days={n_days}), or a share of "
            f"the examples: --{part}-frac {frac:g} ({part}_frac={frac:g})")


def cold_start_flag(
    history: pd.DataFrame, target: pd.DataFrame, key: str = "ad_id"
) -> np.ndarray:
    """True for rows of ``target`` whose ``key`` never appears in ``history``.

    With ``history`` = train + valid and ``target`` = test, flags the ads with no
    impression before the test period.
    """
    return ~target[key].isin(pd.unique(history[key])).to_numpy()
