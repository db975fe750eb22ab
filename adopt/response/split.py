"""Time-based train / valid / test split of training examples, and the cold-start flag.

Response models are fitted on earlier days, stopped early and calibrated on the
next, and scored on the last, as they will be used: predicting days they have
not seen. An ad is cold-start in the test period when it had no impression
before it; the metrics report those rows apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


def time_split(
    df: pd.DataFrame, valid_days: int = 1, test_days: int = 1, ts: str = "ts"
) -> TimeSplit:
    """Split examples by calendar day: test = the last days, valid = the days before.

    Examples spanning fewer days than ``valid_days + test_days + 1`` are cut
    70% / 15% / 15% in time order instead (with a warning).

    Parameters
    ----------
    df : examples with a timestamp column.
    valid_days, test_days : how many distinct days each of valid and test get.
    ts : the timestamp column.

    Returns
    -------
    TimeSplit
    """
    for name, value in (("valid_days", valid_days), ("test_days", test_days)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"The '{name}' parameter of time_split must be an int >= 1. "
                             f"Got {value!r} instead.")
    if ts not in df.columns:
        raise InputError("training_examples", ts, "the timestamp column is missing")
    stamps = pd.to_datetime(df[ts])
    days = stamps.dt.floor("D")
    distinct = np.sort(days.dropna().unique())
    if len(distinct) < valid_days + test_days + 1:
        return _split_in_time_order(df.assign(**{ts: stamps}), ts, len(distinct))
    test_start = distinct[-test_days]
    valid_start = distinct[-(test_days + valid_days)]
    df = df.assign(**{ts: stamps})
    return TimeSplit(
        train=df.loc[days < valid_start],
        valid=df.loc[(days >= valid_start) & (days < test_start)],
        test=df.loc[days >= test_start],
    )


SHORT_LOG_SHARES = (0.70, 0.15, 0.15)


def _split_in_time_order(df: pd.DataFrame, ts: str, n_days: int) -> TimeSplit:
    """Logs too short for whole days (public samples often span one): cut by row order.

    The rows are sorted by time (stably: such samples often share timestamps)
    and cut 70% / 15% / 15%, so the model still trains on the earlier
    impressions and is scored on the later ones.
    """
    if len(df) < 3:
        raise InputError("training_examples", ts,
                         f"a time split needs at least 3 rows; got {len(df)}")
    ordered = df.iloc[np.argsort(df[ts].to_numpy(), kind="stable")]
    first = int(len(ordered) * SHORT_LOG_SHARES[0])
    second = int(len(ordered) * (SHORT_LOG_SHARES[0] + SHORT_LOG_SHARES[1]))
    log.warning("time split: the examples span %d day(s), too few for whole days; cut "
                "70/15/15 in time order instead", n_days)
    return TimeSplit(train=ordered.iloc[:first], valid=ordered.iloc[first:second],
                     test=ordered.iloc[second:])


def cold_start_flag(
    history: pd.DataFrame, target: pd.DataFrame, key: str = "ad_id"
) -> np.ndarray:
    """True for rows of ``target`` whose ``key`` never appears in ``history``.

    With ``history`` = train + valid and ``target`` = test, flags the ads with no
    impression before the test period.
    """
    return ~target[key].isin(pd.unique(history[key])).to_numpy()
