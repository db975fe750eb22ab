"""Atomicity: a process killed in the middle of its load leaves the previous warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from adopt.workspace import Workspace

EVENTS = 1_000_000  # big enough that writing them takes well over the kill's latency

_GENERATE = """
COPY (SELECT 'u' || i AS user_id FROM range(1000) t(i)) TO 'users.parquet';
COPY (SELECT 'p' || i AS placement_id, 2.0 AS cpm FROM range(3) t(i)) TO 'placements.parquet';
COPY (SELECT 'a' || i AS ad_id, 'c0' AS campaign_id, 'Ad ' || i AS title FROM range(5) t(i))
    TO 'ads.parquet';
COPY (
    SELECT TIMESTAMP '2025-01-01' + to_seconds(i) AS ts, 'u' || (i % 1000) AS user_id,
        'a' || (i % 5) AS ad_id, 'p' || (i % 3) AS placement_id, 'impression' AS event,
        0.002 AS cost, 'x' || i AS impression_id
    FROM range($n) t(i)
) TO 'events.parquet';
"""


def _big_input(folder: Path) -> Path:
    folder.mkdir()
    con = duckdb.connect()
    cwd = os.getcwd()
    os.chdir(folder)  # the COPY targets are relative
    try:
        for statement in filter(str.strip, _GENERATE.split(";")):
            con.execute(statement, {"n": EVENTS} if "$n" in statement else {})
    finally:
        os.chdir(cwd)
        con.close()
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["append", "replace"])
def test_killed_ingest_leaves_the_previous_warehouse(
    tmp_path, loaded_ws, base_checksum, wh_checksum, mode
):
    # In mode replace the kill comes after the warehouse's tables were dropped.
    data = _big_input(tmp_path / "big")
    script = (
        "import sys; from adopt.progress import setup_logging; from adopt.ingest import ingest; "
        "setup_logging(); ingest(sys.argv[1], sys.argv[2], mode=sys.argv[3])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(data), str(loaded_ws), mode],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CI": "1"},  # log lines, no progress bar
    )
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "ingest events: writing" in line:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert not any("committed" in line for line in seen)
    if mode == "replace":
        assert any("mode replace: removed" in line for line in seen)

    # Reopening discards the uncommitted transaction: every table is as before.
    assert wh_checksum(Workspace(loaded_ws).warehouse) == base_checksum
