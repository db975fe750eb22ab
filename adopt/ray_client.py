"""Ray Client addresses (``ray://host:port``): run a whole driver on the cluster.

Ray Data does not run under Ray Client: its streaming executor needs the
driver's own core worker, which a client process does not have
(ray-project/ray#48682, "use job submission instead"). The embed stage, curve
scoring and Ray Train's inputs all use Ray Data. So with a ``ray://`` address
the driver function itself runs as one task on the cluster, with no CPU of its
own, and drives its stages from there exactly as a submitted job does; its
log lines stream back to this terminal and its errors come back as they were
raised. Its inputs and outputs are paths: the workspace must be on a file
system the cluster's nodes see, as for every Ray stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def is_client_address(address: str | None) -> bool:
    """Whether `address` asks for Ray Client (``ray://...``)."""
    return address is not None and address.strip().lower().startswith("ray://")


def run_on_cluster(address: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` as a task on the cluster at the ``ray://`` `address`.

    Inside the task Ray is already initialised on that cluster, so every stage
    that uses Ray runs there. An exception the function raises is re-raised here
    as itself (an `AdoptError` stays one line and exit code 2 on the CLI).
    """
    import ray

    if ray.is_initialized():
        raise RuntimeError("run_on_cluster needs a process not yet connected to Ray")
    log.info("joining the Ray cluster at %s (Ray Client): the run drives its stages there",
             address)
    _join(address)
    try:
        task = ray.remote(num_cpus=0, max_retries=0)(fn)
        try:
            return ray.get(task.remote(*args, **kwargs))
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
                raise cause from None
            raise
    finally:
        ray.shutdown()


# How the head's proxy says it could not start this client's server process: it says
# so, or the start tripped on that process dying at birth (a psutil ZombieProcess raised
# inside start_specific_server; two fresh-clone test runs of four on a 2-core machine).
_SERVER_START_FAILED = ("client server failed", "start_specific_server")


def _join(address: str, attempts: int = 3) -> None:
    """`ray.init` on a Ray Client address, tried again when the head's proxy fails to start
    this client's server process (`_SERVER_START_FAILED`; seen on a loaded machine, and
    a second try gets a new server on the next port)."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, log_to_driver=True, configure_logging=False)
            return
        except ConnectionError as exc:
            if not any(s in str(exc) for s in _SERVER_START_FAILED) or attempt == attempts:
                raise
            log.warning("Ray Client: the head could not start a server for this client "
                        "(try %d of %d); trying again", attempt, attempts)
            ray.shutdown()
            time.sleep(2.0 * attempt)
