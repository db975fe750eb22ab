"""Test-wide settings (offline model loading, loopback Ray) and the shared Ray fixture."""

from __future__ import annotations

import gc
import logging
import os
import time

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (loopback only, no dashboard).

    Reuses a Ray another test folder already started, and leaves that one running.
    """
    import ray

    started = not ray.is_initialized()
    for attempt in range(3 if started else 0):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, _node_ip_address="127.0.0.1")
            break
        except Exception:  # on a loaded machine the raylet can miss Ray's fixed 30 s
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    if started:
        ray.shutdown()


def _wait_until_idle(ray, seconds: float = 60.0) -> None:
    """Wait for every CPU of the shared Ray to be free again.

    Actors an earlier test started (a Ray Data encoder pool) are torn down
    asynchronously, and only once the last handle to them is gone: a failed
    run's traceback can keep its pool's handles in a reference cycle that only
    the cyclic garbage collector frees. A trial that needs the whole cluster
    would otherwise wait for their CPUs forever. Fails after `seconds` instead
    of hanging.
    """
    deadline = time.monotonic() + seconds
    next_collect = 0.0
    while True:
        if time.monotonic() >= next_collect:
            gc.collect()
            next_collect = time.monotonic() + 5.0
        total = ray.cluster_resources().get("CPU", 0.0)
        free = ray.available_resources().get("CPU", 0.0)
        if free >= total - 1e-6:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the shared Ray still holds {total - free:g} of its {total:g} CPUs "
                        f"after {seconds:g}s: an earlier test left actors running")
        time.sleep(0.5)


@pytest.fixture
def idle_ray(ray_session):
    """The shared Ray with all its CPUs free (see `_wait_until_idle`)."""
    _wait_until_idle(ray_session)
    return ray_session


@pytest.fixture(scope="module")
def idle_ray_module(ray_session):
    """`idle_ray` for module-scoped fixtures."""
    _wait_until_idle(ray_session)
    return ray_session


@pytest.fixture
def own_log_handler():
    """Let the CLI's main() attach its log handler to this test's captured stderr, and
    remove it after (CLI tests use it through ``pytestmark``)."""
    logger = logging.getLogger("adopt")
    saved = logger.handlers[:]
    logger.handlers.clear()
    yield
    logger.handlers[:] = saved


def write_export(folder, users: int = 300, days: int = 14, seed: int = 0):
    """A planner's own export in the input contract, as CSV, with what real exports lack.

    No ad categories, no behaviours, no creative text beyond a title; users carry
    attributes: ``pctr_decile`` (1-10, drives clicks), ``score`` (a float),
    ``member_code`` (digits with leading zeros: a code, not a number) and ``tier``
    (text). Three placements, six ads in two campaigns, about three impressions a
    user with clicks and some conversions. Returns the folder.
    """
    from pathlib import Path

    import numpy as np
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"u{i:04d}" for i in range(users)]
    decile = rng.integers(1, 11, users)
    pd.DataFrame({
        "user_id": ids,
        "age_band": rng.choice(["18-24", "25-34", "35-44"], users),
        "pctr_decile": decile,
        "score": rng.normal(0.0, 1.0, users).round(3),
        "member_code": [f"{c:05d}" for c in rng.integers(0, 500, users)],
        "tier": rng.choice(["gold", "silver", "bronze"], users, p=[0.2, 0.3, 0.5]),
    }).to_csv(folder / "users.csv", index=False)
    pd.DataFrame({
        "ad_id": [f"a{i}" for i in range(6)],
        "campaign_id": ["spring", "spring", "spring", "summer", "summer", "summer"],
        "title": [f"Offer {i}" for i in range(6)],
    }).to_csv(folder / "ads.csv", index=False)
    pd.DataFrame({"placement_id": ["home", "search", "video"], "cpm": [2.0, 3.0, 5.0],
                  "daily_inventory": [2000, 1500, 800]}).to_csv(folder / "placements.csv",
                                                                index=False)
    start = pd.Timestamp("2026-03-01")
    rows = []
    n = users * 3
    user = rng.integers(0, users, n)
    ts = start + pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s")
    ad = rng.integers(0, 6, n)
    placement = rng.integers(0, 3, n)
    p_click = 0.01 + 0.012 * decile[user] + 0.02 * (placement == 1)
    click = rng.random(n) < p_click
    convert = click & (rng.random(n) < 0.3)
    for i in range(n):
        base = {"user_id": ids[user[i]], "ad_id": f"a{ad[i]}",
                "placement_id": ["home", "search", "video"][placement[i]],
                "impression_id": f"i{i}"}
        rows.append({**base, "ts": ts[i], "event": "impression",
                     "cost": [2.0, 3.0, 5.0][placement[i]] / 1000, "revenue": None})
        if click[i]:
            rows.append({**base, "ts": ts[i] + pd.Timedelta(seconds=5), "event": "click",
                         "cost": None, "revenue": None})
        if convert[i]:
            rows.append({**base, "ts": ts[i] + pd.Timedelta(minutes=10), "event": "conversion",
                         "cost": None, "revenue": 40.0})
    events = pd.DataFrame(rows).sort_values("ts", kind="stable")
    events["ts"] = events["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    events.to_csv(folder / "events.csv", index=False)
    return folder


@pytest.fixture
def export_folder(tmp_path):
    """A generic export (see `write_export`) under tmp_path/my_export."""
    return write_export(tmp_path / "my_export")


@pytest.fixture
def make_export():
    """`write_export` itself, for tests that need other sizes or seeds."""
    return write_export
