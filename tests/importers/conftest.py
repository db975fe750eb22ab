"""Fixtures of the importer tests: small files in each publisher's layout, and readers.

The files are the project's own (never the shared samples), written in the
layouts the publishers distribute, so each test can check the conversion row
by row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from adopt.schema import TABLES


def write_lines(path: Path, lines: list[str]) -> Path:
    """Write `lines` (no trailing newline in them) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def read_table(out: Path, table: str, order: str = "1") -> list[dict[str, object]]:
    """Every row of an output table as dicts, ordered by `order`."""
    con = duckdb.connect()
    rel = con.sql(
        f"select * from read_parquet($p) order by {order}", params={"p": f"{out}/{table}/*.parquet"}
    )
    cols = rel.columns
    return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]


def check_contract(out: Path) -> dict[str, int]:
    """Assert `out` keeps adopt's input contract; return the rows per table.

    Checks what ingest checks: required tables and columns, types, allowed
    values, non-null columns, unique keys and references.
    """
    con = duckdb.connect()
    rows: dict[str, int] = {}
    for name, spec in TABLES.items():
        folder = out / name
        if not folder.exists():
            assert spec.optional_table, f"required table {name} missing"
            continue
        con.sql("select * from read_parquet($p)", params={"p": f"{folder}/*.parquet"}).create_view(
            name
        )
        cols = [r[0] for r in con.execute(f"describe {name}").fetchall()]
        for col in spec.required:
            assert col in cols, f"{name}.{col} missing"
        for col in spec.columns:
            if col.name not in cols:
                continue
            bad = con.execute(
                f"select count(*) from {name} where {col.name} is not null "
                f"and try_cast({col.name} as {col.sql_type}) is null"
            ).fetchall()[0][0]
            assert bad == 0, f"{name}.{col.name} not {col.sql_type}"
            if not col.nullable:
                nulls = con.execute(
                    f"select count(*) from {name} where {col.name} is null"
                ).fetchall()[0][0]
                assert nulls == 0, f"{name}.{col.name} has nulls"
            if col.allowed:
                found = {
                    r[0] for r in con.execute(f"select distinct {col.name} from {name}").fetchall()
                }
                assert found <= set(col.allowed), f"{name}.{col.name}: {found}"
            if col.min_value is not None:
                low = con.execute(
                    f"select count(*) from {name} where {col.name} < $m", {"m": col.min_value}
                ).fetchall()[0][0]
                assert low == 0, f"{name}.{col.name} below {col.min_value}"
        if spec.key:
            key = ", ".join(spec.key)
            dup = con.execute(
                f"select count(*) from (select {key} from {name} "
                f"group by {key} having count(*) > 1)"
            ).fetchall()[0][0]
            assert dup == 0, f"duplicate keys in {name}"
        rows[name] = con.execute(f"select count(*) from {name}").fetchall()[0][0]
    for name, spec in TABLES.items():
        if name not in rows:
            continue
        for col, target in spec.references.items():
            key = TABLES[target].key[0]
            orphans = con.execute(
                f"select count(*) from {name} where {col} not in (select {key} from {target})"
            ).fetchall()[0][0]
            assert orphans == 0, f"{name}.{col} points outside {target}"
    return rows


@pytest.fixture
def contract() -> Callable[[Path], dict[str, int]]:
    """`check_contract`, for tests (conftest helpers are not importable modules)."""
    return check_contract


@pytest.fixture
def table() -> Callable[..., list[dict[str, object]]]:
    """`read_table`, for tests."""
    return read_table


@pytest.fixture
def lines() -> Callable[[Path, list[str]], Path]:
    """`write_lines`, for tests."""
    return write_lines


def ingest_matches(out: Path, workspace: Path, rows: dict[str, int]) -> None:
    """Run the real ingest on `out`; every row the import wrote must load, none dropped."""
    ingest = pytest.importorskip("adopt.ingest").ingest
    loaded = ingest(out, workspace)
    for name, n in rows.items():
        assert (loaded[name].rows_loaded, loaded[name].rows_dropped) == (n, 0), name


@pytest.fixture
def ingested() -> Callable[[Path, Path, dict[str, int]], None]:
    """`ingest_matches`, for tests."""
    return ingest_matches
