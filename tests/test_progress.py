from __future__ import annotations

import logging

from adopt.progress import Progress, track


def test_progress_logs_plain_lines_off_terminal(caplog):
    caplog.set_level(logging.INFO, logger="adopt")
    with Progress(total=3, desc="embedding", unit="texts", show=False, log_every=0.0) as bar:
        for _ in range(3):
            bar.update()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1].startswith("embedding: done, 3/3 texts")
    assert any(line.startswith("embedding: 1/3 texts") for line in lines)


def test_track_yields_every_item():
    assert list(track(range(5), total=5, desc="x")) == [0, 1, 2, 3, 4]
