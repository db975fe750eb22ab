"""`adopt run --address ray://...` against a real two-node Ray cluster on loopback.

A head and a worker node, one CPU each, are started with ``ray start`` on free
ports with their own temp dir (stopped by process id). Ray Data cannot run
under Ray Client, so the run drives its stages from a task on the cluster
(`adopt.ray_client`); the embed stage and curve scoring then use Ray Data
actors there, and a bad plan file still ends in one line and exit code 2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PYTHON, RAY, check_plan, free_port, plan_file, ray_env, stop_ray

pytestmark = pytest.mark.slow
ADOPT = str(Path(PYTHON).with_name("adopt"))
_TEMP: list[str] = []  # the running head's temp dir, for its logs in a failure message


def _client_server_logs() -> str:
    """The tails of the head's Ray Client server logs (why a client was refused)."""
    logs = sorted(Path(_TEMP[-1]).glob("session_*/logs/ray_client_server*.err")) if _TEMP else []
    return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-1500:]}" for f in logs)


@pytest.fixture(scope="module")
def client_address() -> Iterator[str]:
    """``ray://`` address of a head plus one worker node (1 CPU each) on 127.0.0.1."""
    temp_dir = tempfile.mkdtemp(prefix="rcl-", dir="/tmp")
    _TEMP.append(temp_dir)
    port, client = free_port(), free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
              "--object-store-memory=200000000"]
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={port}", "--include-dashboard=false",
         f"--temp-dir={temp_dir}", f"--ray-client-server-port={client}", *common],
        env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_nodes(f"127.0.0.1:{port}", 1, head)
        done = subprocess.run(
            [RAY, "start", f"--address=127.0.0.1:{port}", *common,
             f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
             f"--dashboard-agent-listen-port={free_port()}",
             f"--metrics-export-port={free_port()}"],
            env=ray_env(), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        _wait_for_nodes(f"127.0.0.1:{port}", 2, head)
        yield f"ray://127.0.0.1:{client}"
    finally:
        stop_ray(head, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_nodes(gcs: str, count: int, head: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while True:
        assert head.poll() is None, "ray start --head exited"
        done = subprocess.run([RAY, "status", f"--address={gcs}"], env=ray_env(),
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 0 and done.stdout.count("node_") >= count:
            return
        assert time.monotonic() < deadline, f"{count} Ray node(s) did not come up"
        time.sleep(2)


def _run(address: str, workspace: Path, config: Path, world: Path, model: Path,
         run_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ADOPT, "run", "--workspace", str(workspace), "--config", str(config),
         "--data", str(world), "--run-id", run_id, "--embed-model", str(model),
         "--address", address, "--k", "4", "--min-size", "20", "--users-per-segment", "100",
         "--bootstrap", "5", "--max-k", "5"],
        env=ray_env(), capture_output=True, text=True, timeout=900)


def test_every_stage_runs_on_the_cluster_named_by_a_ray_client_address(
        client_address: str, tmp_path: Path, job_world: Path, tiny_bert: Path) -> None:
    done = _run(client_address, tmp_path / "ws", plan_file(tmp_path), job_world, tiny_bert,
                "client")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + _client_server_logs()
    assert "Traceback" not in done.stderr
    manifest = check_plan(tmp_path / "ws", "client")
    assert [s["status"] for s in manifest["stages"]] == ["done"] * 8
    # The stages' log lines come back from the driver task on the cluster...
    assert "(run_pipeline pid=" in done.stdout + done.stderr
    # ...whose Ray is the two-node cluster: curve scoring's "auto" engine chose Ray Data.
    curves = json.loads((tmp_path / "ws" / "curves" / "curves.json").read_text())
    assert curves["scoring"]["engines"] == ["ray"]
    # `adopt embed` alone takes the same road (everything cached by now).
    embed = subprocess.run([ADOPT, "embed", "--workspace", str(tmp_path / "ws"), "--model",
                            str(tiny_bert), "--address", client_address],
                           env=ray_env(), capture_output=True, text=True, timeout=600)
    assert embed.returncode == 0, embed.stderr[-3000:]
    assert "Traceback" not in embed.stderr


def test_a_bad_plan_file_through_ray_client_is_one_line_and_exit_2(
        client_address: str, tmp_path: Path, job_world: Path, tiny_bert: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('budget = -5\nobjective = "conversions"\n')
    done = _run(client_address, tmp_path / "ws", bad, job_world, tiny_bert, "bad")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("adopt: error:")]
    assert len(errors) == 1 and "'budget' parameter" in errors[0], done.stderr[-2000:]
