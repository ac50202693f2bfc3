"""Where the two sides of a plan review come from: the stack file at a git revision
(the base) and the stack file in the working tree (the head)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.errors import CONFIG_ROOT, EnvironmentProblem, InputError
from infra.spec import (
    MAX_STACK_FILE_BYTES,
    ClusterSpec,
    parse_spec,
    parse_stack_bytes,
    stack_file,
)


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the review: a label for people, the stack text (None: absent)."""

    label: str
    text: str | bytes | None


def _git(project_dir: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["git", "-C", str(project_dir), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise EnvironmentProblem(
            "git is not installed: --base needs git to read the base (apt-get install git)"
        ) from None


def base_side(stack: str, project_dir: Path, rev: str) -> Side:
    """The stack file as committed at `rev`; text None when the file is absent there
    (a new stack: everything in the head is added)."""
    found = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        inside = _git(project_dir, "rev-parse", "--git-dir").returncode == 0
        why = "no such revision" if inside else f"{project_dir} is not in a git repository"
        raise InputError([f"--base {rev}: {why}"])
    sha = found.stdout.strip()
    label = f"{rev} ({sha[:12]})" if not sha.startswith(rev) else sha[:12]
    # "REV:./path" is resolved relative to project_dir, wherever the repository root is.
    shown = _git_bytes(project_dir, "show", f"{sha}:./Pulumi.{stack}.yaml")
    if shown.returncode != 0:
        return Side(label, None)
    return Side(label, shown.stdout)


def _git_bytes(project_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """A blob as bytes: the one stack-file reader decodes it (and names a bad byte)."""
    return subprocess.run(["git", "-C", str(project_dir), *args], capture_output=True, check=False)


def head_side(stack: str, project_dir: Path) -> Side:
    path = stack_file(stack, project_dir)
    if not path.is_file():
        raise InputError([f"{path}: no such stack file (stack {stack!r})"])
    with open(path, "rb") as f:  # capped: parse_side refuses what is over the cap
        return Side("working tree", f.read(MAX_STACK_FILE_BYTES + 1))


def parse_side(side: Side, stack: str) -> ClusterSpec | None:
    """The spec of one side; InputError lines name the side so a broken base is told
    apart from a broken working tree."""
    if side.text is None:
        return None
    where = f"Pulumi.{stack}.yaml ({side.label})"
    doc = parse_stack_bytes(side.text, where)  # capped, UTF-8, no duplicate keys or bombs
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict) or CONFIG_ROOT not in config:
        raise InputError([f"{where}: config.{CONFIG_ROOT} is missing"])
    try:
        return parse_spec(config[CONFIG_ROOT])
    except InputError as exc:
        raise InputError([f"{where}: {p}" for p in exc.problems]) from None
