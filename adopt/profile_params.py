"""The SQL stage's parameters, reference time and summary.

Shared by the one-file build (`adopt.profiles`) and the partitioned build on
Ray (`adopt.partitioned`), which `adopt.profiles.build_profiles` dispatches to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.warehouse import ModelStats
from adopt.workspace import INGEST_HINT


@dataclass(frozen=True)
class ProfileParams:
    """The parameters of the profile models, checked on creation.

    Parameters
    ----------
    prior_strength : float
        Weight m of the beta prior in smoothed rates, in impressions (CTR) or
        clicks (CVR): ``(clicks + m * prior_rate) / (impressions + m)``.
    affinity_half_life_days : float
        Age at which a behaviour or click counts half in category affinity.
    click_window_hours, conversion_window_hours : float
        Longest delay after an impression at which a click / conversion with no
        impression_id is still attributed to it (>= 0).
    interest_text_words : int
        Most words in user_profiles.interest_text.

    Raises
    ------
    ParameterError
        When a value is out of range (the message names it).
    """

    prior_strength: float = 100.0
    affinity_half_life_days: float = 30.0
    click_window_hours: float = 24.0
    conversion_window_hours: float = 168.0
    interest_text_words: int = 40

    def __post_init__(self) -> None:
        for name in ("prior_strength", "affinity_half_life_days"):
            _check_number(self, name)
        for name in ("click_window_hours", "conversion_window_hours"):
            _check_number(self, name, allow_zero=True)
        words = self.interest_text_words
        if isinstance(words, bool) or not isinstance(words, int) or words < 1:
            raise ParameterError("The 'interest_text_words' parameter of ProfileParams must be "
                                 f"a positive integer. Got {words!r} instead.")


@dataclass(frozen=True)
class ProfilesSummary:
    """What `build_profiles` built: the reference time, rows per mart, timings."""

    workspace: Path
    as_of: datetime
    models: list[ModelStats] = field(default_factory=list)
    seconds: float = 0.0
    # A partitioned build (adopt.partitioned): partitions, wall seconds of each
    # step, the peak resident memory (bytes) of each process of each step, and
    # the wall seconds of each partition task of each step ("partition",
    # "final") and its CPU seconds ("partition_cpu", "final_cpu").
    partitions: int | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, list[int]] = field(default_factory=dict)
    task_seconds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def rows(self) -> dict[str, int]:
        """Rows of each mart."""
        return {m.name: m.rows for m in self.models if m.layer == "marts"}

    def __str__(self) -> str:
        lines = [f"profiles as of {self.as_of:%Y-%m-%d %H:%M:%S} in {self.seconds:.1f}s"]
        if self.partitions is not None:
            steps = ", ".join(f"{k} {v:.1f}s" for k, v in self.step_seconds.items())
            peak = max((b for v in self.peak_rss.values() for b in v), default=0)
            lines[0] += (f" over {self.partitions} partitions ({steps}; "
                         f"largest process {peak / 2**20:,.0f} MiB)")
        lines += [f"  {name:<18} {rows:>12,} rows" for name, rows in self.rows.items()]
        lines.append(f"  warehouse: {self.workspace / 'warehouse.duckdb'}")
        return "\n".join(lines)


def _check_number(params: ProfileParams, name: str, allow_zero: bool = False) -> None:
    """Check a numeric field and store it as a float (the SQL parameters are doubles)."""
    value = getattr(params, name)
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        allowed = "a number >= 0" if allow_zero else "a number > 0"
        raise ParameterError(f"The '{name}' parameter of ProfileParams must be {allowed}. "
                             f"Got {value!r} instead.")
    object.__setattr__(params, name, float(value))


def as_of_time(con: duckdb.DuckDBPyConnection, as_of: str | datetime | None) -> datetime:
    """The build's reference time: `as_of` checked, or the time of the last event."""
    if as_of is None:
        last = con.execute("select max(ts) from events").fetchone()[0]
        if last is None:
            raise WorkspaceError(f"the events table is empty: nothing to profile; {INGEST_HINT}")
        return last
    try:
        when = pd.Timestamp(as_of)
    except (ValueError, TypeError) as exc:
        raise ParameterError("The 'as_of' parameter must be a timestamp such as 2024-05-01 "
                             f"or 2024-05-01T12:00:00. Got {as_of!r} instead.") from exc
    if when is pd.NaT or when.tzinfo is not None:
        raise ParameterError("The 'as_of' parameter must be a timestamp without time zone. "
                             f"Got {as_of!r} instead.")
    return when.to_pydatetime()


def serving_time(as_of: datetime) -> datetime:
    """When the serving state is taken: the first midnight after `as_of`.

    The plan period's first daily snapshot, so every logged event counts (the
    ad snapshot at `as_of` itself would leave out its day).
    """
    return (pd.Timestamp(as_of).floor("D") + pd.Timedelta(days=1)).to_pydatetime()


def model_parameters(as_of: datetime, params: ProfileParams) -> dict[str, Any]:
    """The models' ``$name`` values: `as_of`, its `serving_time` and `params`."""
    return {"as_of": as_of, "serving_as_of": serving_time(as_of), **asdict(params)}
