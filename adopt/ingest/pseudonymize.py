"""Pseudonymisation of user ids at ingest, and the guard that keeps one salt per warehouse.

With a salt, every user id column (`user_id`, or a name ending in `_user_id`,
in any table) is stored as `sha256(salt || user_id)` cut to 32 hex characters,
computed in DuckDB with the salt bound as a parameter. The warehouse's
`ingest_log` keeps sha256(salt) (never the salt), so a later ingest with
another salt, or none, is refused: its ids would no longer join.
"""

from __future__ import annotations

import hashlib

import duckdb

from adopt.exceptions import InputError

HASH_CHARS = 32


def is_user_id(column: str) -> bool:
    """True for the columns that hold user ids and are pseudonymised."""
    name = column.lower()
    return name == "user_id" or name.endswith("_user_id")


def hash_sql(value_sql: str) -> str:
    """SQL for the pseudonym of `value_sql`; the caller binds `$salt`."""
    return f"substr(sha256($salt || CAST({value_sql} AS VARCHAR)), 1, {HASH_CHARS})"


def fingerprint(salt: str | None) -> str | None:
    """sha256 of the salt in hex, None without a salt."""
    return None if salt is None else hashlib.sha256(salt.encode("utf-8")).hexdigest()


def check_salt(con: duckdb.DuckDBPyConnection, salt: str | None) -> None:
    """Refuse a salt (or its absence) that differs from the warehouse's earlier ingests.

    Raises
    ------
    InputError
        `pseudonymize_salt` is empty, or does not match the salt fingerprint
        recorded in `ingest_log`.
    """
    if salt is not None and not salt:
        raise InputError(
            "users", "user_id", "pseudonymize_salt must be a non-empty string or None (got '')"
        )
    logged = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'ingest_log'"
    ).fetchone()[0]
    row = (
        con.execute(
            "SELECT salt_fingerprint FROM main.ingest_log ORDER BY ingest_id DESC LIMIT 1"
        ).fetchone()
        if logged
        else None
    )
    if row is None:
        return
    before, now = row[0], fingerprint(salt)
    if before == now:
        return
    if now is None:
        problem = (
            f"this warehouse holds pseudonymised user ids (salt fingerprint {before[:12]}...); "
            "ingest with the same pseudonymize_salt"
        )
    elif before is None:
        problem = (
            "this warehouse holds raw user ids, so pseudonymize_salt cannot be added now; "
            "ingest without it, into a new workspace, or with mode replace"
        )
    else:
        problem = (
            f"pseudonymize_salt differs from the salt this warehouse was loaded with "
            f"(fingerprint {before[:12]}..., got {now[:12]}...); use the same salt"
        )
    raise InputError("users", "user_id", problem)
