"""Run ids, run manifests and the workspace's stage state, for the pipeline runner.

`adopt.pipeline.run_pipeline` runs the stages under a run id. Two files record
what happened, both written atomically (temporary name, then rename):

- ``WS/runs/<run_id>/manifest.json``: this run's stages in order, each with its
  status (``pending``, ``running``, ``done``, ``skipped``, ``failed``), the key
  of its inputs, start time, seconds, outputs (paths and key figures) and error.
  A retry of the run (same run id) counts ``attempts``; a stage an earlier
  attempt finished keeps its record (``done``, with the ``attempt`` that ran it).
- ``WS/runs/state.json``: for each stage, the key of the inputs that the
  workspace's *current* outputs of that stage were made from, and the run that
  made them. A stage whose key matches is skipped; a stage that starts running
  clears its own entry and those of the stages after it, so a failed or killed
  stage is never taken for done.

A stage's key chains the key of the stage before it with the stage's own
parameters, so a change anywhere upstream reruns everything downstream.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.workspace import Workspace, atomic_path

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
STATUSES = ("pending", "running", "done", "skipped", "failed")


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is a safe folder name, else raise ParameterError."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise ParameterError(
            "The 'run_id' parameter of run_pipeline must be 1-64 characters of letters, "
            f"digits, '.', '_' or '-', starting with a letter or digit. Got {run_id!r} instead."
        )
    return run_id


def digest(*parts: object) -> str:
    """A hex SHA-256 of JSON-encoded parts (dict keys sorted)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (plan files, rule files: small)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def folder_fingerprint(path: str | os.PathLike[str]) -> str:
    """Fingerprint of an input folder from each file's relative path, size and mtime.

    Cheap on large logs (no file is read); a file rewritten with other content
    changes its mtime, and so the fingerprint.
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    entries = []
    for p in files:
        st = p.stat()
        entries.append([str(p.relative_to(root)) if p != root else p.name, st.st_size,
                        st.st_mtime_ns])
    return digest(entries)


def default_run_id(key: str) -> str:
    """The run id derived from the inputs' fingerprint: ``run-<12 hex>``."""
    return f"run-{key[:12]}"


def now() -> str:
    """UTC time in ISO format, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StageRecord:
    """One stage of a run, as the manifest records it."""

    name: str
    status: str = "pending"
    key: str | None = None
    started: str | None = None
    seconds: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    made_by: str | None = None  # the run whose outputs a skipped stage reuses
    attempt: int | None = None  # the attempt of this run that ran the stage


@dataclass
class Manifest:
    """A run's manifest: its parameters and its stages in order."""

    run_id: str
    workspace: str
    created: str
    params: dict[str, Any]
    stages: list[StageRecord]
    status: str = "running"
    finished: str | None = None
    attempts: int = 1

    @property
    def path(self) -> Path:
        return Workspace(self.workspace).runs / self.run_id / "manifest.json"

    def stage(self, name: str) -> StageRecord:
        """The record of stage `name`."""
        for record in self.stages:
            if record.name == name:
                return record
        raise KeyError(name)

    def save(self) -> Path:
        """Write manifest.json atomically."""
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        return self.path

    @classmethod
    def find(cls, workspace: str | os.PathLike[str], run_id: str) -> Manifest | None:
        """The manifest of `run_id` when the run exists, else None."""
        path = Workspace.of(workspace).runs / check_run_id(run_id) / "manifest.json"
        return cls.load(workspace, run_id) if path.is_file() else None

    @classmethod
    def load(cls, workspace: str | os.PathLike[str], run_id: str) -> Manifest:
        """Read ``WS/runs/<run_id>/manifest.json``."""
        runs = Workspace.of(workspace).runs
        path = runs / check_run_id(run_id) / "manifest.json"
        if not path.is_file():
            raise WorkspaceError(f"No run {run_id!r} in {runs}: {path} is missing.")
        doc = json.loads(path.read_text())
        doc["stages"] = [StageRecord(**s) for s in doc["stages"]]
        return cls(**doc)


class StageState:
    """``WS/runs/state.json``: which inputs made the workspace's current stage outputs."""

    def __init__(self, workspace: str | os.PathLike[str]) -> None:
        self.path = Workspace.of(workspace).runs / "state.json"
        self.entries: dict[str, dict[str, Any]] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {}
        )

    def current(self, stage: str, key: str) -> dict[str, Any] | None:
        """The entry of `stage` if its outputs were made from `key` and still exist."""
        entry = self.entries.get(stage)
        if entry is None or entry.get("key") != key:
            return None
        paths = entry.get("paths", [])
        if not all(Path(p).exists() for p in paths):
            return None
        return entry

    def invalidate(self, stages: list[str]) -> None:
        """Forget `stages` (a stage about to run and those after it) and save."""
        for name in stages:
            self.entries.pop(name, None)
        self._save()

    def record(self, stage: str, key: str, run_id: str, outputs: dict[str, Any],
               paths: list[str]) -> None:
        """Record that `run_id` made the current outputs of `stage` from `key`."""
        self.entries[stage] = {"key": key, "run_id": run_id, "outputs": outputs,
                               "paths": paths, "at": now()}
        self._save()

    def _save(self) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.entries, indent=2, default=str))
