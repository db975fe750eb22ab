"""Profiles are reproducible: two builds of the same warehouse give the same rows, bit for bit.

Sums of doubles depend on the order DuckDB's threads add rows in; ranks of
near-ties (category affinity) followed them. The models sum money as DECIMAL
and affinities in sorted order, and every ranking has a total order.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from adopt.ingest import ingest
from adopt.profiles import build_profiles
from adopt.synth import generate_world

MARTS = ("user_profiles", "ad_history", "training_examples")


def _snapshot(ws: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    try:
        return {m: con.execute(f"SELECT * FROM {m} ORDER BY ALL").fetchall() for m in MARTS}
    finally:
        con.close()


def test_two_builds_give_the_same_rows(tmp_path: Path) -> None:
    generate_world(tmp_path / "world", users=2000, ads=40, days=14, seed=0)
    ingest(tmp_path / "world", tmp_path / "ws")
    build_profiles(tmp_path / "ws", threads=4)
    first = _snapshot(tmp_path / "ws")
    build_profiles(tmp_path / "ws", threads=4)
    second = _snapshot(tmp_path / "ws")
    for mart in MARTS:
        assert len(first[mart]) == len(second[mart]) > 0
        differing = [a[0] for a, b in zip(first[mart], second[mart], strict=True) if a != b]
        # List columns (top_categories, category_affinity) are compared in order.
        assert differing == [], f"{mart}: {len(differing)} rows differ, e.g. {differing[:3]}"
