"""Finding the simulated site: the one place that knows where `supercluster sim up` keeps
it and which stack it runs.

A command uses the simulated site only when told to: `--sim` (explicit), or a record that
`sim up --stack NAME` wrote for that very stack (`<state>/site.json`, removed by `sim down`).
The state dir merely existing, or holding a fleet or BMCs, never switches a command onto
the simulated site: a real site's `bmc status` must not quietly talk to an emulator.

Layout of a state dir (default `<project>/.sim/`, `--state-dir` elsewhere):

    site.json   {"stack": NAME}: the stack `sim up` started the site for
    fleet/      the sshd nodes (connection.json: user, key, known_hosts, hosts)
    bmc/        the Redfish emulator (endpoint.json, credentials.json)
    mirror/     the vendor package mirror
    deploy/     the Pulumi workspace of `up --sim`
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra.errors import EnvironmentProblem, InputError
from infra.fsutil import atomic_write

DEFAULT_DIR = ".sim"
RECORD = "site.json"


def state_dir(project_dir: Path, given: Path | None = None) -> Path:
    """Where the simulated site lives: `given` (--state-dir), else <project>/.sim."""
    return (given or Path(project_dir) / DEFAULT_DIR).resolve()


def connection_file(state: Path) -> Path:
    """The fleet's connection.json: SSH user, key, known_hosts and the nodes' addresses."""
    return Path(state) / "fleet" / "connection.json"


def read_connection(state: Path, stack: str) -> dict:
    """The fleet's connection.json. No nodes up there: EnvironmentProblem naming it and
    what to run (exit 3, like `bmc status --sim` or `up --sim` with no sim up: a service
    that should be running is not); a damaged file: InputError (exit 2)."""
    path = connection_file(state)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise EnvironmentProblem(
            f"{path}: no simulated nodes; run `supercluster sim up --stack {stack}`"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError([f"{path}: unreadable ({exc}); run `supercluster sim up` again"]) from None
    if not isinstance(data, dict):
        raise InputError([f"{path}: not a JSON object; run `supercluster sim up` again"])
    return data


def record(state: Path, stack: str) -> Path:
    """`sim up`: this site now runs `stack` (commands on that stack use it, and say so)."""
    path = Path(state) / RECORD
    atomic_write(path, json.dumps({"stack": stack}, indent=1) + "\n", 0o600)
    return path


def forget(state: Path) -> None:
    """`sim down`: no stack runs on this site any more."""
    (Path(state) / RECORD).unlink(missing_ok=True)


def recorded_stack(state: Path) -> str | None:
    """The stack `sim up` recorded in `state`, None when there is no (readable) record."""
    try:
        data = json.loads((Path(state) / RECORD).read_text())
    except (OSError, ValueError):
        return None
    stack = data.get("stack") if isinstance(data, dict) else None
    return stack if isinstance(stack, str) else None


@dataclass(frozen=True)
class Found:
    """The simulated site a command runs against, and why (for the stderr line)."""

    state_dir: Path
    explicit: bool  # --sim; False: chosen by the record of `sim up`

    def notice(self) -> str:
        if self.explicit:
            return f"using the simulated site at {self.state_dir} (--sim)"
        return f"using the simulated site started by `sim up` at {self.state_dir}"


def find(project_dir: Path, stack: str, sim: bool, given: Path | None = None) -> Found | None:
    """The simulated site for a command on `stack`: with `sim` (--sim) the state dir
    whatever it holds (the caller says what is missing); without, only a state dir whose
    record names `stack`. None: the command runs against the real site."""
    state = state_dir(project_dir, given)
    if sim:
        return Found(state, explicit=True)
    if recorded_stack(state) == stack:
        return Found(state, explicit=False)
    return None
