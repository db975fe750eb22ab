"""Harness for the adversarial ingest corpus.

A tiny valid input folder (users, placements, campaigns, ads, events,
behaviors; a few rows each, as CSV text); the fixtures `run_cli` (runs
`adopt` in-process and returns (exit code, stdout, stderr)) and `fingerprint`
(of a workspace's warehouse). One good warehouse is loaded per session; each
case gets its own copy.

stderr is what a user sees at the default log level minus adopt's INFO
progress lines: the handler `run_cli` installs passes warnings and errors.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import traceback
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import duckdb
import pytest

VALID: dict[str, str] = {
    "users.csv": (
        "user_id,age_band,signup_ts\n"
        "u1,18-24,2023-01-10 08:00:00\n"
        "u2,25-34,2023-02-11 09:00:00\n"
        "u3,35-44,2023-03-12 10:00:00\n"
        "u4,25-34,2023-04-13 11:00:00\n"
    ),
    "placements.csv": (
        "placement_id,cpm,name,daily_inventory\np1,2.5,home,1000\np2,4.0,search,500\n"
    ),
    "campaigns.csv": (
        "campaign_id,budget,start,end,objective\n"
        "c1,1000,2024-05-01,2024-06-01,clicks\n"
        "c2,500,2024-05-01,2024-06-30,conversions\n"
    ),
    "ads.csv": (
        "ad_id,campaign_id,title,price\n"
        "a1,c1,Red shoes,59.0\n"
        "a2,c2,Green tea,7.0\n"
        "a3,c2,Teapot,25.0\n"
    ),
    "events.csv": (
        "ts,user_id,ad_id,placement_id,event,cost,revenue,impression_id\n"
        "2024-05-02 10:00:00,u1,a1,p1,impression,0.002,0,i1\n"
        "2024-05-02 10:00:30,u1,a1,p1,click,0,0,i1\n"
        "2024-05-02 10:05:00,u1,a1,p1,conversion,0,30,i1\n"
        "2024-05-02 11:00:00,u2,a2,p2,impression,0.004,0,i2\n"
        "2024-05-03 09:00:00,u3,a3,p1,impression,0.002,0,i3\n"
        "2024-05-03 09:01:00,u3,a3,p1,click,0,0,i3\n"
        "2024-05-04 12:00:00,u4,a2,p2,impression,0.004,0,i4\n"
    ),
    "behaviors.csv": (
        "ts,user_id,action,text\n"
        "2024-04-30 10:00:00,u1,search,running shoes\n"
        "2024-04-30 11:00:00,u2,view,tea\n"
    ),
}


def write_valid(folder: Path) -> Path:
    """Write the valid input folder and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in VALID.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _fingerprint(ws: Path) -> str | None:
    """sha256 over every table of the workspace's warehouse: names, columns, types, sorted rows."""
    warehouse = Path(ws) / "warehouse.duckdb"
    if not warehouse.exists():
        return None
    digest = hashlib.sha256()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() ORDER BY ALL"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            columns = con.execute(f"DESCRIBE {name}").fetchall()
            digest.update(repr((schema, table, columns)).encode())
            for row in con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall():
                digest.update(repr(row).encode())
    finally:
        con.close()
    return digest.hexdigest()


def _run_cli(args: Sequence[str]) -> tuple[int, str, str]:
    """Run `adopt ARGS` in-process: (exit code, stdout, stderr).

    Warnings and errors of the `adopt` logger go to the captured stderr (INFO
    progress does not); an unexpected exception becomes its traceback on
    stderr and exit code 1, as the real command would show it.
    """
    from adopt.cli import main

    out, err = io.StringIO(), io.StringIO()
    logger = logging.getLogger("adopt")
    saved = logger.handlers[:], logger.level
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)
    logger.handlers[:] = [handler]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:  # noqa: BLE001 - shown as the user would see it
                traceback.print_exc()
                code = 1
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def good_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding one good load of the valid folder (read it; copy before changing)."""
    root = tmp_path_factory.mktemp("adversarial")
    code, _, err = _run_cli(
        ["ingest", str(write_valid(root / "input")), "--workspace", str(root / "ws")]
    )
    assert code == 0, err
    return root / "ws"


@pytest.fixture(scope="session")
def good_fingerprint(good_ws: Path) -> str | None:
    return _fingerprint(good_ws)


@pytest.fixture
def loaded_ws(good_ws: Path, tmp_path: Path) -> Path:
    """This test's own copy of the good workspace."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(good_ws / "warehouse.duckdb", ws / "warehouse.duckdb")
    return ws


@pytest.fixture
def valid_input(tmp_path: Path) -> Path:
    """This test's own copy of the valid input folder."""
    return write_valid(tmp_path / "input")


@pytest.fixture(scope="session")
def run_cli() -> Callable[[Sequence[str]], tuple[int, str, str]]:
    """`run_cli(args) -> (code, stdout, stderr)`: `adopt ARGS` in-process."""
    return _run_cli


@pytest.fixture(scope="session")
def fingerprint() -> Callable[[Path], str | None]:
    """`fingerprint(ws)`: sha256 of every table of the workspace's warehouse."""
    return _fingerprint
