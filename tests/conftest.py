"""Test-wide settings (offline model loading, loopback Ray) and the shared Ray fixture."""

from __future__ import annotations

import os

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
