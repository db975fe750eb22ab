"""Input contract checks, as set-based DuckDB queries that find the first failing row.

Runs inside ingest's transaction, between reading (raw temp tables) and loading:
`check_shape` and `check_values` look at one raw table (the value checks of all
its columns in a single scan), `check_keys`, `check_references` and
`check_impressions` at the typed staging tables together with what the
warehouse already holds. Each raises `InputError` naming the table, the column,
the row (row number in its file, and the key) and what is allowed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from adopt.exceptions import InputError
from adopt.ingest.reader import RawTable, quote
from adopt.ingest.staging import ROW, ColumnPlan, Staged
from adopt.schema import EARLIEST_TS, LATEST_TS_YEARS_AHEAD, TABLES, TableSpec

_TS_HINT = "use ISO 8601, e.g. 2024-05-01 13:45:00"
_TYPE_WORDS = {"DOUBLE": "a number", "BIGINT": "a whole number", "TIMESTAMP": "a timestamp"}
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def ts_window() -> tuple[datetime, datetime]:
    """The earliest and latest timestamps ingest accepts (naive UTC)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    latest = now + timedelta(days=round(365.25 * LATEST_TS_YEARS_AHEAD))
    return datetime.fromisoformat(EARLIEST_TS), latest


def show(value: object) -> str:
    """A value as it appears in messages: quoted, one line, at most 40 characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, date):
        text = str(value)  # a timestamp as '2200-01-01 00:00:00', not its repr
    else:
        text = repr(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\x00", "\\x00")
    return "'" + (text if len(text) <= 40 else text[:37] + "...") + "'"


def check_shape(raw: RawTable, spec: TableSpec) -> None:
    """Reject an empty table and one that lacks a required column."""
    if raw.rows == 0:
        raise InputError(spec.name, None, f"table is empty ({raw.source.label} has no rows)")
    have = {c.lower() for c in raw.columns}
    for col in spec.required:
        if col.lower() not in have:
            found = ", ".join(raw.columns) or "none"
            raise InputError(spec.name, col, f"required column is missing (columns found: {found})")
    if ROW in have:
        raise InputError(spec.name, ROW, "column name is reserved by adopt; rename it")


def _checks(plan: list[ColumnPlan]) -> list[tuple[ColumnPlan, str, str, dict[str, Any]]]:
    """(column, kind, failing-row condition, parameters) for every value check, in order."""
    out = []
    low, high = ts_window()
    for i, c in enumerate(plan):
        if c.raw is None:
            continue
        raw = quote(c.raw)
        typed = c.typed_sql()
        spec = c.spec
        if c.raw_type == "VARCHAR":
            out.append((c, "nul", f"contains({raw}, chr(0))", {}))
        if spec is not None and not spec.nullable:
            blank = f" OR trim({typed}) = ''" if c.sql_type == "VARCHAR" else ""
            out.append((c, "null", f"{raw} IS NULL{blank}", {}))
        if c.needs_cast:
            out.append((c, "type", f"{raw} IS NOT NULL AND {typed} IS NULL", {}))
        if c.needs_cast and c.sql_type == "BIGINT" and c.raw_type not in _INTEGER_TYPES:
            number = f"TRY_CAST({raw} AS DOUBLE)"
            out.append((c, "whole", f"{number} <> trunc({number})", {}))
        if c.sql_type == "DOUBLE":
            out.append((c, "finite", f"isnan({typed}) OR isinf({typed})", {}))
        if c.sql_type == "TIMESTAMP" and spec is not None:
            cond = f"{typed} < $ts_low_{i} OR {typed} > $ts_high_{i}"
            out.append((c, "window", cond, {f"ts_low_{i}": low, f"ts_high_{i}": high}))
        if spec is not None and spec.min_value is not None:
            out.append((c, "min", f"{typed} < $min_{i}", {f"min_{i}": spec.min_value}))
        if spec is not None and spec.max_value is not None:
            out.append((c, "max", f"{typed} > $max_{i}", {f"max_{i}": spec.max_value}))
        if spec is not None and spec.allowed is not None:
            cond = f"{typed} IS NOT NULL AND NOT list_contains($allowed_{i}, {typed})"
            out.append((c, "allowed", cond, {f"allowed_{i}": list(spec.allowed)}))
    return out


def check_values(
    con: duckdb.DuckDBPyConnection, raw: RawTable, spec: TableSpec, plan: list[ColumnPlan]
) -> None:
    """Check every value of `raw` against the plan in one scan; report the first failing row.

    Checks, per column: NUL bytes in text, nulls or blanks in a required
    column, values that do not cast to the column's type (unparseable
    timestamps included), fractions in whole-number columns, NaN or infinite
    numbers, timestamps outside `ts_window()`, values below `min_value` or
    above `max_value`, text outside `allowed`.
    """
    checks = _checks(plan)
    if not checks:
        return
    params: dict[str, Any] = {}
    for *_, p in checks:
        params.update(p)
    aggregates = ", ".join(f"min(rowid) FILTER (WHERE {cond})" for _, _, cond, _ in checks)
    firsts = con.execute(f"SELECT {aggregates} FROM temp.{raw.name}", params).fetchone()
    failed = [(rowid, i) for i, rowid in enumerate(firsts) if rowid is not None]
    if not failed:
        return
    rowid, i = min(failed)  # the first failing row; on it, the first failing check
    c, kind = checks[i][0], checks[i][1]
    value = con.execute(
        f"SELECT {quote(c.raw)} FROM temp.{raw.name} WHERE rowid = $r", {"r": rowid}
    ).fetchone()[0]
    raise InputError(
        spec.name, c.name, _problem(c, kind, value), row=_raw_row(con, raw, spec, plan, rowid)
    )


def _problem(c: ColumnPlan, kind: str, value: object) -> str:
    if kind == "nul":
        return "text contains a NUL byte (\\x00); remove it"
    if kind == "whole":
        return f"{show(value)} is not a whole number"
    if kind == "window":
        low, high = ts_window()
        return (
            f"{show(value)} is outside the accepted years: timestamps must lie between "
            f"{low:%Y-%m-%d} and {high:%Y-%m-%d} (now + {LATEST_TS_YEARS_AHEAD} years)"
        )
    if kind == "null":
        return f"{c.name} is empty; every row needs a value"
    if kind == "type" and c.sql_type == "TIMESTAMP":
        return f"{show(value)} cannot be parsed as a timestamp ({_TS_HINT})"
    if kind == "type":
        return f"{show(value)} is not {_TYPE_WORDS.get(c.sql_type, c.sql_type)}"
    if kind == "finite":
        return f"{show(value)} is not a finite number"
    assert c.spec is not None
    if kind == "min":
        low = c.spec.min_value
        why = "cannot be negative" if low == 0 else f"must be at least {low:g}"
        return f"{value} is below the minimum {low:g} ({c.name} {why})"
    if kind == "max":
        high = c.spec.max_value
        return f"{value} is above the maximum {high:g} ({c.name} this large is a unit error)"
    allowed = ", ".join(c.spec.allowed or ())
    return f"{show(value)} is not allowed; use one of: {allowed}"


def _key_text(
    spec: TableSpec, plan: tuple[ColumnPlan, ...] | list[ColumnPlan], value: object
) -> str:
    key = spec.key[0]
    hidden = any(c.name == key and c.pseudonymize for c in plan)
    return f"{key} {'(pseudonymised)' if hidden else show(value)}"


def _raw_row(
    con: duckdb.DuckDBPyConnection,
    raw: RawTable,
    spec: TableSpec,
    plan: list[ColumnPlan],
    rowid: int,
) -> str:
    where = raw.where(rowid)
    key_col = next((c for c in plan if spec.key and c.name == spec.key[0] and c.raw), None)
    if key_col is None:
        return where
    value = con.execute(
        f"SELECT {quote(key_col.raw)} FROM temp.{raw.name} WHERE rowid = $r", {"r": rowid}
    ).fetchone()[0]
    return where if value is None else f"{where} ({_key_text(spec, plan, value)})"


def staged_row(con: duckdb.DuckDBPyConnection, staged: Staged, rowid: int) -> str:
    """Describe a staged row as '<row> of <file>', with its key when the table has one."""
    where = staged.raw.where(rowid)
    if not staged.spec.key:
        return where
    value = con.execute(
        f"SELECT {quote(staged.spec.key[0])} FROM temp.{staged.name} WHERE {ROW} = $r",
        {"r": rowid},
    ).fetchone()[0]
    return f"{where} ({_key_text(staged.spec, staged.columns, value)})"


def check_keys(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    """Reject a key that appears twice in the input; report its second occurrence."""
    if not staged.spec.key:
        return
    key = quote(staged.spec.key[0])
    found = con.execute(
        f"""
        WITH numbered AS (
            SELECT {ROW} AS r,
                row_number() OVER (PARTITION BY {key} ORDER BY {ROW}) AS n,
                min({ROW}) OVER (PARTITION BY {key}) AS first
            FROM temp.{staged.name}
        )
        SELECT r, first FROM numbered WHERE n = 2 ORDER BY r LIMIT 1
        """
    ).fetchone()
    if found is not None:
        second, first = found
        raise InputError(
            staged.table,
            staged.spec.key[0],
            f"duplicate id: row {staged.raw.where(first)} has the same {staged.spec.key[0]}; "
            "ids must be unique",
            row=staged_row(con, staged, second),
        )


def _references(
    con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]
) -> list[tuple[str, str, str]]:
    refs = [
        (t, col, target) for t, s in staged.items() for col, target in s.spec.references.items()
    ]
    # campaigns is optional: ads.campaign_id is checked once campaigns are known,
    # from this input or from a previous load.
    if "ads" in staged and (
        "campaigns" in staged
        or con.execute("SELECT count(*) FROM main.campaigns").fetchone()[0] > 0
    ):
        refs.append(("ads", "campaign_id", "campaigns"))
    return refs


def check_references(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> None:
    """Reject ids that point to rows neither in this input nor already in the warehouse."""
    for table, col, target in _references(con, staged):
        s = staged[table]
        key = quote(TABLES[target].key[0])
        c = quote(col)
        in_input = (
            f"AND NOT EXISTS (SELECT 1 FROM temp.{staged[target].name} t WHERE t.{key} = s.{c})"
            if target in staged
            else ""
        )
        found = con.execute(
            f"""
            SELECT s.{ROW}, s.{c} FROM temp.{s.name} s
            WHERE s.{c} IS NOT NULL {in_input}
                AND NOT EXISTS (SELECT 1 FROM main.{target} w WHERE w.{key} = s.{c})
            ORDER BY s.{ROW} LIMIT 1
            """
        ).fetchone()
        if found is not None:
            rowid, value = found
            hidden = any(p.name == col and p.pseudonymize for p in s.columns)
            shown = "(pseudonymised)" if hidden else show(value)
            raise InputError(
                table,
                col,
                f"{col} {shown} is unknown: not in {target} (neither in this input "
                "nor in the warehouse)",
                row=staged_row(con, s, rowid),
            )


def check_impressions(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> None:
    """Reject a click or conversion whose impression_id has no impression event."""
    events = staged.get("events")
    if events is None or not any(c.name == "impression_id" and c.raw for c in events.columns):
        return
    found = con.execute(
        f"""
        SELECT s.{ROW}, s.event, s.impression_id FROM temp.{events.name} s
        WHERE s.event <> 'impression' AND s.impression_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM temp.{events.name} i
                WHERE i.event = 'impression' AND i.impression_id = s.impression_id)
            AND NOT EXISTS (SELECT 1 FROM main.events w
                WHERE w.event = 'impression' AND w.impression_id = s.impression_id)
        ORDER BY s.{ROW} LIMIT 1
        """
    ).fetchone()
    if found is not None:
        rowid, event, impression = found
        raise InputError(
            "events",
            "impression_id",
            f"{event} with impression_id {show(impression)} has no impression event with that "
            "impression_id (neither in this input nor in the warehouse)",
            row=staged_row(con, events, rowid),
        )
