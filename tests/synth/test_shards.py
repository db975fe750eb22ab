"""`generate_world(shards=N)`: user-sharded part files with the same rows as unsharded ones."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from adopt.exceptions import ParameterError
from adopt.synth import generate_world

SMALL = {"users": 300, "ads": 12, "days": 5, "seed": 4}


def _rows(files: list[Path]) -> list[tuple]:
    return duckdb.connect().read_parquet([str(f) for f in files]).order("all").fetchall()


def test_each_file_holds_one_shard_and_the_rows_are_the_same(tmp_path: Path) -> None:
    generate_world(tmp_path / "plain", show_progress=False, **SMALL)
    generate_world(tmp_path / "sharded", shards=3, part_rows=2_000, show_progress=False, **SMALL)
    for table in ("events", "behaviors"):
        files = sorted((tmp_path / "sharded" / table).glob("*.parquet"))
        assert {f.name[:11] for f in files} == {"shard-00000", "shard-00001", "shard-00002"}
        for f in files:
            shard = int(f.name[6:11])
            users = duckdb.connect().read_parquet(str(f)).project("user_id").distinct().fetchall()
            assert users and all((int(u[1:]) - 1) % 3 == shard for (u,) in users)
        assert _rows(files) == _rows(sorted((tmp_path / "plain" / table).glob("*.parquet")))


def test_bad_shards_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="'shards'"):
        generate_world(tmp_path, shards=0, show_progress=False, **SMALL)
