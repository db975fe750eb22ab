"""Build the profile marts: user_profiles, ad_history, training_examples.

The stage after ingest: it runs the sql/ models on the workspace's DuckDB
warehouse (see :mod:`adopt.warehouse`) with the profile parameters bound, and
returns a short summary. Embeddings read user_profiles.interest_text; the
response models train on training_examples; curves start from ad_history.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from adopt.attributes import user_attributes
from adopt.exceptions import InputError, WorkspaceError
from adopt.warehouse import (
    INGEST_HINT,
    ModelStats,
    check_inputs,
    connect,
    models_for,
    run_models,
)

log = logging.getLogger("adopt")

MARTS = ("user_profiles", "ad_history", "training_examples")


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
    InputError
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
            raise InputError(
                "parameters", "interest_text_words", f"must be a positive integer; got {words!r}"
            )


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


def build_profiles(
    workspace: str | Path,
    *,
    as_of: str | datetime | None = None,
    params: ProfileParams | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    partitioned: bool | None = None,
    address: str | None = None,
) -> ProfilesSummary:
    """Build user_profiles, ad_history and training_examples in the warehouse.

    All models are rebuilt in one transaction: on failure the previous marts
    stay. Each model logs a line with its rows and seconds as it finishes.
    On a workspace ingested with ``--partitions N`` the build runs over the
    partitions as Ray tasks instead (:mod:`adopt.partitioned`): same models,
    same rows, written as Parquet and seen through views of the same names.

    Parameters
    ----------
    workspace : path
        Workspace folder whose warehouse holds the ingested input tables.
    as_of : str or datetime, optional
        Reference time: events and behaviours after it are ignored, recency is
        measured to it. Default: the time of the last event.
    params : ProfileParams, optional
        Prior strength, affinity half-life, attribution windows and interest
        text length; default ``ProfileParams()``.
    memory_limit : str, optional
        DuckDB memory limit for the build, e.g. ``"4GB"`` (default: DuckDB's,
        80% of the machine's memory); past it DuckDB spills to disk.
    threads : int, optional
        DuckDB worker threads for the build (default: one per core); in a
        partitioned build, the CPUs of each partition task (default 1), and
        `memory_limit` is each task's (default 1GB).
    partitioned : bool, optional
        True: build over the partitions (the workspace must have them); False:
        the single-file build. Default: over the partitions when there are some.
    address : str, optional
        Ray cluster for a partitioned build (default: ``RAY_ADDRESS``, else a
        local Ray).

    Returns
    -------
    ProfilesSummary
        Reference time, rows and seconds per model.

    Raises
    ------
    WorkspaceError
        When the warehouse or an input table is missing (run ``adopt ingest``).
    InputError
        When `as_of` is not a timestamp, or `memory_limit` / `threads` are not
        a size / a positive integer.
    """
    from adopt.partitions import is_partitioned

    if partitioned or (partitioned is None and is_partitioned(workspace)):
        from adopt.partitioned import build_profiles_partitioned

        return build_profiles_partitioned(workspace, as_of=as_of, params=params,
                                          memory_limit=memory_limit, threads=threads,
                                          address=address)
    started = time.perf_counter()
    with connect(workspace, memory_limit=memory_limit, threads=threads) as con:
        when, stats = run_profile_models(con, params, as_of=as_of)
    from adopt.partitions import forget_models

    forget_models(workspace)  # the warehouse's tables replace an earlier partitioned build
    return ProfilesSummary(
        workspace=Path(workspace).resolve(),
        as_of=when,
        models=stats,
        seconds=time.perf_counter() - started,
    )


def run_profile_models(
    con: duckdb.DuckDBPyConnection,
    params: ProfileParams | None = None,
    *,
    as_of: str | datetime | None = None,
    targets: list[str] | None = None,
) -> tuple[datetime, list[ModelStats]]:
    """Build the profile models on an open connection.

    The engine of :func:`build_profiles`, for any DuckDB connection holding
    the input tables (a workspace warehouse, or an in-memory database in tests).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A writable connection holding the input tables.
    params : ProfileParams, optional
        Default ``ProfileParams()``.
    as_of : str or datetime, optional
        As in :func:`build_profiles`.
    targets : list of str, optional
        Build only these models and what they read (default: every model).

    Returns
    -------
    (datetime, list of ModelStats)
        The reference time used and the per-model stats.
    """
    params = ProfileParams() if params is None else params
    check_inputs(con)
    user_attributes(con)  # names are checked at ingest; a warehouse loaded before is checked here
    when = as_of_time(con, as_of)
    log.info("profiles: building the SQL models as of %s", when)
    stats = run_models(
        con, model_parameters(when, params), None if targets is None else models_for(targets)
    )
    return when, stats


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
        raise InputError("parameters", name, f"must be {allowed}; got {value!r}")
    object.__setattr__(params, name, float(value))


def serving_time(as_of: datetime) -> datetime:
    """When the serving state is taken: the first midnight after `as_of`.

    The plan period's first daily snapshot, so every logged event counts (the
    ad snapshot at `as_of` itself would leave out its day).
    """
    return (pd.Timestamp(as_of).floor("D") + pd.Timedelta(days=1)).to_pydatetime()


def model_parameters(as_of: datetime, params: ProfileParams) -> dict[str, Any]:
    """The models' ``$name`` values: `as_of`, its `serving_time` and `params`."""
    return {"as_of": as_of, "serving_as_of": serving_time(as_of), **asdict(params)}


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
        raise InputError(
            "parameters",
            "as_of",
            f"must be a timestamp such as 2024-05-01 or 2024-05-01T12:00:00; got {as_of!r}",
        ) from exc
    if when is pd.NaT or when.tzinfo is not None:
        raise InputError(
            "parameters", "as_of", f"must be a timestamp without time zone; got {as_of!r}"
        )
    return when.to_pydatetime()
