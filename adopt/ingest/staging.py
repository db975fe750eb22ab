"""Typed staging: cast a raw input table to the contract's (and the warehouse's) types.

Second step of ingest (raw temp table -> typed staging -> warehouse). A column
plan says, per input column, the name and type it is stored under; validation
checks the raw values against the plan, then `create_staging` writes the typed
temp table `_stg_<table>` that the load reads. User ids are pseudonymised here,
so raw ids never leave the temp tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from adopt.ingest.pseudonymize import hash_sql, is_user_id
from adopt.ingest.reader import RawTable, quote
from adopt.schema import Column, TableSpec

ROW = "_adopt_row"  # raw rowid, kept in staging to report rows


@dataclass(frozen=True)
class ColumnPlan:
    """One stored column: where it comes from in the raw table and its type."""

    name: str  # stored name (the contract's spelling for contract columns)
    raw: str | None  # raw column name, None when the input lacks this contract column
    raw_type: str | None
    sql_type: str
    spec: Column | None  # None for extra columns
    pseudonymize: bool = False

    @property
    def needs_cast(self) -> bool:
        return self.raw is not None and self.raw_type != self.sql_type

    def typed_sql(self) -> str:
        """The raw value cast to `sql_type`, NULL where it does not cast.

        Timestamps go through TIMESTAMPTZ, so text with a UTC offset
        ('2026-01-05T10:00:00+13:00') and tz-aware Parquet are both stored as
        naive UTC; text without an offset is taken as UTC. The ingest
        connection's TimeZone is UTC.
        """
        value = quote(self.raw or "")
        if not self.needs_cast:
            return value
        if self.sql_type == "TIMESTAMP" and self.raw_type in (
            "VARCHAR",
            "TIMESTAMP WITH TIME ZONE",
        ):
            return f"CAST(TRY_CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return f"TRY_CAST({value} AS {self.sql_type})"

    def value_sql(self) -> str:
        """The typed (and pseudonymised) value; `$salt` is bound by the caller."""
        if self.raw is None:
            return f"CAST(NULL AS {self.sql_type})"
        value = self.typed_sql()
        if self.pseudonymize:
            value = hash_sql(value)
        return value


@dataclass(frozen=True)
class Staged:
    """A validated, typed input table in the temp table `name`."""

    spec: TableSpec
    raw: RawTable
    name: str
    columns: tuple[ColumnPlan, ...]

    @property
    def table(self) -> str:
        return self.spec.name

    @property
    def rows(self) -> int:
        return self.raw.rows

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def column_plan(
    raw: RawTable,
    spec: TableSpec,
    stored: dict[str, str],
    pseudonymize: bool,
    extra_types: dict[str, str] | None = None,
) -> list[ColumnPlan]:
    """Plan the stored columns of `raw`: every contract column, then the extras.

    Parameters
    ----------
    raw
        The raw input table.
    spec
        Its contract.
    stored
        Column -> type of the warehouse table already there; extras keep the
        type they were first stored with.
    pseudonymize
        Hash every user id column.
    extra_types
        Extra column -> type to store it under when the warehouse has no such
        column yet (default: the raw type), e.g. user attributes read from CSV
        that are numbers (`adopt.attributes.infer_type`).
    """
    by_lower = {c.lower(): c for c in raw.columns}
    stored_lower = {c.lower(): t for c, t in stored.items()}
    plan = []
    for col in spec.columns:
        name = by_lower.pop(col.name.lower(), None)
        plan.append(
            ColumnPlan(
                col.name,
                name,
                raw.columns[name] if name else None,
                col.sql_type,
                col,
                pseudonymize and is_user_id(col.name),
            )
        )
    for name in by_lower.values():
        hashed = pseudonymize and is_user_id(name)
        first = (extra_types or {}).get(name, raw.columns[name])
        sql_type = "VARCHAR" if hashed else stored_lower.get(name.lower(), first)
        plan.append(ColumnPlan(name, name, raw.columns[name], sql_type, None, hashed))
    return plan


def create_staging(
    con: duckdb.DuckDBPyConnection,
    raw: RawTable,
    spec: TableSpec,
    plan: list[ColumnPlan],
    salt: str | None,
) -> Staged:
    """Write the typed temp table `_stg_<table>` from the validated raw table and drop the raw."""
    name = f"_stg_{spec.name}"
    select = ", ".join(f"{c.value_sql()} AS {quote(c.name)}" for c in plan)
    params = {"salt": salt} if any(c.pseudonymize for c in plan) else {}
    con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT rowid AS {ROW}, {select} FROM temp.{raw.name}",
        params,
    )
    con.execute(f"DROP TABLE temp.{raw.name}")
    return Staged(spec, raw, name, tuple(plan))
