"""The one progress display of every long command (facts, health, bmc status, configure).

Progress is for a person watching: a bar redrawn in place, running tallies. It goes to
stderr and only when stderr is a terminal, so a log, a pipe or CI gets the results alone
(they are printed whatever happens; progress never carries a result). Asked for
explicitly it is shown anyway, and refused it is not:

    --progress / --no-progress        on the command line (wins)
    SUPERCLUSTER_PROGRESS=1 / =0      in the environment (e.g. to watch a CI log live)
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import TextIO

ENV = "SUPERCLUSTER_PROGRESS"
_REDRAW_S = 0.1  # at most ten redraws a second: 12,500 hosts must not mean 12,500 writes
_WIDTH = 30


def add_progress_arg(p: argparse.ArgumentParser) -> None:
    """`--progress/--no-progress`, the same flag on every long command."""
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"progress on stderr (default: when stderr is a terminal, or {ENV}=1)",
    )


def wanted(asked: bool | None, stream: TextIO) -> bool:
    """Show progress? The flag wins, then the environment, then: is stream a terminal."""
    if asked is not None:
        return asked
    env = os.environ.get(ENV, "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """A bar (`label [####......] done/total, F failed, 3.2s`) and whole progress lines,
    both drawn only when wanted. Thread-safe: fan-out workers report as they finish."""

    def __init__(
        self,
        label: str,
        total: int = 0,
        *,
        asked: bool | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = wanted(asked, self.stream)
        self.done = self.failed = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._bar_open = False  # a bar is on the current line, without its newline
        self._lock = threading.Lock()

    def advance(self, ok: bool = True) -> None:
        """One more item finished (failed when not ok)."""
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            self._redraw()

    def update(self, done: int, total: int) -> None:
        """Where a fan-out stands, as a `progress(done, total)` callback reports it."""
        with self._lock:
            self.done, self.total = done, total
            self._redraw()

    def line(self, text: str) -> None:
        """A progress line of its own (a running tally), below any bar."""
        if self.enabled:
            with self._lock:
                self._end_bar()
                self._write(text + "\n")

    def close(self) -> None:
        """End the bar's line, so what is printed next starts on a line of its own."""
        with self._lock:
            self._end_bar()

    def _redraw(self) -> None:
        now = time.monotonic()
        finished = self.done >= self.total
        if self.enabled and (finished or now - self._drawn_at >= _REDRAW_S):
            self._drawn_at = now
            self._write("\r" + self._bar(now))
            self._bar_open = True
            if finished:
                self._end_bar()

    def _bar(self, now: float) -> str:
        filled = _WIDTH * min(self.done, self.total) // max(1, self.total)
        bar = "#" * filled + "." * (_WIDTH - filled)
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.label} [{bar}] {self.done}/{self.total}{failed}, {now - self.started:.1f}s"

    def _end_bar(self) -> None:
        if self._bar_open:
            self._write("\n")
            self._bar_open = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
