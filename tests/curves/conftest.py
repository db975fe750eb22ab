"""Fixtures of the curve tests: a small generated world, built and with a quick LightGBM."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from adopt.ingest import ingest
from adopt.profiles import build_profiles
from adopt.response.lgbm import LightGBMResponse
from adopt.response.split import time_split
from adopt.synth import generate_world

RUN_ID = "quick"


def write_audiences(warehouse: Path) -> None:
    """Segments = each user's top category (a stand-in for the audience stage)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create or replace table audiences as select user_id, "
                    "coalesce(top_categories[1], 'none') as segment from user_profiles")


def build_small_workspace(root: Path) -> Path:
    """World (1,500 users, 12 days) -> ingest -> profiles -> audiences -> a quick LightGBM
    saved as ``models/quick``."""
    world = root / "world"
    generate_world(world, users=1500, ads=24, days=12, seed=3, show_progress=False)
    ws = root / "ws"
    ingest(world, ws)
    build_profiles(ws)
    write_audiences(ws / "warehouse.duckdb")
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        examples = con.execute("select * from training_examples order by ts").df()
    split = time_split(examples, valid_days=2, test_days=1)
    model = LightGBMResponse(num_boost_round=40, params={"min_child_samples": 20})
    model.fit(split.train, split.valid).save(ws / "models" / RUN_ID)
    return ws


@pytest.fixture(scope="session")
def small_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built workspace (shared: copy it before changing it); its world is ``../world``."""
    return build_small_workspace(tmp_path_factory.mktemp("curves_world"))


@pytest.fixture
def ws_copy(small_ws: Path, tmp_path: Path) -> Path:
    """A private copy of the small workspace."""
    dest = tmp_path / "ws"
    shutil.copytree(small_ws, dest, ignore=shutil.ignore_patterns("curves", "plans"))
    return dest
