"""The user-hash partitioned warehouse: event-grain tables as Parquet partitions.

Sits beside the DuckDB warehouse (:mod:`adopt.warehouse`), between ingest and
the SQL stage. ``adopt ingest --partitions N`` loads the warehouse as always,
then :func:`write_partitions` writes the user-grain and event-grain input
tables (users, events, behaviors) as N Parquet partitions, a user's rows all
in one partition (``hash(user_id) % N``), and the small dimension tables
(ads, placements, campaigns) whole. :mod:`adopt.partitioned` then runs the
``sql/`` models on each partition as a Ray task and writes every model as
Parquet under ``partitions/models/``; :func:`model_paths` lists a model's
files for the stages after it (Ray Train, Ray Data).

Layout of ``<workspace>/partitions/``::

    manifest.json                      N, rows per table and partition, the ingest it reflects
    inputs/<table>/part-00000.parquet  users, events, behaviors: one file per partition
    inputs/<table>.parquet             ads, placements, campaigns: whole
    models/<model>/part-00000.parquet  a user-grain model: one file per partition
    models/<model>.parquet             a population-grain model (ad_history, the daily streams)

Every folder is written under a temporary name and renamed into place, so a
killed run leaves the previous partitions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.workspace import INGEST_HINT, Workspace

log = logging.getLogger("adopt")

# Tables split by user: every row carries the user_id that places it.
PARTITIONED_TABLES = ("users", "events", "behaviors")
# Small tables every partition reads whole.
DIMENSION_TABLES = ("ads", "placements", "campaigns")
MANIFEST = "manifest.json"
MAX_PARTITIONS = 4096
PARTITION_HINT = "run `adopt ingest DATA_DIR --workspace WS --partitions N`"


@dataclass(frozen=True)
class PartitionSummary:
    """What :func:`write_partitions` wrote: partitions, rows per table, seconds."""

    folder: Path
    partitions: int
    rows: dict[str, list[int]]
    seconds: float

    def __str__(self) -> str:
        lines = [f"{self.partitions} user-hash partitions in {self.folder} ({self.seconds:.1f}s)"]
        for table, counts in self.rows.items():
            lines.append(f"  {table:<10} {sum(counts):>12,} rows, "
                         f"{min(counts):,} to {max(counts):,} a partition")
        return "\n".join(lines)


def check_partitions(value: object) -> int:
    """Return `value` as a partition count, or raise ParameterError naming it."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PARTITIONS
    if not ok:
        raise ParameterError(f"The 'partitions' parameter must be an integer from 1 to "
                             f"{MAX_PARTITIONS}. Got {value!r} instead.")
    return int(value)


def read_manifest(workspace: str | os.PathLike[str]) -> dict | None:
    """The partition manifest of a workspace; None when it is not partitioned."""
    path = Workspace.of(workspace).partitions / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"cannot read the partition manifest {path}: {exc}; "
                             f"{PARTITION_HINT}") from None


def is_partitioned(workspace: str | os.PathLike[str]) -> bool:
    """True when the workspace has user-hash partitions (``adopt ingest --partitions``)."""
    return read_manifest(workspace) is not None


def input_path(workspace: str | os.PathLike[str], table: str, partition: int | None = None
               ) -> Path:
    """The Parquet file of an input table: one partition's, or the whole dimension table's."""
    inputs = Workspace.of(workspace).partitions / "inputs"
    if table in PARTITIONED_TABLES:
        if partition is None:
            raise ParameterError(f"The 'partition' parameter of input_path is needed: table "
                                 f"'{table}' is partitioned. Got None instead.")
        return inputs / table / _part_name(partition)
    if table in DIMENSION_TABLES:
        return inputs / f"{table}.parquet"
    raise ParameterError(f"The 'table' parameter of input_path must be one of "
                         f"{PARTITIONED_TABLES + DIMENSION_TABLES}. Got {table!r} instead.")


def model_paths(workspace: str | os.PathLike[str], name: str) -> list[Path]:
    """The Parquet files of one model (a mart such as ``training_examples``) of a partitioned build.

    The entry point for the stages after the SQL stage that read the marts in
    parallel (LightGBM on Ray Train, curve scoring on Ray Data).

    Parameters
    ----------
    workspace : path
        A workspace whose profiles were built over partitions.
    name : str
        A model of ``sql/``: a mart or an intermediate table.

    Returns
    -------
    list of Path
        One file per partition for a user-grain model, in partition order
        (every user's rows in one file); one file for a population-grain
        model (``ad_history``, the daily streams).

    Raises
    ------
    WorkspaceError
        When the profiles were not built over partitions, or built no such model.
    """
    models = Workspace.of(workspace).partitions / "models"
    built = (read_manifest(workspace) or {}).get("models")
    if not built:
        raise WorkspaceError(f"no partitioned profiles in {models}: run `adopt profiles` on a "
                             f"partitioned workspace ({PARTITION_HINT})")
    if name not in built:
        raise WorkspaceError(f"the partitioned profiles have no model '{name}'; models: "
                             f"{sorted(built)}")
    if built[name] == "global":
        return [models / f"{name}.parquet"]
    return [models / name / _part_name(k) for k in range(int(built[name]))]


def write_partitions(
    workspace: str | os.PathLike[str],
    partitions: int,
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> PartitionSummary:
    """Write the warehouse's input tables as user-hash partitions under ``partitions/inputs``.

    Parameters
    ----------
    workspace : path
        A workspace holding an ingested warehouse.
    partitions : int
        Number of partitions N (1 to 4096): user u goes to
        ``hash(user_id) % N`` (DuckDB's hash), with all its events and
        behaviours. Empty partitions still get (empty) files.
    memory_limit, threads : optional
        DuckDB settings for the export (see `adopt.workspace.Workspace.connect`).

    Returns
    -------
    PartitionSummary

    Raises
    ------
    ParameterError
        When `partitions` is not an integer from 1 to 4096.
    WorkspaceError
        When the warehouse is missing or lacks an input table.
    """
    n = check_partitions(partitions)
    started = time.perf_counter()
    ws = Workspace.of(workspace)
    root = ws.partitions
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".inputs-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    rows: dict[str, list[int]] = {}
    try:
        with ws.connect(read_only=True, memory_limit=memory_limit, threads=threads) as con:
            ws.require(PARTITIONED_TABLES + DIMENSION_TABLES, INGEST_HINT, con)
            for table in PARTITIONED_TABLES:
                rows[table] = _write_partitioned(con, table, n, staging / table)
            for table in DIMENSION_TABLES:
                _copy(con, f"select * from {table}", staging / f"{table}.parquet")
            ingests = _ingest_count(con)
        _replace(staging, root / "inputs")
        # The models of an earlier build belong to other inputs: they go too.
        shutil.rmtree(root / "models", ignore_errors=True)
        manifest = {"version": 1, "partitions": n, "hash": "duckdb hash(user_id) % partitions",
                    "ingests": ingests, "rows": rows, "models": {}}
        write_manifest(ws, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary = PartitionSummary(root, n, rows, time.perf_counter() - started)
    log.info("partitions: %d written in %.1fs", n, summary.seconds)
    return summary


def forget_models(workspace: str | os.PathLike[str]) -> None:
    """Drop a partitioned build's model files (a single-file build has replaced them)."""
    manifest = read_manifest(workspace)
    if manifest is None or not manifest.get("models"):
        return
    write_manifest(workspace, manifest | {"models": {}})
    shutil.rmtree(Workspace.of(workspace).partitions / "models", ignore_errors=True)


def write_manifest(workspace: str | os.PathLike[str], manifest: dict) -> None:
    """Write the manifest atomically (a temporary file renamed over it)."""
    path = Workspace.of(workspace).partitions / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def check_current(workspace: str | os.PathLike[str], con: duckdb.DuckDBPyConnection) -> dict:
    """Return the manifest; raise WorkspaceError when the partitions miss a later ingest."""
    manifest = read_manifest(workspace)
    if manifest is None:
        raise WorkspaceError(f"the workspace has no partitions: {PARTITION_HINT}")
    if manifest.get("ingests") != _ingest_count(con):
        raise WorkspaceError(
            "the partitions were written before the last ingest: "
            "run `adopt ingest DATA_DIR --workspace WS --partitions "
            f"{manifest.get('partitions')}` again")
    return manifest


def _part_name(partition: int) -> str:
    return f"part-{partition:05d}.parquet"


def _ingest_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many ingests the warehouse has logged (0 when it logs none)."""
    found = con.execute("select count(*) from information_schema.tables "
                        "where table_schema = 'main' and table_name = 'ingest_log'").fetchone()
    if not found[0]:
        return 0
    return int(con.execute("select count(*) from ingest_log").fetchone()[0])


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path,
          params: dict | None = None) -> None:
    """Write the result of `query` (our own SQL) to one Parquet file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # COPY cannot bind its target; the path is ours (workspace + fixed names), quoted.
    target = str(path).replace("'", "''")
    con.execute(f"copy ({query}) to '{target}' (format parquet)", params or {})


def _write_partitioned(con: duckdb.DuckDBPyConnection, table: str, n: int, folder: Path
                       ) -> list[int]:
    """Write `table` as `n` files by user hash; return the rows of each."""
    hive = folder.with_name(f".{folder.name}-hive")
    hive.parent.mkdir(parents=True, exist_ok=True)
    target = str(hive).replace("'", "''")
    con.execute(
        f"copy (select *, (hash(user_id) % $n)::integer as partition_id from {table}) "
        f"to '{target}' (format parquet, partition_by (partition_id), write_partition_columns "
        "false)", {"n": n})
    folder.mkdir(parents=True, exist_ok=True)
    counts = []
    for k in range(n):
        files = sorted((hive / f"partition_id={k}").glob("*.parquet"))
        out = folder / _part_name(k)
        if len(files) == 1:
            os.replace(files[0], out)
        elif files:  # several writer threads: one file per partition all the same
            _copy(con, "select * from read_parquet($files)", out,
                  {"files": [str(f) for f in files]})
        else:
            _copy(con, f"select * from {table} limit 0", out)
        counts.append(int(con.execute("select count(*) from read_parquet($f)",
                                      {"f": str(out)}).fetchone()[0]))
    shutil.rmtree(hive, ignore_errors=True)
    return counts


def _replace(new: Path, target: Path) -> None:
    """Rename `new` over the folder `target` (the old one is removed after)."""
    old = target.with_name(f".{target.name}-old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
