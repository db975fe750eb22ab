"""Locate each contract table's input files and read them into DuckDB temp tables.

First step of ingest (input folder -> raw temp table -> typed staging -> warehouse).
CSV is read as all text, so that `adopt.ingest.validate` can report a bad value
with its row; Parquet keeps its own types. Each table's rows land in one temp
table in file order, so a row's `rowid` maps back to a file and a row number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from adopt.exceptions import InputError
from adopt.schema import TABLES

log = logging.getLogger("adopt")

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
_CSV_PROBLEMS = {
    "INVALID ENCODING": "text is not valid UTF-8 (save the file as UTF-8)",
    "TOO MANY COLUMNS": "the line has more fields than the header",
    "MISSING COLUMNS": "the line has fewer fields than the header",
}


def quote(identifier: str) -> str:
    """Quote a DuckDB identifier (column names come from the input's header)."""
    return '"' + identifier.replace('"', '""') + '"'


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


@dataclass(frozen=True)
class Source:
    """The input files of one table, all of one format ("csv" or "parquet")."""

    table: str
    files: tuple[Path, ...]
    fmt: str
    folder: bool = False

    @property
    def label(self) -> str:
        if self.folder:
            n = len(self.files)
            return f"{self.table}/ ({n} {self.fmt} file{'s' if n > 1 else ''})"
        return self.files[0].name


@dataclass(frozen=True)
class RawTable:
    """An input table read into the temp table `name`; `spans` map rowids to files."""

    table: str
    name: str
    source: Source
    columns: dict[str, str]  # column -> DuckDB type, in input order
    spans: tuple[tuple[Path, int, int], ...]  # (file, first rowid, rows)

    @property
    def rows(self) -> int:
        return sum(n for _, _, n in self.spans)

    def where(self, rowid: int) -> str:
        """Describe a rowid as '<row> of <file>' (rows count from 1, header excluded)."""
        for path, first, n in self.spans:
            if first <= rowid < first + n:
                return f"{rowid - first + 1} of {path.name}"
        return f"{rowid + 1}"


def locate(data_dir: str | Path) -> dict[str, Source]:
    """Find the files of every contract table in `data_dir`.

    Parameters
    ----------
    data_dir
        Folder holding, per table, `<table>.parquet`, `<table>.csv(.gz)` or a
        folder `<table>/` of such files.

    Returns
    -------
    dict
        Table name -> Source, for the tables present (optional ones may be absent).

    Raises
    ------
    InputError
        A required table is missing, a table is given twice, or a folder mixes
        or lacks data files.
    """
    root = Path(data_dir)
    if not root.is_dir():
        first = next(iter(TABLES))
        raise InputError(
            first, None, f"required table is missing: the data folder {root} does not exist"
        )
    found: dict[str, Source] = {}
    for name, spec in TABLES.items():
        candidates = [root / f"{name}{s}" for s in (*PARQUET_SUFFIXES, *CSV_SUFFIXES)]
        files = [p for p in candidates if p.is_file()]
        folder = root / name
        if folder.is_dir():
            files.append(folder)
        if len(files) > 1:
            given = ", ".join(p.name + ("/" if p.is_dir() else "") for p in files)
            raise InputError(name, None, f"given more than once ({given}); keep exactly one")
        if not files:
            if not spec.optional_table:
                raise InputError(
                    name,
                    None,
                    f"required table is missing: expected {name}.parquet, {name}.csv, "
                    f"{name}.csv.gz or a folder {name}/ in {root}",
                )
            continue
        if files[0].is_dir():
            found[name] = _folder_source(name, files[0])
        else:
            found[name] = Source(name, (files[0],), _format_of(files[0]) or "csv")
    return found


def _folder_source(name: str, folder: Path) -> Source:
    files = sorted(p for p in folder.iterdir() if p.is_file() and _format_of(p))
    formats = {_format_of(p) for p in files}
    if not files:
        raise InputError(
            name, None, f"table is empty: folder {folder} has no .parquet or .csv files"
        )
    if len(formats) > 1:
        raise InputError(name, None, f"folder {folder} mixes CSV and Parquet files; use one format")
    return Source(name, tuple(files), formats.pop(), folder=True)


def read_raw(con: duckdb.DuckDBPyConnection, source: Source) -> RawTable:
    """Read every file of `source`, in order, into the temp table `_raw_<table>`.

    Columns missing from some files of a folder are NULL in their rows.

    Raises
    ------
    InputError
        A file cannot be read: malformed CSV lines, text that is not UTF-8.
    """
    name = f"_raw_{source.table}"
    con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    spans: list[tuple[Path, int, int]] = []
    total = 0
    for i, path in enumerate(source.files):
        scan = _scan_sql(source.fmt)
        try:
            if i == 0:
                sql = f"CREATE TEMP TABLE {name} AS SELECT * FROM {scan}"
            else:
                _add_new_columns(con, name, scan, path)
                sql = f"INSERT INTO temp.{name} BY NAME SELECT * FROM {scan}"
            n = con.execute(sql, {"p": str(path)}).fetchone()[0]
        except duckdb.Error as exc:
            raise _read_error(source, path, exc) from None
        if source.fmt == "csv":
            _raise_csv_rejects(con, source, path)
        spans.append((path, total, n))
        total += n
    columns = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE temp.{name})").fetchall()
    )
    log.info("ingest %s: read %s rows from %s", source.table, f"{total:,}", source.label)
    return RawTable(source.table, name, source, columns, tuple(spans))


def _scan_sql(fmt: str) -> str:
    if fmt == "parquet":
        return "read_parquet($p)"
    # Rejected lines are kept in temp tables so the first one can be reported with its line.
    return (
        "read_csv($p, all_varchar = true, header = true, ignore_errors = true, "
        "store_rejects = true, rejects_table = '_adopt_rejects', rejects_scan = '_adopt_scans')"
    )


def _add_new_columns(con: duckdb.DuckDBPyConnection, name: str, scan: str, path: Path) -> None:
    have = {
        c.lower()
        for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE temp.{name})").fetchall()
    }
    described = con.execute(f"DESCRIBE SELECT * FROM {scan}", {"p": str(path)}).fetchall()
    for col, typ, *_ in described:
        if col.lower() not in have:
            con.execute(f"ALTER TABLE temp.{name} ADD COLUMN {quote(col)} {typ}")


def _raise_csv_rejects(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> None:
    first = con.execute(
        "SELECT line, column_name, error_type, error_message FROM temp._adopt_rejects "
        "ORDER BY line LIMIT 1"
    ).fetchone()
    con.execute("DROP TABLE IF EXISTS temp._adopt_rejects")
    con.execute("DROP TABLE IF EXISTS temp._adopt_scans")
    if first is None:
        return
    line, column, error_type, message = first
    problem = _CSV_PROBLEMS.get(str(error_type), str(message).splitlines()[0])
    raise InputError(source.table, column, problem, row=f"at line {line} of {path.name}")


def _read_error(source: Source, path: Path, exc: duckdb.Error) -> InputError:
    message = str(exc).splitlines()[0]
    if source.fmt == "parquet" and "not valid UTF8" in message:
        column, row = _find_bad_utf8(path)
        return InputError(
            source.table,
            column,
            "text is not valid UTF-8 (write the Parquet strings as UTF-8)",
            row=f"{row} of {path.name}" if row else None,
        )
    return InputError(source.table, None, f"cannot read {path.name}: {message}")


def _find_bad_utf8(path: Path) -> tuple[str | None, int | None]:
    """Find the first string value of a Parquet file that is not UTF-8 (error path only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for field in table.schema:
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        values = table.column(field.name).cast(pa.large_binary(), safe=False).to_pylist()
        for i, value in enumerate(values):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    return field.name, i + 1
    return None, None
