"""The warehouse side of ingest: contract tables, `ingest_log`, upserts and appends.

Last step of ingest (typed staging -> warehouse), run inside its transaction.
Every contract table exists after an ingest (empty when not given) with the
contract's columns and types, plus the extra columns inputs brought. Dimension
tables (those with a key) are upserted: an id already there gets the new row.
Fact tables (events, behaviors) are appended without exact duplicate rows,
whether repeated within the input or already in the warehouse. Mode replace
first empties every input table (`clear_input_tables`), in the same
transaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import duckdb

from adopt.ingest.reader import quote
from adopt.ingest.staging import Staged
from adopt.ingest.summary import IngestSummary, TableSummary
from adopt.schema import TABLES

log = logging.getLogger("adopt")

DUPLICATES_IN_INPUT = "exact duplicates within the input"
DUPLICATES_IN_WAREHOUSE = "exact duplicates already in the warehouse"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the contract tables and `ingest_log` where they do not exist yet."""
    for spec in TABLES.values():
        cols = ", ".join(f"{quote(c.name)} {c.sql_type}" for c in spec.columns)
        con.execute(f"CREATE TABLE IF NOT EXISTS main.{spec.name} ({cols})")
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS main.ingest_log (
            ingest_id BIGINT,
            ingested_at TIMESTAMP,
            source VARCHAR,
            salt_fingerprint VARCHAR,
            rows_loaded BIGINT,
            rows_dropped BIGINT,
            tables VARCHAR,
            mode VARCHAR
        )
        """
    )
    # Warehouses from before ingest modes lack the column.
    con.execute("ALTER TABLE main.ingest_log ADD COLUMN IF NOT EXISTS mode VARCHAR")


def clear_input_tables(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Drop every contract table (its rows and extra columns); return the rows each held.

    Runs inside ingest's transaction (mode replace), before `ensure_tables`
    creates them again; `ingest_log` stays. Views built on the tables (the
    staging models) read the new tables once the ingest commits.
    """
    have = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main'"
        ).fetchall()
    }
    removed = {}
    for name in TABLES:
        if name in have:
            removed[name] = con.execute(f"SELECT count(*) FROM main.{name}").fetchone()[0]
            con.execute(f"DROP TABLE main.{name}")
    log.info("ingest: mode replace: removed %s rows", f"{sum(removed.values()):,}")
    return removed


def stored_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column -> type of a warehouse table, in table order."""
    return dict(
        con.execute(
            """
            SELECT column_name, data_type FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = 'main'
                AND table_name = $t
            ORDER BY column_index
            """,
            {"t": table},
        ).fetchall()
    )


def _add_extra_columns(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    have = {c.lower() for c in stored_columns(con, staged.table)}
    for c in staged.columns:
        if c.name.lower() not in have:
            con.execute(f"ALTER TABLE main.{staged.table} ADD COLUMN {quote(c.name)} {c.sql_type}")


def write(con: duckdb.DuckDBPyConnection, staged: Staged, replaced: int = 0) -> TableSummary:
    """Write one staged table into the warehouse: upsert by key, or append new rows.

    `replaced` counts warehouse rows of a fact table that were removed before
    (events of impression_ids the input reloads); the summary reports it.
    """
    log.info("ingest %s: writing %s rows", staged.table, f"{staged.rows:,}")
    _add_extra_columns(con, staged)
    cols = ", ".join(quote(c) for c in staged.column_names)
    table = staged.table
    if staged.spec.key:
        key = quote(staged.spec.key[0])
        replaced = con.execute(
            f"DELETE FROM main.{table} WHERE {key} IN (SELECT {key} FROM temp.{staged.name})"
        ).fetchone()[0]
        loaded = con.execute(
            f"INSERT INTO main.{table} BY NAME SELECT {cols} FROM temp.{staged.name}"
        ).fetchone()[0]
        summary = TableSummary(
            table,
            staged.raw.source.label,
            staged.rows,
            loaded,
            replaced,
            skipped_files=staged.raw.source.skipped,
        )
    else:
        summary = _append_new(con, staged, cols, replaced)
    log.info(
        "ingest %s: loaded %s rows, %s replaced, %s dropped",
        table,
        f"{summary.rows_loaded:,}",
        f"{summary.rows_replaced:,}",
        f"{summary.rows_dropped:,}",
    )
    return summary


def _append_new(
    con: duckdb.DuckDBPyConnection, staged: Staged, cols: str, replaced: int
) -> TableSummary:
    table = staged.table
    # A new row gets NULL in warehouse columns this input lacks, so only rows with
    # NULL there can equal it; exact duplicates share ts, so only that range is read.
    names = {n.lower() for n in staged.column_names}
    lacking = [c for c in stored_columns(con, table) if c.lower() not in names]
    overlap = f"""
        FROM main.{table}
        WHERE ts BETWEEN (SELECT min(ts) FROM temp.{staged.name})
            AND (SELECT max(ts) FROM temp.{staged.name})
        {"".join(f" AND {quote(c)} IS NULL" for c in lacking)}
    """
    overlapping = con.execute(f"SELECT count(*) {overlap}").fetchone()[0]
    if overlapping == 0:
        # The common case (new data): no warehouse row can be a duplicate.
        loaded = con.execute(
            f"INSERT INTO main.{table} BY NAME SELECT DISTINCT {cols} FROM temp.{staged.name}"
        ).fetchone()[0]
        distinct = loaded
    else:
        distinct = con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM temp.{staged.name})"
        ).fetchone()[0]
        loaded = con.execute(
            f"""
            INSERT INTO main.{table} BY NAME
            SELECT {cols} FROM temp.{staged.name}
            EXCEPT
            SELECT {cols} {overlap}
            """
        ).fetchone()[0]
    dropped = {
        DUPLICATES_IN_INPUT: staged.rows - distinct,
        DUPLICATES_IN_WAREHOUSE: distinct - loaded,
    }
    return TableSummary(
        table,
        staged.raw.source.label,
        staged.rows,
        loaded,
        replaced,
        dropped,
        skipped_files=staged.raw.source.skipped,
    )


def log_ingest(
    con: duckdb.DuckDBPyConnection, summary: IngestSummary, salt_fingerprint: str | None
) -> None:
    """Append this ingest's row to `ingest_log` (the salt's fingerprint, never the salt)."""
    con.execute(
        """
        INSERT INTO main.ingest_log BY NAME
        SELECT coalesce(max(ingest_id), 0) + 1 AS ingest_id, $at AS ingested_at,
            $source AS source, $salt AS salt_fingerprint, $loaded AS rows_loaded,
            $dropped AS rows_dropped, $tables AS tables, $mode AS mode
        FROM main.ingest_log
        """,
        {
            "at": datetime.now(UTC).replace(tzinfo=None),
            "source": str(summary.source),
            "salt": salt_fingerprint,
            "loaded": sum(t.rows_loaded for t in summary.tables),
            "dropped": sum(t.rows_dropped for t in summary.tables),
            "tables": summary.to_json(),
            "mode": summary.mode,
        },
    )
