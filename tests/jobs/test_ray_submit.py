"""Submit the pipeline as a Ray job to a real local Ray head on loopback.

The head runs as ``ray start --head --block`` in its own process group on
free ports with its own temp dir, so it never meets another local Ray; the
finaliser ends that process group and any process left under its temp dir,
by process id (``ray stop`` would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    EXCLUDES,
    PYTHON,
    RAY,
    REPO,
    check_plan,
    free_port,
    pipeline_args,
    plan_file,
    ray_env,
    stop_ray,
)

pytestmark = pytest.mark.slow
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    """A Ray head on 127.0.0.1 (2 CPUs, dashboard on); yields the job API address."""
    temp_dir = tempfile.mkdtemp(prefix="h5ray-", dir="/tmp")
    port, dash = free_port(), free_port()
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--num-cpus=2",
         "--include-dashboard=true", f"--temp-dir={temp_dir}",
         f"--ray-client-server-port={free_port()}",
         f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats"],
        env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert head.poll() is None, "ray start --head exited"
            try:
                with urllib.request.urlopen(f"{address}/api/version", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Ray dashboard did not come up"
            time.sleep(2)
        yield address
    finally:
        stop_ray(head, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def job_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ray_job_ws")


def _wait(client, job_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while (status := str(client.get_job_status(job_id).value)) not in TERMINAL:
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(2)
    return status


def test_submit_with_the_ray_cli(dashboard: str, job_ws: Path, job_world: Path,
                                 tiny_bert: Path) -> None:
    args = pipeline_args(job_ws / "ws", plan_file(job_ws), job_world, tiny_bert, "cli-run")
    done = subprocess.run(
        [RAY, "job", "submit", "--address", dashboard, "--working-dir", ".",
         "--runtime-env-json", json.dumps({"excludes": EXCLUDES}), "--", "python", *args],
        cwd=REPO, env=ray_env(), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "succeeded" in done.stdout.lower()
    assert f"job python: {PYTHON}" in done.stdout
    manifest = check_plan(job_ws / "ws", "cli-run")
    assert [s["status"] for s in manifest["stages"]] == ["done"] * 8


def test_submit_with_the_job_client(dashboard: str, job_ws: Path, job_world: Path,
                                    tiny_bert: Path) -> None:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(dashboard)
    # A new budget on the same workspace: only the plan and the report are redone.
    args = pipeline_args(job_ws / "ws", plan_file(job_ws, budget=120.0), job_world, tiny_bert,
                         "client-run")
    job = client.submit_job(entrypoint=" ".join(["python", *args]),
                            runtime_env={"working_dir": str(REPO), "excludes": EXCLUDES})
    status = _wait(client, job)
    assert status == "SUCCEEDED", client.get_job_logs(job)[-4000:]
    manifest = check_plan(job_ws / "ws", "client-run")
    statuses = {s["name"]: s["status"] for s in manifest["stages"]}
    assert statuses["plan"] == statuses["report"] == "done"
    assert statuses["ingest"] == statuses["train"] == "skipped"


def test_a_failing_job_surfaces_as_failed_with_its_error(dashboard: str, job_ws: Path,
                                                        job_world: Path,
                                                        tiny_bert: Path) -> None:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(dashboard)
    bad = job_ws / "bad.toml"
    bad.write_text('budget = -5\nobjective = "conversions"\n')
    args = pipeline_args(job_ws / "bad_ws", bad, job_world, tiny_bert, "bad-run")
    job = client.submit_job(entrypoint=" ".join(["python", *args]),
                            runtime_env={"working_dir": str(REPO), "excludes": EXCLUDES})
    assert _wait(client, job, timeout=300) == "FAILED"
    logs = client.get_job_logs(job)
    assert "adopt: error: table 'bad.toml'" in logs and "'budget' parameter" in logs
    assert "exit code 2" in (client.get_job_info(job).message or "")
    # The CLI's submission of the same bad job fails too.
    done = subprocess.run(
        [RAY, "job", "submit", "--address", dashboard, "--working-dir", ".",
         "--runtime-env-json", json.dumps({"excludes": EXCLUDES}), "--", "python", *args],
        cwd=REPO, env=ray_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    assert "'budget' parameter" in done.stdout + done.stderr
