"""infra/procs.py, the one stop-and-reap: a stopped group leaves no process and no zombie,
whether the leader is our child (a Popen or a bare pid) or another command's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from infra import procs

# A leader that ignores SIGTERM, with a grandchild in its group that does too.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def _start(code: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True, text=True
    )
    return proc, int(proc.stdout.readline())


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_a_group_that_ignores_sigterm_is_killed_and_reaped() -> None:
    proc, grandchild = _start(STUBBORN)
    t0 = time.monotonic()
    assert procs.stop_group(proc.pid, grace_s=0.3) is True
    assert time.monotonic() - t0 < 5
    assert _gone(proc.pid)  # reaped: no zombie of ours
    assert procs.wait_gone([grandchild], 3.0) == []  # the group went with its leader
    proc.stdout.close()


def test_a_popen_leader_keeps_its_exit_status() -> None:
    proc, _ = _start("import time; print(0, flush=True); time.sleep(60)")
    assert procs.stop_group(proc) is True
    assert proc.returncode == -15  # SIGTERM, as the Popen recorded it
    proc.stdout.close()


def test_stopping_what_has_gone_is_no_error() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()
    assert procs.stop_group(proc.pid) is True
    assert procs.stop_group(proc) is True
    assert procs.alive(None) is False


def test_alive_counts_a_zombie_of_ours_as_gone_and_reaps_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while procs.alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _gone(proc.pid)
