"""The job entry points run without a cluster: a local Ray starts only where needed."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PYTHON, REPO, check_plan, pipeline_args, plan_file


def _job(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([PYTHON, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


JOBS = ["ingest", "profiles", "embed", "train", "segment", "curves", "plan", "report", "score",
        "actuals", "pipeline"]


@pytest.mark.parametrize("name", JOBS)
def test_every_job_parses_its_arguments(name: str, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(f"jobs.{name}")
    monkeypatch.setattr(sys, "argv", [f"jobs.{name}", "--help"])
    with pytest.raises(SystemExit) as exit_:
        module.main()
    assert exit_.value.code == 0
    assert "--workspace" in capsys.readouterr().out


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    done = _job(["-m", "jobs.pipeline", "--workspace", str(tmp_path),
                 "--config", str(tmp_path / "missing.toml")])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"adopt: error: The 'config' parameter of run_pipeline must be an existing path. "
        f"Got '{tmp_path / 'missing.toml'}', which does not exist."
    )


def test_stage_job_reports_a_missing_warehouse(tmp_path: Path) -> None:
    done = _job(["-m", "jobs.profiles", "--workspace", str(tmp_path)])
    assert done.returncode == 2
    assert done.stderr.strip().startswith("adopt: error:")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "profiles" in done.stderr or "warehouse" in done.stderr


@pytest.mark.slow
def test_pipeline_job_runs_without_a_cluster(tmp_path: Path, job_world: Path,
                                             tiny_bert: Path) -> None:
    ws = tmp_path / "ws"
    args = pipeline_args(ws, plan_file(tmp_path), job_world, tiny_bert, "local-1")
    done = _job(args)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = check_plan(ws, "local-1")
    assert [s["status"] for s in manifest["stages"]] == ["done"] * 8
    assert "run local-1" in done.stdout
    # The same job again: every stage is current, nothing is redone.
    again = _job(args)
    assert again.returncode == 0, again.stderr[-3000:]
    manifest = check_plan(ws, "local-1")
    assert manifest["attempts"] == 2
    assert [(s["status"], s["attempt"]) for s in manifest["stages"]] == [("done", 1)] * 8
    assert "done by attempt 1, outputs current" in again.stderr
