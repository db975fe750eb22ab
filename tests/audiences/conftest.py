"""Fixtures of the audiences tests: one small profiled world per session, a fresh copy per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adopt.ingest import ingest
from adopt.profiles import build_profiles
from adopt.synth import generate_world


@pytest.fixture(scope="session")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with user_profiles for a 600-user world (no embeddings). Do not write to it."""
    root = tmp_path_factory.mktemp("audiences_world")
    generate_world(root / "world", users=600, ads=24, days=7, seed=11, show_progress=False)
    ingest(root / "world", root / "ws")
    build_profiles(root / "ws")
    return root / "ws"


@pytest.fixture
def ws(profiled: Path, tmp_path: Path) -> Path:
    """A private copy of the profiled workspace."""
    target = tmp_path / "ws"
    target.mkdir()
    shutil.copy(profiled / "warehouse.duckdb", target / "warehouse.duckdb")
    return target
