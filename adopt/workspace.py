"""The workspace: one folder that holds a planner's world, and the door to its warehouse.

Layout: ``warehouse.duckdb``, ``models/``, ``curves/``, ``plans/<plan_id>/``,
``reports/``, ``runs/``, ``partitions/``. Every stage takes a `Workspace`; it
knows these folders and opens the warehouse (`Workspace.connect`), so no stage
builds a path or opens DuckDB by hand. Outputs are replaced atomically.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from adopt.exceptions import ParameterError, WorkspaceError

if TYPE_CHECKING:
    import duckdb

INGEST_HINT = "run `adopt ingest DATA_DIR --workspace WS` first"
PROFILES_HINT = "run `adopt profiles --workspace WS` first"
SEGMENT_HINT = "run `adopt segment --workspace WS` first"
EMBED_HINT = "run `adopt embed --workspace WS` first"
_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.I)


@dataclass(frozen=True)
class Workspace:
    """Paths of a workspace folder (created on first use), and its warehouse.

    A `Workspace` is also a path (``os.fspath`` gives its root), so it goes
    wherever a workspace folder does.
    """

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root).expanduser().resolve())

    @classmethod
    def of(cls, workspace: str | os.PathLike[str]) -> Workspace:
        """`workspace` itself when it is a `Workspace`, else the workspace at that path."""
        return workspace if isinstance(workspace, Workspace) else cls(workspace)

    def __fspath__(self) -> str:
        return str(self.root)

    __str__ = __fspath__

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def plans(self) -> Path:
        return self.root / "plans"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def curves(self) -> Path:
        return self.root / "curves"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def partitions(self) -> Path:
        return self.root / "partitions"

    def ensure(self) -> Workspace:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def connect(
        self,
        read_only: bool = False,
        *,
        create: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """Open the warehouse, with UTC as the session time zone.

        Parameters
        ----------
        read_only : bool
            Open without write access (several readers may share the file).
        create : bool
            Create the workspace folder and the warehouse file when they do not
            exist yet (ingest does).
        memory_limit : str, optional
            DuckDB memory limit such as ``"4GB"`` or ``"512MB"`` (beyond it DuckDB
            spills to disk); default DuckDB's, 80% of the machine's memory.
        threads : int, optional
            DuckDB worker threads; default one per core.

        Raises
        ------
        WorkspaceError
            When the warehouse does not exist (and `create` is false), is locked
            by another process, or is not a DuckDB database: one line, never
            DuckDB's own error.
        ParameterError
            When `memory_limit` is not a size or `threads` not a positive integer.
        """
        import duckdb

        config = duckdb_settings(memory_limit, threads)
        if create:
            self.ensure()
        elif not self.warehouse.exists():
            raise WorkspaceError(f"No warehouse at {self.warehouse}: {INGEST_HINT}")
        try:
            con = duckdb.connect(str(self.warehouse), read_only=read_only, config=config)
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            raise WorkspaceError(f"cannot open the warehouse {self.warehouse}: {first}") from None
        # Parquet TIMESTAMPTZ values become UTC wall time, whatever the machine's zone.
        con.execute("SET TimeZone = 'UTC'")
        return con

    def require(self, tables: str | Sequence[str], hint: str,
                con: duckdb.DuckDBPyConnection | None = None) -> None:
        """Raise `WorkspaceError` unless the warehouse has each of `tables`.

        Parameters
        ----------
        tables : str or sequence of str
            Tables or views the caller reads.
        hint : str
            What builds them, e.g. ``"run `adopt segment` first"``; the error
            ends with it.
        con : duckdb.DuckDBPyConnection, optional
            An open connection to the warehouse; default a read-only one,
            opened and closed here.
        """
        names = [tables] if isinstance(tables, str) else list(tables)
        if con is None:
            with self.connect(read_only=True) as own:
                self.require(names, hint, own)
            return
        for name in names:
            if not has_table(con, name):
                raise WorkspaceError(
                    f"The warehouse {self.warehouse} has no table {name!r}: {hint}")


def _umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable read is set-and-restore
    os.umask(mask)
    return mask


def refuse_non_file(target: Path) -> None:
    """Raise `FileExistsError` when `target` exists and is not a regular file (or is a link)."""
    if target.is_symlink():
        kind = "a symbolic link"
    elif not target.exists() or target.is_file():
        return
    else:
        kind = "a folder" if target.is_dir() else "not a regular file"
    raise FileExistsError(errno.EEXIST, f"exists and is {kind}; only a regular file is replaced",
                          str(target))


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` on success.

    A crash inside the block leaves `target` as it was. Only a regular file is
    ever replaced: a `target` that is a symbolic link, a folder, a device or a
    pipe is refused (`FileExistsError`) and left alone.
    """
    target = Path(target)
    refuse_non_file(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; outputs get the usual umask-based mode like any new file.
    tmp_path.chmod(0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def open_duckdb(path: str | os.PathLike[str] | None = None,
                config: dict[str, str | int | bool] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB of adopt's own that is not the warehouse: a scratch file or, without
    `path`, in memory (partition tasks, imports), with UTC as the session time zone."""
    import duckdb

    con = duckdb.connect(":memory:" if path is None else str(path), config=config or {})
    con.execute("SET TimeZone = 'UTC'")
    return con


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when the connected database has a table or view called `name`."""
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_name = $name",
        {"name": name},
    ).fetchall()[0][0])


def duckdb_settings(memory_limit: str | None, threads: int | None) -> dict[str, str | int]:
    """DuckDB settings from checked values (they reach DuckDB as config, never as SQL)."""
    config: dict[str, str | int] = {}
    if memory_limit is not None:
        if not isinstance(memory_limit, str) or not _SIZE.fullmatch(memory_limit.strip()):
            raise ParameterError(
                "The 'memory_limit' parameter must be a size such as '4GB', '512MB' or "
                f"'1.5GiB'. Got {memory_limit!r} instead.")
        config["memory_limit"] = memory_limit.strip()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ParameterError(
                f"The 'threads' parameter must be a positive integer. Got {threads!r} instead.")
        config["threads"] = threads
    return config
