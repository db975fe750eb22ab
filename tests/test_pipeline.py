"""The pipeline runner's mechanics: run ids, manifests, skipping, failures.

Runs the fast stages (ingest, profiles) on a small generated world; the whole
chain runs in tests/jobs and tests/test_demo.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.pipeline import run_pipeline
from adopt.pipeline.runs import Manifest, StageState, default_run_id, folder_fingerprint
from adopt.synth import generate_world

FAST = ["ingest", "profiles"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(out, users=300, ads=12, days=6, seed=5, show_progress=False)
    return out


def _events(ws: Path) -> int:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select count(*) from events").fetchone()[0]


def test_run_writes_a_manifest_with_each_stage(world: Path, tmp_path: Path) -> None:
    run = run_pipeline(tmp_path, None, data_dir=world, stages=FAST)
    manifest = json.loads(run.manifest.path.read_text())
    assert run.manifest.path == tmp_path.resolve() / "runs" / run.run_id / "manifest.json"
    assert manifest["status"] == "done"
    assert [s["name"] for s in manifest["stages"]] == FAST
    assert all(s["status"] == "done" and s["seconds"] >= 0 for s in manifest["stages"])
    assert manifest["stages"][0]["outputs"]["rows_loaded"]["users"] == 300
    assert manifest["params"]["data_dir"] == str(world)
    assert manifest["params"]["creative_metric"] == "conversions"
    assert "ingest" in str(run) and run.run_id in str(run)


def test_the_curves_choose_creatives_for_the_plan_files_objective(world: Path,
                                                                  tmp_path: Path) -> None:
    config = tmp_path / "reach.toml"
    config.write_text('budget = 100.0\nobjective = "reach"\n')
    run = run_pipeline(tmp_path / "ws", config, data_dir=world, stages=FAST)
    assert run.manifest.params["creative_metric"] == "clicks"


def test_default_run_id_is_derived_from_the_inputs(world: Path, tmp_path: Path) -> None:
    first = run_pipeline(tmp_path / "a", None, data_dir=world, stages=FAST)
    second = run_pipeline(tmp_path / "b", None, data_dir=world, stages=FAST)
    other = run_pipeline(tmp_path / "c", None, data_dir=world, stages=FAST, seed=1)
    assert first.run_id == second.run_id != other.run_id
    assert first.run_id.startswith("run-")
    assert default_run_id("ab" * 32) == "run-" + "ab" * 6


def test_the_level_users_key_only_the_curves_and_later_when_changed(world: Path,
                                                                    tmp_path: Path) -> None:
    default = run_pipeline(tmp_path, None, data_dir=world, stages=FAST)
    # the default leaves the run id of runs before the option existed
    same = run_pipeline(tmp_path, None, data_dir=world, stages=FAST, level_users=2000)
    wider = run_pipeline(tmp_path, None, data_dir=world, stages=FAST, level_users=500)
    assert same.run_id == default.run_id != wider.run_id
    keys = [[s.key for s in Manifest.load(tmp_path, r.run_id).stages] for r in (default, wider)]
    assert keys[0] == keys[1]  # ingest and profiles come before the curves
    assert Manifest.load(tmp_path, wider.run_id).params["level_users"] == 500


def test_retry_skips_finished_stages_and_never_duplicates_rows(world: Path,
                                                               tmp_path: Path) -> None:
    first = run_pipeline(tmp_path, None, data_dir=world, stages=FAST, run_id="job-1")
    rows = _events(tmp_path)
    again = run_pipeline(tmp_path, None, data_dir=world, stages=FAST, run_id="job-1")
    # The retry keeps the records of the first attempt and redoes nothing.
    assert again.manifest.attempts == 2
    assert [(s.status, s.attempt) for s in again.manifest.stages] == [("done", 1)] * 2
    assert again.manifest.stage("ingest").seconds == first.manifest.stage("ingest").seconds
    assert again.outputs("ingest") == first.outputs("ingest")
    assert again.results == {}
    assert "(by attempt 1)" in str(again)
    assert _events(tmp_path) == rows
    # Another run on the same inputs reuses the outputs and says whose they are.
    other = run_pipeline(tmp_path, None, data_dir=world, stages=FAST, run_id="job-2")
    assert [(s.status, s.made_by) for s in other.manifest.stages] == [("skipped", "job-1")] * 2
    assert other.results == {}
    assert _events(tmp_path) == rows
    # Forced, every stage reruns; ingest drops the rows already loaded.
    forced = run_pipeline(tmp_path, None, data_dir=world, stages=FAST, run_id="job-1",
                          force=True)
    assert [s.status for s in forced.manifest.stages] == ["done", "done"]
    assert _events(tmp_path) == rows


def test_changed_inputs_rerun_the_stage_and_those_after(world: Path, tmp_path: Path) -> None:
    run_pipeline(tmp_path, None, data_dir=world, stages=FAST)
    # Without input files the run starts from the warehouse: profiles is current.
    current = run_pipeline(tmp_path, None, stages=["profiles"])
    assert current.manifest.stage("profiles").status == "done"
    retry = run_pipeline(tmp_path, None, stages=["profiles"])
    assert retry.run_id == current.run_id and retry.results == {}
    assert (retry.manifest.attempts, retry.manifest.stage("profiles").attempt) == (2, 1)
    changed = tmp_path / "world2"
    generate_world(changed, users=300, ads=12, days=6, seed=6, show_progress=False)
    # another world numbers its impressions from i0 too: new events need ids of their own
    for part in sorted((changed / "events").glob("*.parquet")):
        events = pd.read_parquet(part)
        events["impression_id"] = "w2-" + events["impression_id"]
        events.to_parquet(part, index=False)
    assert folder_fingerprint(changed) != folder_fingerprint(world)
    # Its behaviours fall in the span the warehouse holds for the same users: by
    # default that is refused (a corrected file would double them) ...
    with pytest.raises(InputError, match=r"table 'behaviors', column 'ts', row \d+ of .*"
                       r"--mode replace"):
        run_pipeline(tmp_path, None, data_dir=changed, stages=FAST)
    # ... and replacing the warehouse's input tables takes the changed world alone.
    run = run_pipeline(tmp_path, None, data_dir=changed, stages=FAST, ingest_mode="replace")
    assert [s.status for s in run.manifest.stages] == ["done", "done"]
    assert _events(tmp_path) == sum(len(pd.read_parquet(f))
                                    for f in (changed / "events").glob("*.parquet"))


def test_a_failed_stage_keeps_earlier_outputs_and_is_named(world: Path, tmp_path: Path) -> None:
    bad = tmp_path / "no-such-model"
    with pytest.raises(WorkspaceError, match="no-such-model"):
        run_pipeline(tmp_path, None, data_dir=world, stages=[*FAST, "embed"],
                     embed_model=bad, run_id="broken")
    manifest = Manifest.load(tmp_path, "broken")
    assert manifest.status == "failed"
    statuses = {s.name: s.status for s in manifest.stages}
    assert statuses == {"ingest": "done", "profiles": "done", "embed": "failed"}
    assert "no-such-model" in manifest.stage("embed").error
    state = StageState(tmp_path)
    assert set(state.entries) == {"ingest", "profiles"}
    assert _events(tmp_path) > 0
    # The retry redoes only the stage that failed (it fails again here).
    with pytest.raises(WorkspaceError):
        run_pipeline(tmp_path, None, data_dir=world, stages=[*FAST, "embed"],
                     embed_model=bad, run_id="broken")
    again = Manifest.load(tmp_path, "broken")
    assert again.attempts == 2 and again.status == "failed"
    assert [(s.status, s.attempt) for s in again.stages] == [("done", 1), ("done", 1),
                                                             ("failed", 2)]


def test_a_stage_whose_outputs_vanished_reruns(world: Path, tmp_path: Path) -> None:
    run_pipeline(tmp_path, None, data_dir=world, stages=FAST)
    os.remove(tmp_path / "warehouse.duckdb")
    run = run_pipeline(tmp_path, None, data_dir=world, stages=FAST)
    assert [s.status for s in run.manifest.stages] == ["done", "done"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stages": ["profiles", "nope"]}, "'stages' parameter .* Got"),
        ({"stages": ["ingest"]}, "ingest stage needs the 'data_dir'"),
        ({"stages": ["score"]}, "score stage needs the 'world_dir'"),
        ({"stages": ["plan"]}, "'config' parameter .* plan stage"),
        ({"run_id": "../escape"}, "'run_id' parameter"),
        ({"data_dir": "/no/such/folder"}, "'data_dir' parameter .* does not exist"),
        ({"model": "xgboost"}, "'model' parameter .* 'lightgbm' or 'bert'"),
        ({"ingest_mode": "overwrite"}, "'mode' parameter of run_pipeline must be one of"),
        ({"valid_frac": 0.2, "valid_days": 3}, "split of run_pipeline is given either in days"),
        ({"test_days": 0}, "'test_days' parameter of run_pipeline must be an int >= 1"),
        ({"partitions": 0}, "partitions.*must be an integer from 1"),
    ],
)
def test_bad_arguments_are_refused_before_any_stage(tmp_path: Path, kwargs: dict,
                                                    match: str) -> None:
    with pytest.raises((ParameterError, InputError), match=match):
        run_pipeline(tmp_path, None, **({"stages": ["profiles"]} | kwargs))
    assert not (tmp_path / "runs").exists()


def test_a_bad_plan_file_fails_before_any_stage(world: Path, tmp_path: Path) -> None:
    config = tmp_path / "plan.toml"
    config.write_text('budget = -5\nobjective = "conversions"\n')
    with pytest.raises(InputError, match="budget"):
        run_pipeline(tmp_path / "ws", config, data_dir=world)
    assert not (tmp_path / "ws" / "warehouse.duckdb").exists()


def test_command_line_options_reach_the_runner(world: Path, tmp_path: Path) -> None:
    import argparse

    from adopt.cli.pipeline import add_arguments, run_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--workspace", str(tmp_path), "--data", str(world), "--stages",
                         "ingest,profiles", "--run-id", "cli", "--k", "7", "--bootstrap", "3",
                         "--max-k", "4", "--level-users", "500", "--seed", "9",
                         "--ingest-mode", "replace",
                         "--valid-frac", "0.2"])
    run = run_from_args(args)
    params = Manifest.load(tmp_path, "cli").params
    assert run.run_id == "cli" and [s.name for s in run.manifest.stages] == FAST
    assert (params["k"], params["n_boot"], params["max_k"], params["seed"]) == (7, 3, 4, 9)
    assert params["level_users"] == 500
    assert params["ingest"] == {"mode": "replace", "on_duplicate": "refuse"}
    assert params["split"] == {"valid_frac": 0.2, "test_frac": 0.15, "valid_days": None,
                               "test_days": None}


def test_a_partitioned_run_builds_its_profiles_over_the_partitions(
        world: Path, tmp_path: Path, idle_ray) -> None:
    from adopt.partitions import read_manifest

    run = run_pipeline(tmp_path / "parts", None, data_dir=world, stages=FAST, partitions=2)
    single = run_pipeline(tmp_path / "one", None, data_dir=world, stages=FAST)
    assert read_manifest(tmp_path / "parts")["partitions"] == 2
    assert Manifest.load(tmp_path / "parts", run.run_id).params["ingest"]["partitions"] == 2
    assert run.run_id != single.run_id  # the partition count is part of the ingest key
    query = "select * from training_examples order by all"
    with duckdb.connect(str(tmp_path / "parts" / "warehouse.duckdb"), read_only=True) as con:
        parts = con.execute(query).df()
    with duckdb.connect(str(tmp_path / "one" / "warehouse.duckdb"), read_only=True) as con:
        whole = con.execute(query).df()
    pd.testing.assert_frame_equal(parts, whole, check_dtype=False)

