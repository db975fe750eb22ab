"""The streaming import engine: publisher files in, through a scratch database, Parquet out.

Every importer works the same way, with bounded memory whatever the size of the
source: DuckDB reads the CSV/TSV files as text (streaming), a `guard` filter
checks each row while it streams, typed rows land in a scratch DuckDB file
(which spills to disk past the memory limit), and mapping queries stream from
there into Parquet part files through Arrow record batches. A bad row stops
the import; a second, error-only pass then finds the first bad row and raises
an `InputError` naming the file, the column, the data row (1-based, header not
counted) and what is allowed. Output is written to a temporary folder beside
the target and renamed into place, so a failed import leaves the previous
output as it was.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adopt.exceptions import InputError, ParameterError
from adopt.importers.common import PART_ROWS, Check, guard
from adopt.workspace import open_duckdb

log = logging.getLogger("adopt")

_BATCH_ROWS = 100_000


class Scratch:
    """A scratch DuckDB file plus the output folder being written.

    Use through `scratch(out)`. Tables staged here spill to disk, so joins and
    distincts over tens of millions of rows stay within `memory_limit`.
    """

    def __init__(self, work: Path, memory_limit: str, part_rows: int = PART_ROWS) -> None:
        self.work = work
        self.part_rows = part_rows
        # Settings go through `config` or bound parameters, not SQL text: the
        # paths derive from the user's.
        config = {"preserve_insertion_order": True, "temp_directory": str(work / "_spill")}
        self.con = open_duckdb(work / "_scratch.duckdb", config=config)
        # DuckDB's own bar would interleave with adopt's log lines.
        self.con.execute("set enable_progress_bar = false")
        try:
            self.con.execute("set memory_limit = $m", {"m": memory_limit})
        except duckdb.Error as exc:
            self.con.close()
            raise ParameterError(
                f"The 'memory_limit' parameter of import_dataset must be a size like '2GB'. "
                f"Got {memory_limit!r} instead ({_reader_problem(exc)})."
            ) from None
        self.params: dict[str, object] = {}
        self.filtered = 0
        self._n = 0

    def scan(self, path: Path, columns: Sequence[str], *, delim: str, header: bool) -> str:
        """SQL of a text scan of `path` with a 1-based row number `_row`.

        The path is bound as a parameter (see `params`); `columns` are the
        publisher's fixed column names, in file order.
        """
        self._n += 1
        self.params[f"p{self._n}"] = str(path)
        cols = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
        # The publishers' TSV files do not quote: there a stray '"' is text.
        sep, quote = ("\\t", "''") if delim == "\t" else (delim, "'\"'")
        return (
            f"(select row_number() over () as _row, * from read_csv($p{self._n}, "
            f"delim = '{sep}', quote = {quote}, escape = {quote}, "
            f"header = {str(header).lower()}, columns = {{{cols}}}, auto_detect = false))"
        )

    def stage(
        self,
        table: str,
        select: str,
        source: str,
        path: Path,
        checks: Sequence[Check],
        extra_params: dict[str, object] | None = None,
    ) -> int:
        """Create scratch table `table` as `select ... from source` where every check holds.

        A failing row (or an unreadable line) raises an `InputError` naming
        `path`, the column and the row. Returns the number of rows staged.
        """
        started = time.perf_counter()
        sql = f"create or replace table {table} as select {select} from {source} as s"
        if checks:
            sql += f" where {guard(checks)}"
        self.run(sql, path, source, checks, extra_params)
        n = self.count(table)
        log.info("import: read %s, %s rows in %.1fs", path.name, f"{n:,}", _since(started))
        return n

    def run(
        self,
        sql: str,
        path: Path,
        source: str,
        checks: Sequence[Check],
        extra_params: dict[str, object] | None = None,
    ) -> None:
        """Execute `sql`, turning a failure into an `InputError` about `path`."""
        try:
            self.con.execute(sql, self._bound(sql, extra_params))
        except duckdb.Error as exc:
            raise self.diagnose(path, source, checks, exc) from None

    def diagnose(
        self, path: Path, source: str, checks: Sequence[Check], exc: Exception
    ) -> InputError:
        """The `InputError` for the first row of `source` that breaks one of `checks`."""
        for check in checks:
            sql = f"select _row, {check.column} from {source} as s where {check.bad} limit 1"
            try:
                hit = self.first(sql)
            except duckdb.Error:
                break
            if hit is not None:
                row, value = hit
                return InputError(
                    path.name, check.column, f"{check.allowed}; got {value!r}", int(row)
                )
        return InputError(path.name, None, f"cannot read the file: {_reader_problem(exc)}")

    def first(self, sql: str, params: dict[str, object] | None = None) -> tuple | None:
        """The first row of `sql` (None when empty), with the result fully consumed."""
        # DuckDB keeps a half-read result open and then refuses the next statement.
        rows = self.con.execute(sql, self._bound(sql, params)).fetchall()
        return rows[0] if rows else None

    def count(self, table: str) -> int:
        """Rows in scratch table `table`."""
        return int(self.first(f"select count(*) from {table}")[0])

    def scalar(self, sql: str, params: dict[str, object] | None = None) -> object:
        """The single value of `sql`."""
        return self.first(sql, params)[0]

    def write(
        self,
        table: str,
        sql: str,
        params: dict[str, object] | None = None,
        *,
        keep: str | None = None,
        source: tuple[Path, str, Sequence[Check]] | None = None,
    ) -> int:
        """Stream the rows of `sql` into ``<out>/<table>/part-NNNNN.parquet``.

        Parameters
        ----------
        table : str
            Contract table name (the output sub-folder).
        sql, params : str, dict
            The query and its bound parameters.
        keep : str, optional
            A boolean column of the query: rows where it is false are counted
            in `self.filtered` instead of written, and the column is not written.
        source : (path, scan SQL, checks), optional
            When the query reads a source file directly, a failure is
            diagnosed against it and raised as an `InputError`.

        Returns
        -------
        int
            Rows written; an empty result writes no file.
        """
        self.filtered, started = 0, time.perf_counter()
        try:
            reader = self.con.sql(sql, params=self._bound(sql, params)).to_arrow_reader(
                min(_BATCH_ROWS, self.part_rows)
            )
            n = self._write_parts(self.work / "out" / table, reader, keep)
            log.info("import: wrote %s, %s rows in %.1fs", table, f"{n:,}", _since(started))
            return n
        except duckdb.Error as exc:
            if source is None:
                raise
            raise self.diagnose(*source, exc) from None

    def _write_parts(self, folder: Path, reader: pa.RecordBatchReader, keep: str | None) -> int:
        written, part, in_part = 0, 0, 0
        writer: pq.ParquetWriter | None = None
        try:
            for batch in reader:
                if keep is not None:
                    mask = batch.column(keep)
                    self.filtered += batch.num_rows - (pc.sum(mask).as_py() or 0)
                    batch = batch.filter(mask).drop_columns([keep])
                if batch.num_rows == 0:
                    continue
                if writer is None or in_part >= self.part_rows:
                    if writer is not None:
                        writer.close()
                    folder.mkdir(parents=True, exist_ok=True)
                    path = folder / f"part-{part:05d}.parquet"
                    writer = pq.ParquetWriter(path, batch.schema, compression="zstd")
                    part, in_part = part + 1, 0
                writer.write_batch(batch)
                in_part += batch.num_rows
                written += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        return written

    def _bound(self, sql: str, extra: dict[str, object] | None = None) -> dict[str, object]:
        # DuckDB refuses named parameters that the statement does not use.
        merged = {**self.params, **(extra or {})}
        return {k: v for k, v in merged.items() if f"${k}" in sql}


def _since(started: float) -> float:
    return time.perf_counter() - started


def _reader_problem(exc: Exception) -> str:
    """The useful part of a DuckDB reader error: the file line and what is wrong there."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if line and counts:
        return f"line {line[1]} has {counts[2]} fields, expected {counts[1]}"
    lines = [t.strip() for t in text.splitlines() if t.strip()]
    if line:
        # DuckDB's second line echoes the raw line; the third says what is wrong.
        detail = next((t for t in lines[1:] if not t.startswith("Original Line")), "")
        return f"line {line[1]}: {detail}"
    return lines[0] if lines else type(exc).__name__


@contextmanager
def scratch(
    out: str | os.PathLike[str], memory_limit: str = "2GB", part_rows: int = PART_ROWS
) -> Iterator[Scratch]:
    """A `Scratch` writing beside `out`; on success its tables replace `out`.

    `out` is replaced as a whole (the old folder is removed only after the new
    one is complete); on failure `out` is left as it was.
    """
    out = Path(out).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    try:
        s = Scratch(work, memory_limit, part_rows)
        try:
            yield s
        finally:
            s.con.close()
        _swap(work / "out", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _swap(new: Path, out: Path) -> None:
    """Put folder `new` at `out`; the old `out` is removed only once `new` is in place."""
    new.mkdir(exist_ok=True)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(new, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
