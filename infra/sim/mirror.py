"""The simulated site's vendor mirror: the stand-in NVIDIA repository (infra.sim.testrepo)
served over HTTP on a loopback address, as a real site serves its air-gapped mirror.

`sim up` starts it beside the nodes and BMCs; `inventory --sim` points the vendor_repo
role at it; `sim down` stops it. It runs as its own process group, recorded in
<state>/mirror/endpoint.json, so any later command can find and stop it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from infra import childenv, procs

HOST = "127.0.3.1"  # beside the dev stack's 127.0.1.x nodes and 127.0.2.x BMCs
PORT = 8610


def _endpoint(state_dir: Path) -> Path:
    return state_dir / "mirror" / "endpoint.json"


def mirror_status(state_dir: Path) -> dict | None:
    """{"url", "pid"} of a running mirror, or None."""
    path = _endpoint(state_dir)
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    return info if procs.alive(info["pid"]) else None


def start_mirror(
    state_dir: Path, host: str = HOST, port: int = PORT, timeout_s: float = 120.0
) -> dict:
    """Build the repository and serve it; idempotent (a running mirror is kept)."""
    running = mirror_status(state_dir)
    if running:
        return running
    root = state_dir / "mirror"
    root.mkdir(parents=True, exist_ok=True)
    log = (root / "mirror.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.sim.testrepo",
            str(root / "repo"),
            "--host",
            host,
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=childenv.minimal(),  # it serves files: no secret of the caller's
    )
    url = f"http://{host}:{port}"
    info = {"url": url, "pid": proc.pid, "suite": "./"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            procs.stop_group(proc)  # what it started, if anything, goes with it
            raise RuntimeError(f"vendor mirror exited: {(root / 'mirror.log').read_text()[-400:]}")
        try:
            urllib.request.urlopen(f"{url}/Packages", timeout=2).close()
            _endpoint(state_dir).write_text(json.dumps(info))
            return info
        except OSError:
            time.sleep(0.3)
    procs.stop_group(proc)
    raise RuntimeError(f"vendor mirror did not answer at {url} within {timeout_s:.0f} s")


def stop_mirror(state_dir: Path) -> None:
    """Stop the mirror's process group and remove its files."""
    info = mirror_status(state_dir)
    if info:
        procs.stop_group(info["pid"])
    root = state_dir / "mirror"
    if root.exists():
        subprocess.run(["rm", "-rf", str(root)], check=False)
