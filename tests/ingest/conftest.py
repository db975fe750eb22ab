"""Fixtures for ingest tests: a small seeded input world, writers and a warehouse checksum."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

Frames = dict[str, pd.DataFrame]


def make_world(seed: int = 0, n_users: int = 20, n_impressions: int = 60) -> Frames:
    """A small consistent input: every reference resolves, every click has its impression."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-05-01 08:00:00")
    users = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n_users)],
            "age_band": rng.choice(["18-24", "25-34", "35-44"], n_users),
            "signup_ts": [t0 - pd.Timedelta(days=int(d)) for d in rng.integers(1, 400, n_users)],
            "loyalty": rng.choice(["gold", "silver"], n_users),  # an extra attribute
        }
    )
    placements = pd.DataFrame(
        {
            "placement_id": ["p0", "p1", "p2"],
            "cpm": [2.5, 4.0, 1.25],
            "name": ["home", "search", "footer"],
            "daily_inventory": [10_000, 5_000, 20_000],
        }
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["c0", "c1"],
            "budget": [1000.0, 500.0],
            "objective": ["clicks", "conversions"],
        }
    )
    ads = pd.DataFrame(
        {
            "ad_id": [f"a{i}" for i in range(5)],
            "campaign_id": ["c0", "c0", "c1", "c1", "c1"],
            "title": ["Red shoes", "Blue shoes", "Green tea", "Black tea", "Teapot"],
            "price": [59.0, 49.5, 7.0, 8.0, 25.0],
        }
    )
    n = n_impressions
    imps = pd.DataFrame(
        {
            "ts": [t0 + pd.Timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 5000, n))],
            "user_id": rng.choice(users.user_id, n),
            "ad_id": rng.choice(ads.ad_id, n),
            "placement_id": rng.choice(placements.placement_id, n),
            "event": "impression",
            "cost": np.round(rng.uniform(0.001, 0.005, n), 6),
            "revenue": 0.0,
            "impression_id": [f"i{i}" for i in range(n)],
        }
    )
    clicks = imps.iloc[::4].copy()
    clicks["event"] = "click"
    clicks["ts"] += pd.Timedelta(seconds=30)
    clicks["cost"] = 0.0
    conversions = clicks.iloc[::3].copy()
    conversions["event"] = "conversion"
    conversions["ts"] += pd.Timedelta(minutes=5)
    conversions["revenue"] = 30.0
    events = pd.concat([imps, clicks, conversions], ignore_index=True)
    behaviors = pd.DataFrame(
        {
            "ts": [t0 - pd.Timedelta(hours=int(h)) for h in rng.integers(1, 100, 15)],
            "user_id": rng.choice(users.user_id, 15),
            "action": rng.choice(["view", "cart", "search"], 15),
            "text": rng.choice(["tea", "running shoes", "teapot"], 15),
        }
    )
    return {
        "users": users,
        "placements": placements,
        "campaigns": campaigns,
        "ads": ads,
        "events": events,
        "behaviors": behaviors,
    }


def write_world(frames: Frames, folder: Path, fmt: str = "csv") -> Path:
    """Write one file per table (CSV or Parquet) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def checksum(warehouse: Path) -> dict[str, tuple] | None:
    """Per table of the warehouse: its columns and types, row count and per-column hash sums."""
    if not warehouse.exists():
        return None
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "ORDER BY table_name"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            cols = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = current_database() AND table_name = $t "
                "ORDER BY column_index",
                {"t": t},
            ).fetchall()
            sums = con.execute(f'SELECT count(*), sum(hash(columns(*))) FROM "{t}"').fetchone()
            out[t] = (tuple(cols), sums)
        return out
    finally:
        con.close()


def query(warehouse: Path, sql: str, params: dict | None = None) -> list[tuple]:
    """Run one read-only query on the warehouse."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


@pytest.fixture
def world() -> Frames:
    return make_world()


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write frames into a fresh input folder under tmp_path and return it."""
    counter = iter(range(1000))

    def _write(frames: Frames, fmt: str = "csv") -> Path:
        return write_world(frames, tmp_path / f"input{next(counter)}", fmt)

    return _write


@pytest.fixture
def wh_checksum() -> Callable[[Path], dict[str, tuple] | None]:
    return checksum


@pytest.fixture
def wh_query() -> Callable[..., list[tuple]]:
    return query


@pytest.fixture(scope="session")
def base_ingest(tmp_path_factory: pytest.TempPathFactory):
    """The summary of ingesting the good world (CSV) into a fresh workspace, once per session."""
    from adopt.ingest import ingest

    root = tmp_path_factory.mktemp("base")
    return ingest(write_world(make_world(), root / "input"), root / "ws")


@pytest.fixture(scope="session")
def base_warehouse(base_ingest) -> Path:
    """The warehouse of `base_ingest`: read it, or copy it (`loaded_ws`) before changing it."""
    return base_ingest.warehouse


@pytest.fixture(scope="session")
def base_checksum(base_warehouse: Path) -> dict[str, tuple] | None:
    """The checksum of `base_warehouse` (and of every `loaded_ws` before it is changed)."""
    return checksum(base_warehouse)


@pytest.fixture
def loaded_ws(base_warehouse: Path, tmp_path: Path) -> Path:
    """A workspace of this test's own whose warehouse already holds the good world."""
    ws = tmp_path / "loaded_ws"
    ws.mkdir()
    shutil.copy(base_warehouse, ws / base_warehouse.name)
    return ws
