"""The user-hash partitioned warehouse (adopt.partitions): what ingest --partitions writes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from adopt.cli import main
from adopt.exceptions import ParameterError, WorkspaceError
from adopt.ingest import ingest
from adopt.partitions import (
    check_partitions,
    input_path,
    is_partitioned,
    model_paths,
    read_manifest,
    write_partitions,
)
from adopt.synth import generate_world
from adopt.workspace import Workspace


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(out, users=300, ads=12, days=6, seed=5, show_progress=False)
    return out


@pytest.fixture(scope="module")
def partitioned(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    ingest(world, ws, partitions=4)
    return ws


def _read(files: list[Path]) -> duckdb.DuckDBPyRelation:
    return duckdb.connect().read_parquet([str(f) for f in files])


def test_every_user_and_all_their_rows_are_in_one_partition(partitioned: Path) -> None:
    assert read_manifest(partitioned)["partitions"] == 4
    con = duckdb.connect()
    owner: dict[str, int] = {}
    for k in range(4):
        users = con.execute("select user_id from read_parquet($f)",
                            {"f": str(input_path(partitioned, "users", k))}).fetchall()
        for (user,) in users:
            assert user not in owner
            owner[user] = k
    assert len(owner) == 300
    for table in ("events", "behaviors"):
        total = 0
        for k in range(4):
            rows = con.execute("select user_id, count(*) from read_parquet($f) group by 1",
                               {"f": str(input_path(partitioned, table, k))}).fetchall()
            assert all(owner[user] == k for user, _ in rows)
            total += sum(n for _, n in rows)
        with duckdb.connect(str(partitioned / "warehouse.duckdb"), read_only=True) as wh:
            assert total == wh.execute(f"select count(*) from {table}").fetchone()[0]


def test_dimension_tables_are_written_whole(partitioned: Path) -> None:
    con = duckdb.connect()
    ads = con.execute("select count(*) from read_parquet($f)",
                      {"f": str(input_path(partitioned, "ads"))}).fetchone()[0]
    assert ads == 12
    with pytest.raises(ParameterError, match="'partition' parameter .* is needed"):
        input_path(partitioned, "events")


def test_more_partitions_than_users_leave_empty_but_readable_files(world: Path,
                                                                  tmp_path: Path) -> None:
    ingest(world, tmp_path)
    summary = write_partitions(tmp_path, 400)
    assert summary.rows["users"].count(0) >= 100 and sum(summary.rows["users"]) == 300
    empty = summary.rows["events"].index(0)
    rel = _read([input_path(tmp_path, "events", empty)])
    assert rel.fetchall() == [] and "user_id" in rel.columns


def test_a_later_ingest_rewrites_the_partitions_with_the_same_count(world: Path,
                                                                   tmp_path: Path) -> None:
    ingest(world, tmp_path, partitions=3)
    first = read_manifest(tmp_path)
    summary = ingest(world, tmp_path)  # same rows again: upserts, so the same partitions
    second = read_manifest(tmp_path)
    assert second["partitions"] == 3 and second["ingests"] == first["ingests"] + 1
    assert second["rows"] == first["rows"]
    assert "3 user-hash partitions" in str(summary)


def test_the_count_is_checked_before_any_work(world: Path, tmp_path: Path) -> None:
    for bad in (0, -2, True, 2.5, 10_000):
        with pytest.raises(ParameterError, match="'partitions' parameter"):
            check_partitions(bad)
    with pytest.raises(ParameterError, match="'partitions' parameter"):
        ingest(world, tmp_path / "ws", partitions=0)
    assert not (tmp_path / "ws" / "warehouse.duckdb").exists()


def test_cli_bad_partitions_is_one_line_and_exit_2(world: Path, tmp_path: Path, capsys,
                                                   own_log_handler) -> None:
    code = main(["ingest", str(world), "--workspace", str(tmp_path), "--partitions", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "partitions" in err[0] and "Traceback" not in err[0]


def test_stale_partitions_are_refused(partitioned: Path, tmp_path: Path) -> None:
    from adopt.partitions import check_current

    manifest = read_manifest(partitioned)
    path = Workspace(partitioned).partitions / "manifest.json"
    try:
        path.write_text(json.dumps(manifest | {"ingests": manifest["ingests"] - 1}))
        with duckdb.connect(str(partitioned / "warehouse.duckdb"), read_only=True) as con:
            with pytest.raises(WorkspaceError, match="before the last ingest"):
                check_current(partitioned, con)
    finally:
        path.write_text(json.dumps(manifest))
    assert not is_partitioned(tmp_path)


def test_model_paths_before_a_partitioned_build(partitioned: Path) -> None:
    with pytest.raises(WorkspaceError, match="no partitioned profiles"):
        model_paths(partitioned, "training_examples")
