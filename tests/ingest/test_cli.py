"""`adopt ingest`: a summary on success; on bad input one stderr line and exit code 2."""

from __future__ import annotations

import pytest

from adopt.cli import main
from adopt.workspace import Workspace

pytestmark = pytest.mark.usefixtures("own_log_handler")


def test_cli_ingest_prints_the_summary(world, write, tmp_path, capsys):
    code = main(["ingest", str(write(world)), "--workspace", str(tmp_path / "ws")])
    assert code == 0
    out = capsys.readouterr().out
    assert "events" in out and "events.csv" in out
    assert Workspace(tmp_path / "ws").warehouse.exists()


def test_cli_bad_input_exits_2_with_one_line(world, write, loaded_ws, capsys):
    world["placements"].loc[1, "cpm"] = -3.0
    code = main(["ingest", str(write(world)), "--workspace", str(loaded_ws)])
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        [line for line in err if "error" in line.lower()]
        == err[-1:]
        == [
            "adopt: error: table 'placements', column 'cpm', row 2 of placements.csv "
            "(placement_id 'p1'): -3.0 is below the minimum 0 (cpm cannot be negative)"
        ]
    )


def test_cli_salt_mismatch_exits_2(world, write, tmp_path, capsys):
    data = str(write(world))
    ws = str(tmp_path / "ws")
    assert main(["ingest", data, "--workspace", ws, "--pseudonymize-salt", "a"]) == 0
    assert main(["ingest", data, "--workspace", ws, "--pseudonymize-salt", "b"]) == 2
    assert "pseudonymize_salt differs" in capsys.readouterr().err
