"""infra/progress.py, the one progress display: on a terminal only, unless the flag or
SUPERCLUSTER_PROGRESS asks otherwise; a bar redrawn in place and whole tally lines."""

from __future__ import annotations

import argparse
import io

import pytest

from infra.progress import ENV, Progress, add_progress_arg, wanted


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("asked", "env", "tty", "shown"),
    [
        (None, None, True, True),  # a person is watching
        (None, None, False, False),  # a log, a pipe, CI
        (True, None, False, True),  # --progress
        (False, "1", True, False),  # --no-progress wins over everything
        (None, "1", False, True),  # SUPERCLUSTER_PROGRESS=1
        (None, "0", True, False),  # SUPERCLUSTER_PROGRESS=0
    ],
)
def test_shown_on_a_terminal_unless_asked_otherwise(monkeypatch, asked, env, tty, shown):
    if env is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, env)
    assert wanted(asked, Tty() if tty else io.StringIO()) is shown


def test_the_bar_ends_its_line_and_counts_failures():
    stream = Tty()
    bar = Progress("health", 2, stream=stream)
    bar.advance(ok=True)
    bar.advance(ok=False)
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # redrawn in place, then ended
    assert "health [" in text and "2/2, 1 failed," in text


def test_a_tally_line_starts_below_an_open_bar():
    stream = Tty()
    bar = Progress("bmc status", 10, stream=stream)
    bar.update(1, 10)
    bar.line("PLAY next")
    bar.close()
    bar_line, tally, end = stream.getvalue().split("\n")
    assert bar_line.startswith("\rbmc status [") and "] 1/10, " in bar_line
    assert (tally, end) == ("PLAY next", "")  # close() adds nothing: no bar left open


def test_nothing_is_written_when_not_wanted():
    stream = io.StringIO()
    bar = Progress("facts", 3, stream=stream)
    bar.advance()
    bar.update(3, 3)
    bar.line("a tally")
    bar.close()
    assert stream.getvalue() == ""


def test_the_flag_is_the_same_everywhere():
    p = argparse.ArgumentParser()
    add_progress_arg(p)
    assert p.parse_args([]).progress is None
    assert p.parse_args(["--progress"]).progress is True
    assert p.parse_args(["--no-progress"]).progress is False
