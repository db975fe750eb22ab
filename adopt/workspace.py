"""The workspace: one folder that holds a planner's world.

Layout: ``warehouse.duckdb``, ``models/``, ``plans/<plan_id>/``, ``reports/``.
Every stage takes a workspace; outputs are replaced atomically.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """Paths of a workspace folder (created on first use)."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root).expanduser().resolve())

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

    def ensure(self) -> Workspace:
        self.root.mkdir(parents=True, exist_ok=True)
        return self


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
