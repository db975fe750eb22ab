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
from adopt.schema import TABLES, TableSpec

log = logging.getLogger("adopt")

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
# Most extra (non-contract) columns one table may bring: each becomes a permanent
# warehouse column, and thousands of them make ingest crawl.
MAX_EXTRA_COLUMNS = 200
CSV_DELIMITERS = (",", ";", "\t", "|")
_CSV_PROBLEMS = {
    "INVALID ENCODING": "text is not valid UTF-8 (save the file as UTF-8)",
    "TOO MANY COLUMNS": "the line has more fields than the header",
    "MISSING COLUMNS": "the line has fewer fields than the header",
    "UNQUOTED VALUE": "a quoted value is not closed (unterminated '\"'); fix the quoting",
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
    skipped: tuple[str, ...] = ()  # hidden files (dot-files) of the folder, not read

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
    # Dot-files (macOS `._part-1.csv` resource forks, editor backups) are never data.
    hidden = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and _format_of(p) and not p.name.startswith(".")
    )
    formats = {_format_of(p) for p in files}
    if not files:
        raise InputError(
            name, None, f"table is empty: folder {folder} has no .parquet or .csv files"
        )
    if len(formats) > 1:
        raise InputError(name, None, f"folder {folder} mixes CSV and Parquet files; use one format")
    if hidden:
        log.info("ingest %s: skipped %d hidden file(s) in %s", name, len(hidden), folder)
    return Source(name, tuple(files), formats.pop(), folder=True, skipped=tuple(hidden))


def read_raw(con: duckdb.DuckDBPyConnection, source: Source) -> RawTable:
    """Read every file of `source`, in order, into the temp table `_raw_<table>`.

    The table is created with the union of the files' columns at once; columns
    missing from some files of a folder are NULL in their rows.

    Raises
    ------
    InputError
        A file cannot be read: malformed CSV lines, unterminated quotes, text
        that is not UTF-8, more than `MAX_EXTRA_COLUMNS` extra columns.
    """
    name = f"_raw_{source.table}"
    con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    scans = [(path, _scan_sql(source.fmt, path)) for path in source.files]
    columns: dict[str, tuple[str, str]] = {}  # lower name -> (name, type), first file wins
    for path, scan in scans:
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {scan}", {"p": str(path)}).fetchall()
        except duckdb.Error as exc:
            raise _read_error(source, path, exc) from None
        for col, typ, *_ in described:
            columns.setdefault(col.lower(), (col, typ))
    _check_columns(TABLES[source.table], [c for c, _ in columns.values()], source)
    cols = ", ".join(f"{quote(c)} {t}" for c, t in columns.values())
    con.execute(f"CREATE TEMP TABLE {name} ({cols})")
    spans: list[tuple[Path, int, int]] = []
    total = 0
    for path, scan in scans:
        try:
            n = con.execute(
                f"INSERT INTO temp.{name} BY NAME SELECT * FROM {scan}", {"p": str(path)}
            ).fetchone()[0]
        except duckdb.Error as exc:
            raise _read_error(source, path, exc) from None
        if source.fmt == "csv":
            _raise_csv_rejects(con, source, path)
        spans.append((path, total, n))
        total += n
    log.info("ingest %s: read %s rows from %s", source.table, f"{total:,}", source.label)
    return RawTable(source.table, name, source, {c: t for c, t in columns.values()}, tuple(spans))


def _check_columns(spec: TableSpec, columns: list[str], source: Source) -> None:
    """Refuse column names with control characters and more than MAX_EXTRA_COLUMNS extras."""
    for col in columns:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in col):
            shown = col.encode("unicode_escape").decode("ascii")
            raise InputError(
                spec.name,
                shown,
                "column name contains a control character (tab, newline, NUL...); rename it",
            )
    contract = {c.name.lower() for c in spec.columns}
    extras = [c for c in columns if c.lower() not in contract]
    if len(extras) > MAX_EXTRA_COLUMNS:
        raise InputError(
            spec.name,
            extras[MAX_EXTRA_COLUMNS],
            f"{source.label} has {len(extras):,} extra columns; at most {MAX_EXTRA_COLUMNS} "
            "are kept as attributes (drop the others)",
        )


def _scan_sql(fmt: str, path: Path) -> str:
    if fmt == "parquet":
        return "read_parquet($p)"
    # The dialect is fixed (delimiter from the header, '"' quotes) so that an
    # unterminated quote is an error instead of a value such as '"n0003'.
    # Rejected lines are kept in temp tables so the first one can be reported with its line.
    delim = _delimiter(path).replace("\t", "\\t")
    return (
        f"read_csv($p, all_varchar = true, header = true, delim = '{delim}', quote = '\"', "
        "escape = '\"', strict_mode = true, ignore_errors = true, "
        "store_rejects = true, rejects_table = '_adopt_rejects', rejects_scan = '_adopt_scans')"
    )


def _open_text(path: Path):
    import gzip

    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _delimiter(path: Path) -> str:
    """The delimiter of a CSV file: the candidate found most often in its header line."""
    try:
        with _open_text(path) as f:
            header = f.readline()
    except OSError:
        return ","
    counts = {d: header.count(d) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _find_bad_quote(path: Path) -> tuple[int, int] | None:
    """(data row, line) where an unterminated quote starts (error path only)."""
    import csv

    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=_delimiter(path), strict=True)
        row = 0
        start = 1
        try:
            for _ in reader:
                row += 1
                start = reader.line_num + 1
        except csv.Error:
            return max(row, 1), start
    return None


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
    if source.fmt == "csv":
        bad = _find_bad_quote(path)
        if bad is not None:
            row, line = bad
            return InputError(
                source.table,
                None,
                "a quoted value is not closed (unterminated '\"'); fix the quoting",
                row=f"{row} of {path.name} (line {line})",
            )
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
