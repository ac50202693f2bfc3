"""A node whose host key changed (reinstalled, or someone answering in its place) is
refused by `configure`, with and without Mitogen, and only that node: the others are
configured. Also: the inventory's own setting keeps the check on when the environment
turns it off, and SSH master sockets live in a private directory.

Fresh 3-node fleet on 127.0.41.1-3 (this file's range: 127.0.41.0/28). The reboot
playbook is the cheap one here: no facts, one `find` per node, nothing to install."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from fleetutil import running_fleet
from siteutil import MODELS, PROJECT_DIR, design_nodes

from infra.errors import InputError
from infra.nodes import configure, inventory

pytestmark = pytest.mark.integration

VICTIM = "node02"
OTHERS = ("node01", "node03")
# One node of three may fail without stopping the play for the others.
TOLERANT = {"supercluster_serial": "100%", "supercluster_max_fail_percentage": 50}
# What each SSH path says about a mismatching key (Mitogen's own words; OpenSSH's banner).
REFUSAL = {
    "mitogen_linear": "SSH reported an unrecognized or mismatching host key",
    None: "REMOTE HOST IDENTIFICATION HAS CHANGED",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostkeys")
    with running_fleet(tmp / "sim", 3, network="127.0.41.0/28") as fleet:
        connection = json.loads(fleet.connection.read_text())
        files = inventory.render("test", design_nodes(fleet.hosts()), MODELS, connection)
        inv = tmp / "inventory" / "test"
        inventory.write(inv, files)
        fleet.rekey(VICTIM)  # known_hosts still holds its old key
        yield fleet, inv, tmp / "artifacts"


def _configure(site, strategy: str | None) -> configure.RunResult:
    _, inv, artifacts = site
    return configure.run(
        project_dir=PROJECT_DIR,
        inventory_dir=inv,
        artifacts_dir=artifacts,
        playbook="reboot",
        extravars=TOLERANT,
        strategy=strategy,
        out=None,
    )


@pytest.mark.parametrize("strategy", ["mitogen_linear", None], ids=["mitogen", "ssh"])
def test_configure_refuses_the_changed_host_only(site, strategy):
    result = _configure(site, strategy)
    assert result.rc != 0
    assert set(result.unreachable) == {VICTIM}, (result.unreachable, result.failed)
    assert REFUSAL[strategy] in result.unreachable[VICTIM]
    assert result.hostkey_refused == [VICTIM]
    summary = json.loads((result.artifacts / "summary.json").read_text())
    assert summary["hostkey_refused"] == [VICTIM]
    assert result.failed == {}
    assert result.stats[VICTIM]["ok"] == 0 and result.stats[VICTIM]["dark"] == 1
    for host in OTHERS:  # ran the whole play: one task ok, the rest skipped (nothing due)
        assert result.stats[host]["ok"] >= 1, result.stats
        assert result.stats[host]["failures"] == result.stats[host]["dark"] == 0
    assert result.retry_file.read_text() == f"{VICTIM}\n"


@pytest.mark.parametrize("strategy", ["mitogen_linear", None], ids=["mitogen", "ssh"])
def test_inventory_keeps_checking_when_the_environment_turns_it_off(site, strategy):
    """ansible-runner's default (ANSIBLE_HOST_KEY_CHECKING=False) with the generated sim
    inventory and no supercluster wrapper: the inventory variable alone still refuses."""
    _, inv, _ = site
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        **(configure._strategy_env(strategy) if strategy else {}),
    }
    ansible = Path(sys.executable).parent / "ansible"
    proc = subprocess.run(
        [str(ansible), "-i", str(inv), "gpu_nodes", "-m", "ansible.builtin.ping", "-o"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # `host | STATUS...` starts each host's answer; OpenSSH's banner spans lines.
    answers = dict(re.findall(r"^(node\d+) \| (.*?)(?=^node\d+ \| |\Z)", proc.stdout, re.M | re.S))
    assert proc.returncode != 0, proc.stdout
    assert answers[VICTIM].startswith("UNREACHABLE"), proc.stdout
    assert REFUSAL[strategy] in answers[VICTIM], proc.stdout
    for host in OTHERS:
        assert answers[host].startswith("SUCCESS"), proc.stdout


def test_master_sockets_go_to_a_private_directory(site, monkeypatch):
    runtime = Path(tempfile.mkdtemp(prefix="xdg-"))  # short: socket paths stay < 108 bytes
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        result = _configure(site, None)  # plain ssh: the path that keeps masters
        assert set(result.unreachable) == {VICTIM}
        cp = runtime / "supercluster-cp"
        assert stat.S_IMODE(cp.lstat().st_mode) == 0o700
        sockets = [p for p in cp.iterdir() if stat.S_ISSOCK(p.lstat().st_mode)]
        # One master per configured node, named by OpenSSH's %C hash (40 hex digits).
        assert len(sockets) == len(OTHERS), sorted(p.name for p in cp.iterdir())
        assert all(len(p.name) == 40 and int(p.name, 16) >= 0 for p in sockets)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_control_dir_is_created_private(monkeypatch):
    home = Path(tempfile.mkdtemp(prefix="home-"))
    try:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("HOME", str(home))
        (home / ".cache").mkdir(mode=0o755)
        cp = configure.control_dir()
        assert cp == home / ".cache" / "supercluster" / "cp"
        assert stat.S_IMODE(cp.lstat().st_mode) == 0o700
        cp.chmod(0o777)  # ours but opened up: closed again before use
        assert stat.S_IMODE(configure.control_dir().lstat().st_mode) == 0o700
    finally:
        shutil.rmtree(home)


def test_control_dir_refuses_a_link_or_another_users_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    with pytest.raises(InputError, match="link"):
        configure.private_dir(link)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    os.chown(theirs, 65534, 65534)  # nobody's: as if pre-created under a shared /tmp
    with pytest.raises(InputError, match=str(theirs)):
        configure.private_dir(theirs)


def test_control_dir_too_long_for_a_socket_gets_a_fresh_short_one(monkeypatch, tmp_path):
    deep = tmp_path / ("x" * 60)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    cp = configure.control_dir()
    try:
        assert not cp.is_relative_to(deep)
        assert len(str(cp)) + 1 + 40 + 17 <= 107
        st = cp.lstat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    finally:
        cp.rmdir()
