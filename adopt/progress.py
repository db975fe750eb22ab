"""Progress on long work: a bar on a terminal, plain log lines elsewhere.

Ray jobs and CI capture stderr, where a redrawn bar would be noise, so there
the same progress is written as a log line at most every `log_every` seconds.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("adopt")


def on_terminal() -> bool:
    """True when stderr is an interactive terminal outside a Ray job."""
    if os.environ.get("RAY_JOB_ID") or os.environ.get("CI"):
        return False
    return sys.stderr.isatty()


class Progress:
    """Count work done towards `total`; show it as a bar or as log lines."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "it",
        show: bool | None = None,
        log_every: float = 10.0,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.done = 0
        self._log_every = log_every
        self._start = time.perf_counter()
        self._last_log = self._start
        self._bar = None
        if show is None:
            show = on_terminal()
        if show:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last_log >= self._log_every:
            self._last_log = now
            log.info("%s: %s", self.desc, self._status(now))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        log.info("%s: done, %s", self.desc, self._status(time.perf_counter()))

    def _status(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        of = f"/{self.total}" if self.total else ""
        rate = self.done / elapsed
        return f"{self.done}{of} {self.unit} in {elapsed:.1f}s ({rate:,.0f} {self.unit}/s)"

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], total: int | None, desc: str, unit: str = "it") -> Iterator[T]:
    """Iterate `items`, reporting progress as it goes."""
    with Progress(total, desc, unit) as bar:
        for item in items:
            yield item
            bar.update(1)


def setup_logging(level: int = logging.INFO) -> None:
    """Plain `time level message` lines on stderr, once per process."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(level)
