"""The SQL stage over user-hash partitions (adopt.partitioned) against the single-file build.

The main check builds a generated world (2,000 users, 60 ads, 28 days) both ways and
compares every model row by row; the others cover the step split, the merge and the errors.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from adopt.exceptions import WorkspaceError
from adopt.ingest import ingest
from adopt.partitioned import DRIVER_MODELS, PARTIALS, merge_partials, plan_steps
from adopt.partitions import model_paths, read_manifest, write_partitions
from adopt.profiles import build_profiles
from adopt.synth import generate_world
from adopt.warehouse import discover_models, sql_dir

TABLE_LAYERS = ("features", "marts", "serving")  # the models a build writes as tables


def _tables(ws: Path) -> dict[str, str]:
    """Every model that is a table in a single-file build: name -> 'order by' columns."""
    return {m.name: "all" for m in discover_models() if m.layer in TABLE_LAYERS}


def _rows(ws: Path, name: str) -> list[tuple]:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select * from {name} order by all").fetchall()


def _types(ws: Path, name: str) -> list[tuple]:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select column_name, column_type from (describe {name})").fetchall()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A world ingested twice: one workspace built single-file, one over 3 partitions (2,000
    users, 60 ads, 28 days: a third of the demo's users, half its ads and days; every model
    has rows, which the test checks)."""
    folder = tmp_path_factory.mktemp("world")
    generate_world(folder, users=2_000, ads=60, days=28, show_progress=False)
    single = tmp_path_factory.mktemp("single")
    ingest(folder, single)
    parted = tmp_path_factory.mktemp("parted")
    shutil.copy(single / "warehouse.duckdb", parted / "warehouse.duckdb")
    write_partitions(parted, 3)
    return single, parted


@pytest.mark.slow
def test_partitioned_build_equals_the_single_file_build_row_by_row(world, ray_session) -> None:
    single, parted = world
    one = build_profiles(single, threads=2)
    many = build_profiles(parted, memory_limit="512MB")  # partitioned: the workspace has some
    assert one.partitions is None and many.partitions == 3
    assert one.rows == many.rows and one.as_of == many.as_of
    assert set(many.step_seconds) == {"partition", "merge", "final", "publish"}
    assert len(many.peak_rss["partition"]) == 3
    for name in _tables(single):
        assert _types(parted, name) == _types(single, name), name
        rows = _rows(single, name)
        assert rows, f"{name} is empty: the world is too small to compare it"
        assert _rows(parted, name) == rows, name
    for name in ("stg_events", "stg_users", "build_params"):
        assert _rows(parted, name) == _rows(single, name), name
    # The stages after read the marts' files in parallel: one file per partition.
    files = model_paths(parted, "training_examples")
    assert [f.name for f in files] == [f"part-0000{k}.parquet" for k in range(3)]
    con = duckdb.connect()
    users = [set(con.read_parquet(str(f)).project("user_id").fetchall()) for f in files]
    assert not (users[0] & users[1]) and not (users[1] & users[2])
    assert model_paths(parted, "ad_history")[0].name == "ad_history.parquet"
    assert read_manifest(parted)["models"]["training_examples"] == 3
    # Back to the single-file build on the same workspace: tables again, same rows.
    build_profiles(parted, partitioned=False, threads=2)
    assert _rows(parted, "user_profiles") == _rows(single, "user_profiles")
    with pytest.raises(WorkspaceError, match="no partitioned profiles"):
        model_paths(parted, "training_examples")  # no stale files for the next stages


def test_the_steps_split_the_models() -> None:
    steps = plan_steps()
    names = {step: {m.name for m in models if m.layer in TABLE_LAYERS}
             for step, models in steps.items()}
    assert names["driver"] == set(DRIVER_MODELS)
    assert names["final"] == {"training_examples", "user_profiles", "serving_users",
                              "serving_user_categories"}
    assert set(PARTIALS) <= names["partition"]
    assert "int_impressions" in names["partition"] and "ad_history" not in names["partition"]
    every = {m.name for m in discover_models() if m.layer in TABLE_LAYERS}
    assert names["partition"] | names["driver"] | names["final"] == every


def test_a_driver_model_that_reads_one_partitions_rows_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "sql"
    shutil.copytree(sql_dir(), root)
    path = root / "marts" / "ad_history.sql"
    path.write_text(path.read_text().replace(
        "select * from int_ad_placement_totals",
        "select * from int_ad_placement_totals where ad_id in (select ad_id from int_impressions)"))
    with pytest.raises(WorkspaceError, match="'ad_history' .* reads 'int_impressions'"):
        plan_steps(discover_models(root))


def test_merging_partials_adds_exactly_and_keeps_types() -> None:
    con = duckdb.connect()
    con.execute("create table t as select 'a1' as ad_id, 'p1' as placement_id, 'c1' as "
                "campaign_id, 3::bigint as impressions, 0.1::decimal(38, 12) as spend, "
                "timestamp '2024-01-02' as first_seen, timestamp '2024-01-02' as last_seen, "
                "1::bigint as clicks, 0::bigint as conversions, 0::decimal(38, 12) as revenue")
    part = con.sql("select * from t").to_arrow_table()
    later = con.sql("select * replace (timestamp '2024-01-05' as last_seen, "
                    "0.2::decimal(38, 12) as spend, null as campaign_id) from t"
                    ).to_arrow_table()
    merge_partials(con, "int_ad_placement_totals", [part, later, part])
    row = con.execute("select campaign_id, impressions, spend, first_seen, last_seen, clicks "
                      "from int_ad_placement_totals").fetchall()
    assert row == [("c1", 9, Decimal("0.4"), *row[0][3:5], 3)]  # exact, not 0.4000000001
    assert str(row[0][4]) == "2024-01-05 00:00:00" and str(row[0][3]) == "2024-01-02 00:00:00"
    types = dict(con.execute("select column_name, column_type from "
                             "(describe int_ad_placement_totals)").fetchall())
    assert types["impressions"] == "BIGINT" and types["spend"] == "DECIMAL(38,12)"
    with pytest.raises(WorkspaceError, match="does not say how to merge"):
        merge_partials(con, "int_population_totals",
                       [pa.table({"impressions": [1], "clicks": [0], "conversions": [0],
                                  "odd": [1]})])


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("small_world")
    generate_world(world, users=300, ads=12, days=6, seed=5, show_progress=False)
    ws = tmp_path_factory.mktemp("small_ws")
    ingest(world, ws)
    return ws


def test_building_over_partitions_needs_them(small: Path) -> None:
    with pytest.raises(WorkspaceError, match="no partitions"):
        build_profiles(small, partitioned=True)


def test_a_task_no_node_can_hold_is_refused_not_left_waiting(small: Path, tmp_path: Path,
                                                            ray_session) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(small, ws)
    write_partitions(ws, 2)
    with pytest.raises(WorkspaceError, match="no Ray node can run a partition task"):
        build_profiles(ws, threads=64)
    with pytest.raises(WorkspaceError, match="no Ray node can run a partition task"):
        build_profiles(ws, memory_limit="100TB")


@pytest.mark.slow
def test_the_plan_made_from_either_build_is_the_same(tmp_path: Path, ray_session) -> None:
    import pandas as pd

    from adopt.pipeline import run_pipeline

    world = tmp_path / "world"
    generate_world(world, users=1500, ads=24, days=14, seed=1, show_progress=False)
    spec = tmp_path / "plan.toml"
    spec.write_text('budget = 200\nobjective = "conversions"\n\n'
                    '[[constraints]]\ntype = "frequency_cap"\ncap = 4\n')
    plans = {}
    for name, partitions in (("single", None), ("parted", 3)):
        ingest(world, tmp_path / name, partitions=partitions)
        run = run_pipeline(tmp_path / name, spec,
                           stages=["profiles", "train", "segment", "curves", "plan"],
                           k=4, min_size=20, users_per_segment=100, n_boot=5)
        plans[name] = Path(run.manifest.stages[-1].outputs["plan_folder"])
    assert (tmp_path / "parted" / "partitions" / "models" / "training_examples").is_dir()
    single, parted = (pd.read_parquet(plans[n] / "allocation.parquet") for n in plans)
    assert len(single) > 0
    # The same cells and amounts; model scores agree to the last bits of a float sum.
    pd.testing.assert_frame_equal(parted, single, check_exact=False, rtol=1e-9)
