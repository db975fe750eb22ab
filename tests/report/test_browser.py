"""The report in a real headless Chromium (Debian package ``chromium``), driven over a pipe."""

from __future__ import annotations

import pytest

from adopt.report import build_report

from .cdp import file_url, find_chromium, load_page, png_size
from .conftest import ATTR_DESCRIPTION, SCRIPT_TITLE
from .test_report import TITLES

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                       "(Debian/Ubuntu: apt-get install -y chromium)"),
]


def test_report_opens_offline_without_errors_and_shows_hostile_text_as_text(planned, tmp_path):
    out = build_report(planned["plan"], tmp_path / "report.html")
    load = load_page(CHROMIUM, file_url(out))
    assert load.requests == [file_url(out)]  # the file itself, nothing else
    assert load.errors == [] and load.dialogs == []
    assert [c for c in load.console if c["type"] in ("error", "warning")] == []
    probe = load.probe
    assert probe["h2"] == list(TITLES)
    assert probe["scripts"] == 0 and probe["imgs"] == 0
    assert probe["svgs"] >= 4
    assert SCRIPT_TITLE in probe["text"] and ATTR_DESCRIPTION in probe["text"]
    shot = tmp_path / "report.png"
    shot.write_bytes(load.screenshot)
    assert png_size(load.screenshot) == (1280, 2000)
    assert len(load.screenshot) > 40_000  # a blank page is about 10 kB


def test_the_browser_check_sees_requests_errors_scripts_and_dialogs(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><h2>t</h2><img src="http://127.0.0.1:9/x.png">'
                    '<script>console.error("boom"); alert("hi")</script></body></html>')
    load = load_page(CHROMIUM, file_url(page))
    assert "http://127.0.0.1:9/x.png" in load.requests
    assert "boom" in load.errors
    assert load.dialogs == ["hi"]
    assert load.probe["scripts"] == 1
