"""Loading the same data twice: refuse it, or replace what the warehouse holds.

Runs inside ingest's transaction (typed staging -> warehouse), before the
load. Two situations double data without anyone noticing:

- a corrected events file with the same impression_ids: `rules` refuses an
  impression_id already in the warehouse on a different impression row, or,
  with ``on_duplicate="replace"``, `remove_reloaded_impressions` first removes
  the warehouse's events of every impression_id the input brings an
  impression row for;
- a corrected file whose rows carry no impression_id (and behaviours, which
  never do): nothing tells a corrected row from a new one, so
  `check_reload` (the default mode) refuses a row that is not already in the
  warehouse but falls inside the time span the warehouse already holds for
  its ad and placement (for behaviours: its user). Mode "append" skips this
  check; mode "replace" empties the tables first.

Exact repeats of loaded rows are not refused: `tables` drops and counts them.
"""

from __future__ import annotations

import duckdb

from adopt.exceptions import InputError
from adopt.ingest.reader import quote
from adopt.ingest.staging import ROW, Staged
from adopt.ingest.validate import show, staged_row

# fact table -> the columns whose rows share a time span in the warehouse
SPAN_KEYS = {"events": ("ad_id", "placement_id"), "behaviors": ("user_id",)}


def remove_reloaded_impressions(con: duckdb.DuckDBPyConnection, events: Staged) -> int:
    """Delete the warehouse's events of every impression the input brings again.

    An impression_id on an input impression row takes its warehouse events (the
    impression, its clicks and conversions) out, so the input's rows stand for
    it. Clicks or conversions in the input whose impression is not in the input
    leave the warehouse's impression in place.

    Returns
    -------
    int
        The warehouse rows removed.
    """
    if not any(c.name == "impression_id" and c.raw for c in events.columns):
        return 0
    return con.execute(
        f"""
        DELETE FROM main.events WHERE impression_id IN (
            SELECT impression_id FROM temp.{events.name}
            WHERE event = 'impression' AND impression_id IS NOT NULL
        )
        """
    ).fetchone()[0]


def check_reload(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> None:
    """Refuse fact rows without an id that fall inside a span the warehouse already holds.

    Raises
    ------
    InputError
        On the first such row (1-based, in the input as given): table, column
        ``ts``, the span and what to do (mode "replace" or "append").
    """
    for table, keys in SPAN_KEYS.items():
        if table in staged:
            _check_table(con, staged[table], keys)


def _check_table(con: duckdb.DuckDBPyConnection, s: Staged, keys: tuple[str, ...]) -> None:
    table = s.table
    if con.execute(f"SELECT count(*) FROM (SELECT 1 FROM main.{table} LIMIT 1)").fetchone()[0] == 0:
        return
    on_keys = " AND ".join(f"c.{k} = span.{k}" for k in keys)
    has_id = any(c.name == "impression_id" and c.raw for c in s.columns)
    without_id = "AND c.impression_id IS NULL" if has_id else ""
    same = " AND ".join(
        f"w.{quote(c.name)} IS NOT DISTINCT FROM c.{quote(c.name)}" for c in s.spec.columns
    )
    found = con.execute(
        f"""
        WITH span AS (
            SELECT {", ".join(keys)}, min(ts) AS lo, max(ts) AS hi FROM main.{table}
            GROUP BY ALL
        ),
        candidates AS (
            SELECT c.*, span.lo AS _lo, span.hi AS _hi FROM temp.{s.name} c
            JOIN span ON {on_keys}
            WHERE c.ts BETWEEN span.lo AND span.hi {without_id}
        )
        SELECT c.{ROW}, c._lo, c._hi, {", ".join(f"c.{k}" for k in keys)} FROM candidates c
        WHERE NOT EXISTS (SELECT 1 FROM main.{table} w WHERE w.ts = c.ts AND {same})
        ORDER BY c.{ROW} LIMIT 1
        """
    ).fetchone()
    if found is None:
        return
    rowid, lo, hi, *values = found
    if table == "events":
        whose = f"ad {show(values[0])} on placement {show(values[1])}"
        why = "and it has no impression_id to tell a new event from a corrected one"
    else:
        whose = "this row's user"  # user ids may be pseudonymised: not shown
        why = "and behaviours have no id to tell a new row from a corrected one"
    problem = (
        f"the warehouse already holds {table} of {whose} from {lo} to {hi}; this row falls "
        f"in that span but is not one of them, {why}: loading a corrected file again would "
        "double the data. Use mode 'replace' (--mode replace) to replace the warehouse's "
        "input tables, or mode 'append' (--mode append) to add the rows anyway"
    )
    raise InputError(table, "ts", problem, row=staged_row(con, s, rowid))
