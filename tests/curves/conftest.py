"""Fixtures of the curve tests: a small generated world, built and with a quick LightGBM."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
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


def plan_small_world(root: Path, small_ws: Path, constraints: str = "") -> tuple[Path, Path, Path]:
    """A copy of the small world under `root` with model curves and a conversions plan "t"
    whose budget binds (cap 3 a placement, plus `constraints`, TOML): (world, ws, plan folder)."""
    from adopt.curves import build_curves
    from adopt.plan import make_plan

    shutil.copytree(small_ws.parent, root)
    ws = root / "ws"
    summary = build_curves(ws, run_id=RUN_ID, max_k=4, users_per_segment=40, shape_users=15,
                           n_boot=5, top_creatives=2)
    inv = pd.read_parquet(summary.placements_path).set_index("placement_id")["inventory"]
    cpi = pd.read_parquet(summary.curves_path).groupby("placement_id")["cost_per_impression"]
    budget = round(0.2 * float((inv * cpi.first()).sum()), 2)
    config = root / "plan.toml"
    config.write_text(f'plan_id = "t"\nbudget = {budget}\nobjective = "conversions"\n'
                      '[[constraints]]\ntype = "frequency_cap"\ncap = 3\n' + constraints)
    return root / "world", ws, make_plan(config, workspace=ws).folder
