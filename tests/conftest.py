"""Test-wide settings (offline model loading, loopback Ray) and the shared Ray fixture."""

from __future__ import annotations

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
    asynchronously; a trial that needs the whole cluster would otherwise wait
    for their CPUs forever. Fails after `seconds` instead of hanging.
    """
    deadline = time.monotonic() + seconds
    while True:
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
