"""Open a page in real headless Chromium and watch it over the DevTools protocol.

Chromium's --remote-debugging-pipe speaks CDP over file descriptors 3 (commands in) and
4 (replies and events out), NUL-separated JSON: no websocket library is needed. The page
is loaded with the network domain on, so every request it makes and every load failure
is recorded, along with console errors and uncaught exceptions.
"""

from __future__ import annotations

import contextlib
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

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


@dataclass
class PageLoad:
    result: dict  # what the evaluated expression returned
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    failed: list[dict] = field(default_factory=list)  # Network.loadingFailed params
    errors: list[str] = field(default_factory=list)  # console errors, exceptions


class _Pipe:
    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int):
        self.proc, self.out, self.inp = proc, to_browser, from_browser
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer over the DevTools pipe")
            chunk = os.read(self.inp, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe (rc {self.proc.poll()})")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict:
        want = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        for i, msg in enumerate(self.events):
            if msg.get("method") == method:
                return self.events.pop(i)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)


def _child_fds(to_browser_r: int, from_browser_w: int):
    def setup() -> None:
        # Move the pipe ends to high numbers first, so dup2 onto 3 and 4 never meets
        # itself (dup2(fd, fd) would keep close-on-exec set).
        a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 20)
        b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 20)
        os.dup2(a, 3)
        os.dup2(b, 4)
        os.close(a)
        os.close(b)

    return setup


def load_page(path: Path, expression: str, timeout: float = 60.0) -> PageLoad:
    """Load file `path` in headless Chromium, wait for its load event, evaluate
    `expression` (must return a JSON-serialisable value) and report what happened."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        raise AssertionError(
            "Chromium is not installed (Debian package chromium; scripts/setup.sh installs it)"
        )
    binary = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=_child_fds(to_r, from_w),
        )
        os.close(to_r)
        os.close(from_w)
        pipe = _Pipe(proc, to_w, from_r)
        try:
            return _drive(pipe, path, expression, timeout)
        finally:
            with contextlib.suppress(OSError):
                pipe.send("Browser.close")
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(to_w)
            os.close(from_r)


def _drive(pipe: _Pipe, path: Path, expression: str, timeout: float) -> PageLoad:
    target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
    session = pipe.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Network", "Runtime", "Log"):
        pipe.call(f"{domain}.enable", session=session)
    pipe.events.clear()
    pipe.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    pipe.wait_event("Page.loadEventFired", timeout=timeout)
    value = pipe.call(
        "Runtime.evaluate",
        {"expression": f"JSON.stringify({expression})", "returnByValue": True},
        session=session,
    )
    if "exceptionDetails" in value:
        raise AssertionError(f"evaluating the check failed: {value['exceptionDetails']}")
    load = PageLoad(json.loads(value["result"]["value"]))
    for msg in pipe.events:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            load.failed.append(params)
        elif method == "Runtime.exceptionThrown":
            load.errors.append(str(params["exceptionDetails"]))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            load.errors.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            load.errors.append(params["entry"]["text"])
    return load
