"""`ingest`: validate an input folder and load it into the warehouse in one transaction.

The first stage of adopt (input files -> DuckDB warehouse). Each table is read
(`reader`), checked (`validate`) and cast and pseudonymised (`staging`) into
connection-local temp tables; then one DuckDB transaction checks references
against the warehouse, upserts or appends every table (`tables`) and logs the
ingest. Any error rolls everything back, and a killed process leaves an
uncommitted transaction that DuckDB discards on reopening, so the warehouse is
always either as it was or fully loaded.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from adopt.ingest import rules, validate
from adopt.ingest.pseudonymize import check_salt, fingerprint
from adopt.ingest.reader import Source, locate, read_raw
from adopt.ingest.staging import Staged, column_plan, create_staging
from adopt.ingest.summary import IngestSummary, TableSummary
from adopt.ingest.tables import ensure_tables, log_ingest, stored_columns, write
from adopt.partitions import check_partitions, read_manifest, write_partitions
from adopt.progress import Progress
from adopt.schema import TABLES
from adopt.warehouse import connect
from adopt.workspace import Workspace

log = logging.getLogger("adopt")


def ingest(
    data_dir: str | os.PathLike[str],
    workspace: str | os.PathLike[str],
    *,
    pseudonymize_salt: str | None = None,
    partitions: int | None = None,
) -> IngestSummary:
    """Validate the input folder against the contract and load it into the warehouse.

    Parameters
    ----------
    data_dir
        Folder with one file (`<table>.parquet`, `<table>.csv`, `<table>.csv.gz`)
        or one folder of such files per table. Required tables: users, ads,
        placements, events; optional: behaviors, campaigns.
    workspace
        Workspace folder; the warehouse is `<workspace>/warehouse.duckdb`.
    pseudonymize_salt
        When given, every user id is stored as a salted hash; every later
        ingest into this warehouse must use the same salt.
    partitions
        When given, the loaded users, events and behaviors are also written as
        this many user-hash Parquet partitions (`adopt.partitions`), which
        `adopt profiles` then builds on as Ray tasks. Default: a workspace
        that has partitions gets them rewritten with the same number.

    Returns
    -------
    IngestSummary
        Rows read, loaded, replaced and dropped per table.

    Raises
    ------
    InputError
        The input breaks the contract (the message names table, column and
        row), or the salt differs from the warehouse's; nothing is loaded.
    WorkspaceError
        The warehouse cannot be opened.
    """
    start = time.perf_counter()
    if partitions is not None:
        check_partitions(partitions)  # before any work
    source = Path(data_dir).expanduser().resolve()
    sources = locate(source)
    ws = Workspace(workspace).ensure()
    existed = ws.warehouse.exists()
    con = connect(ws.root, create=True)
    committed = False
    try:
        # Timestamps are stored as naive UTC: offsets in text and tz-aware
        # Parquet are converted to UTC, whatever this machine's time zone.
        con.execute("SET TimeZone = 'UTC'")
        check_salt(con, pseudonymize_salt)
        staged = _stage(con, sources, pseudonymize_salt)
        con.execute("BEGIN TRANSACTION")
        tables = _write(con, staged)
        summary = IngestSummary(
            source, ws.warehouse, tables, pseudonymize_salt is not None, time.perf_counter() - start
        )
        log_ingest(con, summary, fingerprint(pseudonymize_salt))
        con.execute("COMMIT")
        committed = True
    finally:
        if not committed:
            _rollback(con)
        con.close()
        if not committed and not existed:
            # A failed first ingest leaves no empty warehouse behind.
            for leftover in (ws.warehouse, ws.warehouse.with_name(ws.warehouse.name + ".wal")):
                leftover.unlink(missing_ok=True)
    log.info("ingest: committed in %.1fs", summary.seconds)
    manifest = read_manifest(ws.root)
    if partitions is None and manifest is not None:
        partitions = int(manifest["partitions"])
    if partitions is not None:
        summary = replace(summary, partitions=write_partitions(ws.root, partitions))
    return summary


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        log.debug("ingest: nothing to roll back")


def _stage(
    con: duckdb.DuckDBPyConnection, sources: dict[str, Source], salt: str | None
) -> dict[str, Staged]:
    """Read, check and stage each table; only temp tables are written.

    This runs before the transaction: rowids of temp tables made inside one are
    transaction-local, and rows are reported by rowid.
    """
    staged: dict[str, Staged] = {}
    with Progress(len(sources), "ingest: validate", unit="table") as bar:
        for name, spec in TABLES.items():
            if name not in sources:
                continue
            raw = read_raw(con, sources[name])
            validate.check_shape(raw, spec)
            plan = column_plan(raw, spec, stored_columns(con, name), salt is not None)
            validate.check_values(con, raw, spec, plan)
            staged[name] = create_staging(con, raw, spec, plan, salt)
            validate.check_keys(con, staged[name])
            bar.update()
    return staged


def _write(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> tuple[TableSummary, ...]:
    """Inside the transaction: check references against the warehouse, then load."""
    ensure_tables(con)
    validate.check_references(con, staged)
    validate.check_impressions(con, staged)
    rules.check_rules(con, staged)
    log.info("ingest: input is valid; loading %d tables", len(staged))
    return tuple(write(con, staged[name]) for name in TABLES if name in staged)
