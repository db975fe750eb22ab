"""Build the profile marts: user_profiles, ad_history, training_examples.

The stage after ingest: it runs the sql/ models on the workspace's DuckDB
warehouse (see :mod:`adopt.warehouse`) with the profile parameters bound, and
returns a short summary. Embeddings read user_profiles.interest_text; the
response models train on training_examples; curves start from ad_history.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

import duckdb

from adopt.attributes import user_attributes
from adopt.profile_params import ProfileParams, ProfilesSummary, as_of_time, model_parameters
from adopt.warehouse import ModelStats, check_inputs, models_for, run_models
from adopt.workspace import Workspace

log = logging.getLogger("adopt")

MARTS = ("user_profiles", "ad_history", "training_examples")


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
    ParameterError
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
    ws = Workspace.of(workspace)
    with ws.connect(memory_limit=memory_limit, threads=threads) as con:
        when, stats = run_profile_models(con, params, as_of=as_of)
    from adopt.partitions import forget_models

    forget_models(ws)  # the warehouse's tables replace an earlier partitioned build
    return ProfilesSummary(
        workspace=ws.root,
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
