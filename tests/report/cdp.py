"""A tiny DevTools-protocol client for headless Chromium, over ``--remote-debugging-pipe``.

No port and no third-party package: Chromium reads commands from fd 3 and
writes replies and events to fd 4, one JSON message per NUL-terminated chunk.
`load_page` opens one file and records what the report tests need: console
messages and errors, every network request, JavaScript dialogs, the DOM's
answers to a few questions and a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    console: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    probe: dict = field(default_factory=dict)
    screenshot: bytes = b""


class _Pipe:
    def __init__(self, binary: str, profile: str) -> None:
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # move the child's ends above 9 so bash can place them on 3 and 4 without clashes
        child_in = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(out_w)
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"]
        script = f'exec "$@" 3<&{child_in} 4>&{child_out}'
        self.proc = subprocess.Popen([_bash(), "-c", script, "bash", *args],
                                     pass_fds=(child_in, child_out),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(child_in)
        os.close(child_out)
        self.w, self.r = cmd_w, out_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        want = self.next_id
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._read(deadline):
                if reply.get("id") == want:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                self.events.append(reply)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.events.extend(self._read(deadline, quiet=True))

    def _read(self, deadline: float, quiet: bool = False) -> list[dict]:
        left = deadline - time.monotonic()
        if left <= 0:
            if quiet:
                return []
            raise TimeoutError("no answer from Chromium")
        ready, _, _ = select.select([self.r], [], [], left)
        if not ready:
            return []
        chunk = os.read(self.r, 1 << 20)
        if not chunk:
            raise RuntimeError(f"Chromium exited (code {self.proc.poll()})")
        self.buf += chunk
        *messages, self.buf = self.buf.split(b"\0")
        return [json.loads(m) for m in messages if m]

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)


def _bash() -> str:
    path = shutil.which("bash")
    if path is None:
        raise RuntimeError("bash is needed to hand Chromium its pipe on fds 3 and 4")
    return path


PROBE = """JSON.stringify({
  scripts: document.getElementsByTagName('script').length,
  imgs: document.getElementsByTagName('img').length,
  text: document.body.innerText,
  h2: Array.from(document.querySelectorAll('h2')).map(e => e.textContent),
  svgs: document.getElementsByTagName('svg').length
})"""


def _wait_for_load(pipe: _Pipe, session: str, url: str, timeout: float = 30.0) -> None:
    """Wait for `url`'s load event, accepting any JavaScript dialog (it would block the load).

    Only a load event after the frame navigated to `url` counts: a late one of
    the blank start page must not end the wait early.
    """
    deadline = time.monotonic() + timeout
    handled = 0
    while True:
        dialogs = [e for e in pipe.events if e.get("method") == "Page.javascriptDialogOpening"]
        for _ in dialogs[handled:]:
            pipe.send("Page.handleJavaScriptDialog", {"accept": True}, session=session)
        handled = len(dialogs)
        navigated = False
        for event in pipe.events:
            method = event.get("method")
            if method == "Page.frameNavigated" and \
                    event["params"]["frame"].get("url") == url:
                navigated = True
            elif method == "Page.loadEventFired" and navigated:
                return
        pipe.events.extend(pipe._read(deadline))


def load_page(binary: str, url: str, width: int = 1280, height: int = 2000) -> PageLoad:
    """Open `url` in a fresh headless Chromium; record requests, console, errors, a screenshot."""
    with tempfile.TemporaryDirectory(prefix="adopt-chromium-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget",
                                {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1,
                       "mobile": False}, session=session)
            pipe.events.clear()
            pipe.send("Page.navigate", {"url": url}, session=session)
            _wait_for_load(pipe, session, url)
            pipe.drain(1.0)  # late console messages and requests
            probe = pipe.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True},
                              session=session)
            shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
            pipe.drain(0.3)
        finally:
            pipe.close()
    load = PageLoad(probe=json.loads(probe["result"]["value"]),
                    screenshot=base64.b64decode(shot["data"]))
    for event in pipe.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            load.console.append({"type": params.get("type"),
                                 "text": " ".join(str(a.get("value", a.get("description", "")))
                                                  for a in params.get("args", []))})
        elif method == "Runtime.exceptionThrown":
            load.errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            load.errors.append(params["entry"].get("text", ""))
        elif method == "Page.javascriptDialogOpening":
            load.dialogs.append(params.get("message", ""))
    load.errors += [c["text"] for c in load.console if c["type"] in ("error", "assert")]
    return load


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def file_url(path: Path) -> str:
    """``file://`` URL of a local path."""
    return Path(path).resolve().as_uri()
