"""Fixtures of the job tests: a small world, a tiny BERT, plan files, job commands."""

from __future__ import annotations

import json
import string
import sys
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
