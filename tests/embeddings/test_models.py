"""Finding model folders offline and naming their vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from adopt.embeddings.models import default_model_path, max_seq_length, model_id, resolve_model
from adopt.exceptions import WorkspaceError


def test_default_is_the_bundled_minilm() -> None:
    path = resolve_model(None)
    assert path == default_model_path()
    config = json.loads((path / "config.json").read_text())
    assert config["hidden_size"] == 384 and config["num_hidden_layers"] == 6
    assert max_seq_length(path) == 256  # sentence-transformers' limit, not the 512 positions
    assert model_id(path).startswith("all-MiniLM-L6-v2@")


def test_hub_id_is_refused_without_download() -> None:
    with pytest.raises(WorkspaceError, match="downloads nothing.*--model"):
        resolve_model("sentence-transformers/all-mpnet-base-v2")


def test_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no config.json"):
        resolve_model(tmp_path)


def test_model_id_is_stable_and_follows_the_contents(tiny_model: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_model, tmp_path / "tiny_bert"))
    first = model_id(copy)
    assert model_id(copy) == first
    assert first.startswith("tiny_bert@")
    config = json.loads((copy / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(config))
    assert model_id(copy) != first
