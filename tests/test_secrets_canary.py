"""Secrets never reach a file. An operator exports PULUMI_CONFIG_PASSPHRASE and
SUPERCLUSTER_BMC_PASSWORD; with a canary value of each (new per run) in the environment,
the real `supercluster` CLI deploys onto a simulated site (`up --sim`, the real Pulumi
engine), reads the BMCs (`bmc status`), writes the inventory, configures the nodes
(`configure`, ansible-runner), and reviews the stack (`plan --with-preview
--with-config-check`: a Pulumi preview of the project's own stack, Ansible check mode).
Then every file under the test's directory (the project, its .sim state and Pulumi state,
artifacts, caches, out/, HOME and TMPDIR) is grepped for the canaries, and every running
process's environment too (the simulated nodes and BMCs must not carry the operator's
secrets).

Loopback only: the nodes on 127.0.42.0/24, the BMC addresses in 127.0.43.0/24, their
emulator on 127.0.43.254."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fleetutil import project_in_test_range, require_fleet_tools

from infra.nodes import configure
from infra.sim import bmc
from infra.sim.fleet import Fleet

VENV_BIN = Path(sys.executable).parent
MGMT_CIDR = "127.0.42.0/24"
BMC_CIDR = "127.0.43.0/24"
EMULATOR_HOST = "127.0.43.254"
NODES = 2


# -- fast: the parts, no simulated site -------------------------------------------------


def test_the_playbooks_environment_holds_none_of_the_callers(monkeypatch) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("SUPERCLUSTER_BMC_PASSWORD", canary)
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    prepared = {**os.environ, "AWX_ISOLATED_DATA_DIR": "/a/run", "ANSIBLE_HOST_KEY_CHECKING": "0"}
    env = configure._child_env(prepared, {"ANSIBLE_CONFIG": "/p/ansible.cfg", "PATH": "/v"})
    assert canary not in json.dumps(env)
    assert "SUPERCLUSTER_BMC_PASSWORD" not in env
    # What ansible-runner's callback needs, ours, and the caller's agent stay.
    assert env["AWX_ISOLATED_DATA_DIR"] == "/a/run"
    assert (env["ANSIBLE_CONFIG"], env["PATH"]) == ("/p/ansible.cfg", "/v")
    assert env["SSH_AUTH_SOCK"] == "/run/agent.sock"


def test_rotation_keeps_the_newest_runs_and_the_fact_cache(tmp_path: Path) -> None:
    facts = configure.private_tree(tmp_path / "facts")
    (facts / "node-001").write_text("{}")
    runs = []
    for i in range(5):
        run = tmp_path / f"run{i}"
        run.mkdir(mode=0o755)
        (run / "command").write_text("{}")
        (run / "summary.json").write_text("{}")
        os.utime(run, (1_000_000 + i, 1_000_000 + i))
        runs.append(run)
    (tmp_path / "notes").mkdir()  # not a run: left alone
    removed = configure.rotate_runs(tmp_path, keep=2)
    assert removed == runs[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts", "notes", "run3", "run4"]
    # The kept runs closed to others, as new ones are.
    for run in runs[3:]:
        assert _mode(run) == 0o700 and _mode(run / "summary.json") == 0o600


def test_a_kept_run_recorded_before_loses_the_secrets(tmp_path: Path) -> None:
    """A run saved by an older version holds the operator's whole environment in its
    `command` record; the next rotation keeps the record but not the secrets."""
    canary = f"canary-{uuid.uuid4().hex}"
    run = tmp_path / "old-run"
    run.mkdir()
    safe = {"PATH": "/usr/bin", "ANSIBLE_CONFIG": "/p/ansible.cfg"}
    env = {**safe, "PULUMI_CONFIG_PASSPHRASE": canary}
    record = {"command": ["ansible-playbook", "site.yml"], "cwd": "/p", "env": env}
    (run / "command").write_text(json.dumps(record))
    configure.rotate_runs(tmp_path, keep=5)
    kept = json.loads((run / "command").read_text())
    assert canary not in (run / "command").read_text()
    assert kept["env"] == safe
    assert kept["command"] == record["command"] and _mode(run / "command") == 0o600


def test_fact_cache_from_before_is_closed(tmp_path: Path) -> None:
    facts = tmp_path / "facts"
    facts.mkdir(mode=0o755)
    (facts / "node-001").write_text("{}")
    (facts / "node-001").chmod(0o644)
    configure.private_tree(facts)
    assert (_mode(facts), _mode(facts / "node-001")) == (0o700, 0o600)


# -- the whole path through the CLI ------------------------------------------------------


@pytest.mark.integration
def test_no_secret_reaches_a_file_or_a_simulated_host(
    project_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    require_fleet_tools()
    bmc_password = f"canary-bmc-{uuid.uuid4().hex}"
    passphrase = f"canary-pp-{uuid.uuid4().hex}"
    canaries = (bmc_password.encode(), passphrase.encode())
    project = _project(project_dir, tmp_path)
    env = _operator_env(tmp_path, bmc_password, passphrase)
    # The simulated site starts from this process, exactly as `sim up` starts it: with the
    # operator's secrets in its environment too.
    for key in ("SUPERCLUSTER_BMC_PASSWORD", "PULUMI_CONFIG_PASSPHRASE"):
        monkeypatch.setenv(key, env[key])
    state = project / ".sim"
    with _simulated_site(project, state):
        cli = _Cli(project, env)
        cli("up", "--sim")
        status = json.loads(cli("bmc status", "--sim", "--json").stdout)
        assert status["summary"]["in_profile"] == NODES, status["summary"]
        cli("inventory", "--sim")
        done = cli("configure", "--playbook", "host")
        assert "configure: successful" in done.stdout, done.stdout[-2000:]
        cli("plan", "--with-preview", "--with-config-check")
        # Everything the commands wrote is where this test looks (else it proves nothing):
        # configure's run and the plan's Ansible check-mode run.
        run_dirs = [p for p in (project / "artifacts/configure/dev").iterdir() if p.name != "facts"]
        assert len(run_dirs) == 1 and (run_dirs[0] / "command").is_file()
        assert any((p / "command").is_file() for p in (project / "artifacts/plan/dev").iterdir())
        assert any((project / "artifacts/configure/dev/facts").iterdir())
        assert (state / "deploy/.pulumi").is_dir() and (project / ".pulumi").is_dir()
        assert (project / "out/dev/review/review.json").is_file()
        assert not _holding(canaries), "a running process holds an operator secret"
        _assert_private(project, state, run_dirs[0])
        offenders = _files_holding(tmp_path, canaries)
        assert not offenders, f"an operator secret reached {[str(p) for p in offenders]}"
        # The simulated BMCs' own password: only in their secret store (0600).
        sim_password = json.loads((state / "bmc/credentials.json").read_text())["password"]
        assert _files_holding(tmp_path, (sim_password.encode(),)) == [
            state / "bmc/credentials.json"
        ]


def _project(project_dir: Path, tmp_path: Path) -> Path:
    """The dev stack in the test's address ranges, with what configure and plan read: the
    playbooks and ansible.cfg (links: only read), the site-wide inventory (a copy), and a
    git repository for plan's base."""
    project = project_in_test_range(project_dir, tmp_path / "project", MGMT_CIDR)
    stack_file = project / "Pulumi.dev.yaml"
    config = yaml.safe_load(stack_file.read_text())
    config["config"]["supercluster:cluster"]["addressing"]["bmc_cidr"] = BMC_CIDR
    stack_file.write_text(yaml.safe_dump(config))
    for name in ("playbooks", "ansible.cfg"):
        (project / name).symlink_to(project_dir / name)
    (project / "inventory").mkdir()
    shutil.copytree(project_dir / "inventory/group_vars", project / "inventory/group_vars")
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return project


def _operator_env(tmp_path: Path, bmc_password: str, passphrase: str) -> dict[str, str]:
    """An operator's shell: the two secrets exported, HOME and TMPDIR inside the test's
    directory so whatever lands there is grepped too."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "SUPERCLUSTER_BMC_USERNAME": "operator",
        "SUPERCLUSTER_BMC_PASSWORD": bmc_password,
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        # A run from another copy of the tree (a checkout under test) imports that copy.
        **{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ},
    }


class _Cli:
    """`supercluster COMMAND --stack dev --project-dir PROJECT ARGS` in the operator's
    environment; a failure shows its output."""

    def __init__(self, project: Path, env: dict[str, str]):
        self.project, self.env = project, env

    def __call__(self, command: str, *args: str) -> subprocess.CompletedProcess:
        argv = [*command.split(), "--stack", "dev", "--project-dir", str(self.project), *args]
        proc = subprocess.run(
            [str(VENV_BIN / "supercluster"), *argv],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc


@contextlib.contextmanager
def _simulated_site(project: Path, state: Path) -> Iterator[None]:
    """What `sim up --nodes 2 --no-hardware` starts (the nodes' sshd, their BMCs), on the
    test's addresses; always torn down."""
    from infra.design import compile_design
    from infra.spec import load_spec

    nodes = list(compile_design(load_spec("dev", project), stack="dev").nodes)[:NODES]
    fleet = Fleet(state / "fleet")
    try:
        fleet.up([(n.name, n.mgmt_ip) for n in nodes])
        port = bmc.free_port(EMULATOR_HOST)
        bmc.start_emulator(nodes, state, host=EMULATOR_HOST, port=port)
        yield
    finally:
        fleet.down()
        bmc.destroy_emulator(state)


def _files_holding(root: Path, needles: tuple[bytes, ...]) -> list[Path]:
    """Regular files under root (links not followed) whose bytes hold any needle."""
    hits = []
    for path in _files(root):
        data = path.read_bytes()
        if any(n in data for n in needles):
            hits.append(path)
    return sorted(hits)


def _files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):  # os.walk follows no directory link
        for name in names:
            path = Path(dirpath) / name
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def _holding(needles: tuple[bytes, ...]) -> list[str]:
    """Running processes whose environment holds a needle (the test's own process got its
    copies after it started, so its /proc environ does not)."""
    hits = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone meanwhile
            continue
        if any(n in environ for n in needles):
            hits.append(f"{proc.name}: {cmdline.decode(errors='replace')[:120]}")
    return hits


def _assert_private(project: Path, state: Path, run_dir: Path) -> None:
    """Runner artifacts, the fact cache, Pulumi state and the BMCs' secrets: 0700/0600."""
    facts = project / "artifacts/configure/dev/facts"
    for directory in (run_dir, run_dir / "job_events", facts, project / ".pulumi"):
        assert _mode(directory) == 0o700, directory
    for directory in (state / "deploy", state / "deploy/.pulumi", state / "bmc"):
        assert _mode(directory) == 0o700, directory
    for path in (*_files(run_dir), *_files(facts), state / "bmc/htpasswd"):
        assert _mode(path) == 0o600, path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)
