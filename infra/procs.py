"""Stopping the processes the project starts: the one place that signals, waits and reaps.

Every long-lived child (the BMC emulator, the vendor mirror, ibsim and OpenSM, the
simulated nodes) runs in its own process group, so one signal reaches all it started.
A process may be ours (started by this Python process: only we can reap it, else it
stays a zombie) or another command's (recorded by pid in a state file: init reaps it).
Either way a stop returns only once the process is gone, never leaving a zombie of ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

_POLL_S = 0.02


def reap(pid: int) -> bool:
    """Collect our own child's exit status; True when it had exited. A process that is not
    our child is left alone (its parent or init reaps it)."""
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    return False


def alive(pid: int | None) -> bool:
    """True while pid runs. A zombie counts as gone: it has exited, only its status is
    left; ours is reaped here on the way."""
    if not pid or reap(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal one process; one that has already gone is no error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def signal_group(pgid: int, sig: int) -> None:
    """Signal a whole process group; a group that has already gone is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_gone(pids: Iterable[int], timeout_s: float) -> list[int]:
    """Poll until every pid has gone (reaping ours); the ones still running at the end."""
    pids = list(pids)
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(_POLL_S)


def stop_group(target: int | subprocess.Popen, grace_s: float = 5.0, kill_s: float = 10.0) -> bool:
    """Stop the process group led by target (a pid, or a Popen that keeps its exit status):
    SIGTERM, up to grace_s to exit, then SIGKILL, up to kill_s more; anything the leader
    left behind in its group is killed too. True when the leader is gone (reaped if ours)."""
    pid = target.pid if isinstance(target, subprocess.Popen) else target
    signal_group(pid, signal.SIGTERM)
    gone = _wait_leader(target, grace_s)
    if not gone:
        signal_group(pid, signal.SIGKILL)
        gone = _wait_leader(target, kill_s)
    signal_group(pid, signal.SIGKILL)  # the leader's stragglers
    _await_vanished(pid)
    return gone


def _wait_leader(target: int | subprocess.Popen, timeout_s: float) -> bool:
    if isinstance(target, subprocess.Popen):
        try:
            target.wait(timeout=timeout_s)  # through the Popen, so it records the status
        except subprocess.TimeoutExpired:
            return False
        return True
    return not wait_gone([target], timeout_s)


def _await_vanished(pid: int, grace_s: float = 3.0) -> None:
    """Another command's process, dead, stays a zombie until init reaps it: give init a
    moment, so a caller that looks in /proc sees it gone, not merely dead."""
    deadline = time.monotonic() + grace_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        reap(pid)  # ours after all: it died between two looks
        time.sleep(_POLL_S)
