"""Cross-row rules of the input contract: event logic, campaign flights, sign-up times.

Runs inside ingest's transaction after the reference checks (`validate`), on
the typed staging tables together with what the warehouse already holds. Each
rule is a DuckDB query that finds its first offending row; of all the rules
of a table, the earliest offending row (1-based, in the input as given) is
reported as a one-line `InputError`.

Event rules, where events carry impression_id:
- an impression_id names one impression (the same id on two different
  impression rows is refused, whether both are in the input or one is already
  in the warehouse: a corrected file loaded again; an exact repeat of a row is
  dropped as before). With on_duplicate "replace", `reload` has already taken
  the warehouse's rows of reloaded impressions out;
- a click or conversion has the user, ad and placement of its impression and
  does not come before it; a conversion does not come before the first click
  on its impression.
Always: an impression row has no revenue; a campaign does not end before it
starts; a user does not sign up after their last event (refused rather than
warned: such a row is a clock or id error, and profiles would count activity
before the user existed).
"""

from __future__ import annotations

import duckdb

from adopt.exceptions import InputError
from adopt.ingest.staging import ROW, Staged
from adopt.ingest.validate import show, staged_row

# (rowid, column, problem) of an offending row
Finding = tuple[int, str, str]
_MATCHED = ("user_id", "ad_id", "placement_id")


def check_rules(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> None:
    """Raise InputError on the first row of each table that breaks a cross-row rule."""
    checks = (
        ("campaigns", _campaign_findings),
        ("users", _signup_findings),
        ("events", _event_findings),
    )
    for table, find in checks:
        if table not in staged:
            continue
        findings = [f for f in find(con, staged) if f is not None]
        if findings:
            rowid, column, problem = min(findings, key=lambda f: f[0])
            raise InputError(table, column, problem, row=staged_row(con, staged[table], rowid))


def _has(staged: Staged, column: str) -> bool:
    return any(c.name == column and c.raw for c in staged.columns)


def _first(con: duckdb.DuckDBPyConnection, sql: str) -> tuple | None:
    return con.execute(sql).fetchone()


def _campaign_findings(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> list:
    s = staged["campaigns"]
    found = _first(
        con,
        f"""SELECT {ROW}, "start", "end" FROM temp.{s.name}
        WHERE "end" < "start" ORDER BY {ROW} LIMIT 1""",
    )
    if found is None:
        return []
    rowid, start, end = found
    return [(rowid, "end", f"the campaign ends ({end}) before it starts ({start})")]


def _signup_findings(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> list:
    users = staged["users"]
    if not _has(users, "signup_ts"):
        return []
    events = staged.get("events")
    in_input = f"UNION ALL SELECT user_id, ts FROM temp.{events.name}" if events is not None else ""
    found = _first(
        con,
        f"""
        WITH all_events AS (
            SELECT user_id, ts FROM main.events {in_input}
        ),
        last_event AS (
            SELECT e.user_id, max(e.ts) AS last_ts FROM all_events e
            WHERE e.user_id IN (SELECT user_id FROM temp.{users.name})
            GROUP BY e.user_id
        )
        SELECT u.{ROW}, u.signup_ts, l.last_ts FROM temp.{users.name} u
        JOIN last_event l ON l.user_id = u.user_id
        WHERE u.signup_ts > l.last_ts
        ORDER BY u.{ROW} LIMIT 1
        """,
    )
    if found is None:
        return []
    rowid, signup, last = found
    return [(rowid, "signup_ts", f"the user signs up ({signup}) after their last event ({last})")]


def _event_findings(con: duckdb.DuckDBPyConnection, staged: dict[str, Staged]) -> list:
    s = staged["events"]
    out = []
    if _has(s, "revenue"):
        found = _first(
            con,
            f"""SELECT {ROW}, revenue FROM temp.{s.name}
            WHERE event = 'impression' AND revenue > 0 ORDER BY {ROW} LIMIT 1""",
        )
        if found is not None:
            out.append(
                (
                    found[0],
                    "revenue",
                    f"an impression has revenue {found[1]:g}; revenue belongs on conversion rows",
                )
            )
    if _has(s, "impression_id"):
        out += [_duplicate_impression(con, s), *_responses(con, s)]
    return out


def _core_differs(a: str, b: str) -> str:
    cols = ("ts", "user_id", "ad_id", "placement_id", "cost", "revenue")
    return " OR ".join(f"{a}.{c} IS DISTINCT FROM {b}.{c}" for c in cols)


def _duplicate_impression(con: duckdb.DuckDBPyConnection, s: Staged) -> tuple | None:
    """An impression_id on two different impression rows (input, or input and warehouse)."""
    found = _first(
        con,
        f"""
        WITH imp AS (
            SELECT * FROM temp.{s.name} WHERE event = 'impression' AND impression_id IS NOT NULL
        ),
        flagged AS (
            SELECT a.{ROW} AS rowid, a.impression_id,
                EXISTS (SELECT 1 FROM imp b WHERE b.impression_id = a.impression_id
                    AND b.{ROW} < a.{ROW} AND ({_core_differs("a", "b")})) AS in_input,
                EXISTS (SELECT 1 FROM main.events w WHERE w.event = 'impression'
                    AND w.impression_id = a.impression_id AND ({_core_differs("a", "w")}))
                    AS in_warehouse
            FROM imp a
        )
        SELECT rowid, impression_id, in_input FROM flagged WHERE in_input OR in_warehouse
        ORDER BY rowid LIMIT 1
        """,
    )
    if found is None:
        return None
    rowid, impression, in_input = found
    if in_input:
        problem = (
            f"duplicate impression_id {show(impression)}: another impression row of the input "
            "has it; each impression needs its own id"
        )
    else:
        problem = (
            f"duplicate impression_id {show(impression)}: the warehouse already holds a "
            "different impression with this id (loaded before); to load corrected events, "
            "use on_duplicate 'replace' (--on-duplicate replace) or mode 'replace' "
            "(--mode replace)"
        )
    return (rowid, "impression_id", problem)


def _responses(con: duckdb.DuckDBPyConnection, s: Staged) -> list[tuple | None]:
    """Clicks and conversions that disagree with their impression or come before it."""
    mismatch = " OR ".join(f"r.{c} IS DISTINCT FROM i.{c}" for c in _MATCHED)
    found = con.execute(
        f"""
        WITH imp AS (
            SELECT impression_id, min(ts) AS ts, min(user_id) AS user_id,
                min(ad_id) AS ad_id, min(placement_id) AS placement_id
            FROM (
                SELECT impression_id, ts, user_id, ad_id, placement_id FROM temp.{s.name}
                WHERE event = 'impression' AND impression_id IS NOT NULL
                UNION ALL
                SELECT impression_id, ts, user_id, ad_id, placement_id FROM main.events
                WHERE event = 'impression' AND impression_id IS NOT NULL
            )
            GROUP BY impression_id
        ),
        first_click AS (
            SELECT impression_id, min(ts) AS ts FROM (
                SELECT impression_id, ts FROM temp.{s.name} WHERE event = 'click'
                UNION ALL
                SELECT impression_id, ts FROM main.events WHERE event = 'click'
            )
            WHERE impression_id IS NOT NULL
            GROUP BY impression_id
        ),
        responses AS (
            SELECT r.{ROW} AS rowid, r.event, r.ts, r.impression_id,
                {", ".join(f"r.{c} AS {c}, i.{c} AS imp_{c}" for c in _MATCHED)},
                i.ts AS imp_ts, c.ts AS click_ts,
                {mismatch} AS mismatched,
                r.ts < i.ts AS before_impression,
                r.event = 'conversion' AND r.ts < c.ts AS before_click,
            FROM temp.{s.name} r
            JOIN imp i ON i.impression_id = r.impression_id
            LEFT JOIN first_click c ON c.impression_id = r.impression_id
            WHERE r.event <> 'impression'
        )
        SELECT * FROM responses
        WHERE mismatched OR before_impression OR before_click
        ORDER BY rowid LIMIT 1
        """
    ).fetchone()
    if found is None:
        return []
    row = dict(zip([d[0] for d in con.description], found, strict=True))
    what, imp = row["event"], show(row["impression_id"])
    if row["mismatched"]:
        col = next(c for c in _MATCHED if row[c] != row[f"imp_{c}"])
        # user ids may be pseudonymised: they are not shown
        values = "" if col == "user_id" else f" ({show(row[col])}, not {show(row[f'imp_{col}'])})"
        problem = (
            f"the {what}'s {col} differs from that of its impression {imp}{values}; a {what} "
            "must have the user, ad and placement of its impression"
        )
        return [(row["rowid"], col, problem)]
    if row["before_impression"]:
        problem = f"the {what} at {row['ts']} is before its impression {imp} at {row['imp_ts']}"
        return [(row["rowid"], "ts", problem)]
    problem = (
        f"the conversion at {row['ts']} is before the first click on its impression {imp} "
        f"at {row['click_ts']}"
    )
    return [(row["rowid"], "ts", problem)]
