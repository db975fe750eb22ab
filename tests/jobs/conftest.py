"""Fixtures of the job tests: a small world, a tiny BERT, plan files, job commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adopt.synth import generate_world

REPO = Path(__file__).resolve().parents[2]
# What a submitted job does not need: keeps the working-dir upload small.
EXCLUDES = [".venv", ".git", "bench", "docs", "tests", "demo_workspace", "**/__pycache__",
            ".pytest_cache", ".ruff_cache", ".hypothesis"]
PLAN = 'budget = {budget}\nobjective = "conversions"\n\n[[constraints]]\n' \
       'type = "frequency_cap"\ncap = 4\n'


@pytest.fixture(scope="session")
def job_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A world small enough for the whole chain, with conversions in every split."""
    out = tmp_path_factory.mktemp("job_world")
    generate_world(out, users=1500, ads=24, days=14, seed=1, show_progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BertModel with a character vocabulary (fast embed stage)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)},
                      do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder


def plan_file(folder: Path, budget: float = 200.0) -> Path:
    """A plan spec: maximise conversions under `budget` with a frequency cap of 4."""
    path = folder / f"plan_{budget:g}.toml"
    path.write_text(PLAN.format(budget=budget))
    return path


def pipeline_args(workspace: Path, config: Path, world: Path, model: Path,
                  run_id: str) -> list[str]:
    """``python -m jobs.pipeline`` arguments for the small world (absolute paths)."""
    return ["-m", "jobs.pipeline", "--workspace", str(workspace), "--config", str(config),
            "--data", str(world), "--run-id", run_id, "--embed-model", str(model),
            "--k", "4", "--min-size", "20", "--users-per-segment", "100", "--bootstrap", "5",
            "--max-k", "5"]


def check_plan(workspace: Path, run_id: str) -> dict:
    """The run finished; its plan is certified and allocates something."""
    import pandas as pd

    manifest = json.loads((workspace / "runs" / run_id / "manifest.json").read_text())
    assert manifest["status"] == "done", manifest
    plan = Path(next(s for s in manifest["stages"] if s["name"] == "plan")["outputs"]
                ["plan_folder"])
    doc = json.loads((plan / "plan.json").read_text())
    assert doc["certificate"]["certified"], doc["certificate"]
    allocation = pd.read_parquet(plan / "allocation.parquet")
    assert len(allocation) > 0 and allocation["spend"].sum() > 0
    assert (workspace / "runs" / run_id / "report.html").is_file()
    return manifest


PYTHON = sys.executable
RAY = str(Path(PYTHON).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env() -> dict[str, str]:
    """The same environment for `ray start` and the submissions; the venv's python first."""
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1",
                        "TRANSFORMERS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0",
                        "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    return env


def stop_ray(head: subprocess.Popen[bytes], temp_dir: str) -> None:
    """End the head's process group, then any process still using its temp dir.

    By process id: ``ray stop`` would stop every Ray on the machine."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(head.pid, sig)
            head.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    deadline = time.monotonic() + 20
    while (left := using(temp_dir)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(1)


def using(temp_dir: str) -> list[int]:
    """Ids of the processes whose command line names `temp_dir` (Linux /proc)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if temp_dir.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids
