"""The hostile stack-file corpus: every file under stacks/ must be refused with exit 2,
one clear message and no traceback, by `validate` and `design` alike.

Each case is one stack file whose header says what it tests and what must come back:

    # hostile: racks: 1000000000 (used to grow memory at 80 MB/s)
    # exit: 2
    # message: rows[0].racks: Input should be less than or equal to 10000
    # process: yes                 (also run as a real process, memory-capped)
    # generate: pad 2097152        (grow the file to this many bytes when the test runs)
    # generate: repeat TOKEN c N   (replace TOKEN with N copies of c)

Generated content keeps the repository small: the corpus itself is a few KB a case.
Every case runs in-process (fast); the `process: yes` ones also run through the real
`supercluster` executable in parallel, under a memory cap, with a timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.cli import main

HERE = Path(__file__).resolve().parent
STACKS = HERE / "stacks"
PROJECT_YAML = HERE.parent.parent / "Pulumi.yaml"
STDERR_MAX = 8192  # bytes: one line per problem, at most 50 lines of ~100 characters
COMMANDS = ("validate", "design")
PROCESS_MEMORY = 2 << 30  # address space of a case's process: a leak fails, not swaps
PROCESS_TIMEOUT_S = 60


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    exit: int
    message: str
    process: bool
    generate: tuple[str, ...]

    def content(self) -> bytes:
        data = self.path.read_bytes()
        for directive in self.generate:
            data = _generate(data, directive.split())
        return data


def _generate(data: bytes, words: list[str]) -> bytes:
    if words[0] == "pad":
        size = int(words[1])
        line = b"# " + b"x" * 1021 + b"\n"
        return data + line * (-(-(size - len(data)) // len(line)))
    if words[0] == "repeat":
        token, char, count = words[1], words[2], int(words[3])
        return data.replace(token.encode(), char.encode() * count)
    raise ValueError(f"unknown generate directive {words}")


def _header(path: Path) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for raw in path.read_bytes().splitlines():
        if not raw.startswith(b"# "):
            break
        key, _, value = raw[2:].decode("utf-8", "replace").partition(": ")
        fields.setdefault(key, []).append(value)
    return fields


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(STACKS.glob("*.yaml")):
        h = _header(path)
        cases.append(
            Case(
                path.stem,
                path,
                int(h["exit"][0]),
                h["message"][0],
                h.get("process", ["no"])[0] == "yes",
                tuple(h.get("generate", [])),
            )
        )
    return cases


CASES = load_cases()


def project_with(case: Case, root: Path) -> Path:
    """A project directory holding Pulumi.yaml and the case as Pulumi.<case>.yaml."""
    project = root / case.name
    project.mkdir()
    shutil.copy(PROJECT_YAML, project / "Pulumi.yaml")
    (project / f"Pulumi.{case.name}.yaml").write_bytes(case.content())
    return project


def check_result(case: Case, command: str, code: int, err: str) -> list[str]:
    """What is wrong with one run (empty when it is right)."""
    wrong = []
    if code != case.exit:
        wrong.append(f"exit {code}, expected {case.exit}")
    if case.message not in err:
        wrong.append(f"message {case.message!r} not in stderr")
    if "Traceback" in err:
        wrong.append("a traceback")
    if len(err.encode()) > STDERR_MAX:
        wrong.append(f"stderr is {len(err.encode()):,} bytes")
    return [f"{case.name} ({command}): {w}; stderr: {err[:500]!r}" for w in wrong]


def test_the_corpus_covers_the_reported_cases():
    names = {c.name for c in CASES}
    reported = {
        "collide-hall-row",
        "row-named-spine",
        "racks-billion",
        "racks-10e40",
        "billion-laughs",
        "non-utf8",
        "x-inf",
        "x-nan",
        "x-1e308",
        "capacity-nan",
        "duplicate-nested-key",
        "racks-true",
        "bmc-ipv6",
        "pools-overlap",
    }
    assert reported <= names, reported - names
    assert len(CASES) >= 60
    assert all(c.exit == 2 for c in CASES)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_in_process(case: Case, command: str, tmp_path, capsys):
    project = project_with(case, tmp_path)
    start = time.perf_counter()
    code = main([command, "--stack", case.name, "--project-dir", str(project)])
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert check_result(case, command, code, err) == []
    assert out == ""  # nothing half-printed before the refusal
    assert elapsed < 5, f"{elapsed:.2f} s to refuse"


def _cli() -> list[str]:
    """The real executable, started through a shim that caps its address space first
    (preexec_fn is unsafe from the threads that run the cases in parallel)."""
    exe = Path(sys.executable).with_name("supercluster")
    target = [str(exe)] if exe.exists() else [sys.executable, "-m", "infra.cli"]
    shim = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({PROCESS_MEMORY}, {PROCESS_MEMORY})); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", shim, *target]


def _run_process(case: Case, command: str, project: Path) -> list[str]:
    try:
        proc = subprocess.run(
            [*_cli(), command, "--stack", case.name, "--project-dir", str(project)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROCESS_TIMEOUT_S,
            cwd=project,
        )
    except subprocess.TimeoutExpired:
        return [f"{case.name} ({command}): still running after {PROCESS_TIMEOUT_S} s"]
    return check_result(case, command, proc.returncode, proc.stderr)


def test_cases_as_real_processes(tmp_path):
    """The marked cases through the real executable: exit status, stderr and no traceback
    as a user sees them, with the process's memory capped (a runaway fails, not swaps)."""
    jobs = []
    for command in COMMANDS:
        (tmp_path / command).mkdir()
        jobs += [(c, command, project_with(c, tmp_path / command)) for c in CASES if c.process]
    assert len(jobs) >= 16
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda job: _run_process(*job), jobs)
    assert [line for wrong in results for line in wrong] == []
