from __future__ import annotations

import os
import subprocess
import sys

import pytest

from adopt.cli import main
from adopt.exceptions import WorkspaceError
from adopt.workspace import SEGMENT_HINT, Workspace, atomic_path


def test_workspace_paths(tmp_path):
    ws = Workspace(tmp_path / "ws").ensure()
    assert ws.root.is_dir()
    assert ws.warehouse == ws.root / "warehouse.duckdb"
    assert ws.plans.parent == ws.models.parent == ws.root


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"


def test_atomic_path_keeps_previous_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644


def test_require_names_the_table_and_the_hint(tmp_path):
    ws = Workspace(tmp_path)
    with ws.connect(create=True) as con:
        con.execute("create table ads (ad_id varchar)")
        ws.require("ads", "never shown", con)
    ws.require(("ads",), "never shown")  # opens its own read-only connection
    with pytest.raises(WorkspaceError,
                       match=r"warehouse\.duckdb has no table 'audiences': run `adopt segment"):
        ws.require(("ads", "audiences"), SEGMENT_HINT)


def test_a_missing_warehouse_is_one_clear_error(tmp_path):
    with pytest.raises(WorkspaceError, match=r"^No warehouse at .*warehouse\.duckdb: run `adopt "
                                             r"ingest DATA_DIR --workspace WS` first$"):
        Workspace(tmp_path / "nothing").connect(read_only=True)
    assert not (tmp_path / "nothing").exists()


def test_a_locked_warehouse_is_one_line_from_the_cli(tmp_path, capsys):
    ws = Workspace(tmp_path)
    with ws.connect(create=True) as con:
        con.execute("create table audiences (user_id varchar, segment varchar)")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(ws.warehouse)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["curves", "--workspace", str(ws.root)]) == 2
    finally:
        holder.kill()
        holder.wait(timeout=30)
    err = capsys.readouterr().err
    assert err.startswith(f"adopt: error: cannot open the warehouse {ws.warehouse}: ")
    assert err.count("\n") == 1 and "Traceback" not in err


HOLD_LOCK = ("import sys, time, duckdb; con = duckdb.connect(sys.argv[1]); "
             "print('locked', flush=True); time.sleep(60)")
