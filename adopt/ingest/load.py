"""`ingest`: validate an input folder and load it into the warehouse in one transaction.

The first stage of adopt (input files -> DuckDB warehouse). Each table is read
(`reader`), checked (`validate`) and cast and pseudonymised (`staging`) into
connection-local temp tables; then one DuckDB transaction empties the
warehouse's input tables (mode "replace") or checks that nothing is loaded
twice (mode "append", `reload`), checks references against the warehouse,
upserts or appends every table (`tables`) and logs the ingest. Any error rolls
everything back, and a killed process leaves an uncommitted transaction that
DuckDB discards on reopening, so the warehouse is always either as it was or
fully loaded.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from adopt.attributes import check_names, infer_type
from adopt.exceptions import ParameterError
from adopt.ingest import reload, rules, validate
from adopt.ingest.pseudonymize import check_salt, fingerprint, is_user_id
from adopt.ingest.reader import RawTable, Source, locate, read_raw
from adopt.ingest.staging import Staged, column_plan, create_staging
from adopt.ingest.summary import IngestSummary, TableSummary
from adopt.ingest.tables import (
    clear_input_tables,
    ensure_tables,
    log_ingest,
    stored_columns,
    write,
)
from adopt.partitions import check_partitions, read_manifest, write_partitions
from adopt.progress import Progress
from adopt.schema import TABLES, TableSpec
from adopt.workspace import Workspace

log = logging.getLogger("adopt")

MODES = ("append", "replace")
ON_DUPLICATE = ("refuse", "replace")


def ingest(
    data_dir: str | os.PathLike[str],
    workspace: str | os.PathLike[str],
    *,
    mode: str | None = None,
    on_duplicate: str = "refuse",
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
    mode : {None, "append", "replace"}
        What happens to a warehouse that already holds data.

        - None (default): append, and refuse what looks like the same data
          loaded again with changes: an impression_id already in the warehouse
          on a different impression row (see `on_duplicate`), or, for events
          without impression_id (and behaviours), a row that is not already in
          the warehouse but falls inside the time span the warehouse already
          holds for its ad and placement (its user, for behaviours). Exact
          repeats of loaded rows are dropped and counted, so the same files
          can be loaded twice.
        - "append": add the input to the warehouse without the time-span check
          (late or additional data for a period already loaded).
        - "replace": the input replaces every input table of the warehouse
          (tables not given become empty, extra columns of earlier loads go),
          in the same transaction as the load: a failed or killed ingest leaves
          the previous warehouse.

        In every mode, dimension tables (users, ads, placements, campaigns) are
        upserted by id.
    on_duplicate : {"refuse", "replace"}
        An input impression row whose impression_id the warehouse already holds
        on a different row: "refuse" (default) stops the ingest with a one-line
        error naming the row; "replace" first removes the warehouse's events of
        every impression_id the input brings (the impression, its clicks and
        its conversions), so the input's rows stand for those impressions.
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
        The input breaks the contract or would load data twice (the message
        names table, column and 1-based row), or the salt differs from the
        warehouse's; nothing is loaded.
    ParameterError
        `mode` or `on_duplicate` is not one of the allowed values.
    WorkspaceError
        The warehouse cannot be opened.
    """
    check_choices(mode, on_duplicate)
    start = time.perf_counter()
    if partitions is not None:
        check_partitions(partitions)  # before any work
    source = Path(data_dir).expanduser().resolve()
    sources = locate(source)
    ws = Workspace.of(workspace).ensure()
    existed = ws.warehouse.exists()
    con = ws.connect(create=True)
    committed = False
    try:
        # Timestamps are stored as naive UTC: offsets in text and tz-aware
        # Parquet are converted to UTC, whatever this machine's time zone.
        con.execute("SET TimeZone = 'UTC'")
        if mode != "replace":  # replacing every input table may change the salt
            check_salt(con, pseudonymize_salt)
        staged = _stage(con, sources, pseudonymize_salt, fresh=mode == "replace")
        con.execute("BEGIN TRANSACTION")
        removed = clear_input_tables(con) if mode == "replace" else {}
        tables = _write(con, staged, check_reload=mode is None, on_duplicate=on_duplicate)
        summary = IngestSummary(
            source,
            ws.warehouse,
            tables,
            pseudonymize_salt is not None,
            time.perf_counter() - start,
            mode=mode or "append",
            removed=removed,
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


def check_choices(mode: object, on_duplicate: object, caller: str = "ingest") -> None:
    """Raise ParameterError unless `mode` and `on_duplicate` are allowed values."""
    for name, value, allowed in (
        ("mode", mode, (None, *MODES)),
        ("on_duplicate", on_duplicate, ON_DUPLICATE),
    ):
        if not any(value is a or (a is not None and value == a) for a in allowed):
            shown = ", ".join(repr(a) for a in allowed)
            raise ParameterError(
                f"The '{name}' parameter of {caller} must be one of {shown}. "
                f"Got {value!r} instead."
            )


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        log.debug("ingest: nothing to roll back")


def _stage(
    con: duckdb.DuckDBPyConnection, sources: dict[str, Source], salt: str | None, fresh: bool
) -> dict[str, Staged]:
    """Read, check and stage each table; only temp tables are written.

    This runs before the transaction: rowids of temp tables made inside one are
    transaction-local, and rows are reported by rowid. `fresh` (mode replace):
    extra columns take the input's types, not those of the tables replaced.
    """
    staged: dict[str, Staged] = {}
    with Progress(len(sources), "ingest: validate", unit="table") as bar:
        for name, spec in TABLES.items():
            if name not in sources:
                continue
            raw = read_raw(con, sources[name])
            validate.check_shape(raw, spec)
            extra_types = _user_attribute_types(con, raw, spec) if name == "users" else None
            stored = {} if fresh else stored_columns(con, name)
            plan = column_plan(raw, spec, stored, salt is not None, extra_types)
            validate.check_values(con, raw, spec, plan)
            staged[name] = create_staging(con, raw, spec, plan, salt)
            validate.check_keys(con, staged[name])
            bar.update()
    return staged


def _user_attribute_types(
    con: duckdb.DuckDBPyConnection, raw: RawTable, spec: TableSpec
) -> dict[str, str]:
    """Check the users table's attribute names; type its text attributes that are numbers."""
    contract = {c.name.lower() for c in spec.columns}
    extras = [c for c in raw.columns if c.lower() not in contract]
    check_names(extras, spec.name)
    return {
        c: infer_type(con, f"temp.{raw.name}", c)
        for c in extras
        if raw.columns[c] == "VARCHAR" and not is_user_id(c)
    }


def _write(
    con: duckdb.DuckDBPyConnection,
    staged: dict[str, Staged],
    *,
    check_reload: bool,
    on_duplicate: str,
) -> tuple[TableSummary, ...]:
    """Inside the transaction: check references against the warehouse, then load."""
    ensure_tables(con)
    replaced = {}
    if on_duplicate == "replace" and "events" in staged:
        replaced["events"] = reload.remove_reloaded_impressions(con, staged["events"])
    validate.check_references(con, staged)
    validate.check_impressions(con, staged)
    rules.check_rules(con, staged)
    if check_reload:
        reload.check_reload(con, staged)
    log.info("ingest: input is valid; loading %d tables", len(staged))
    return tuple(
        write(con, staged[name], replaced=replaced.get(name, 0))
        for name in TABLES
        if name in staged
    )
