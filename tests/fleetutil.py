"""Bring up a simulated fleet (real sshd per node) for a test and always tear it down.

Shared by the sim, fleet and Ansible tests. Each area passes its own loopback range so
parallel runs never collide: sim/fleet tests 127.0.20.0/24, Ansible tests 127.0.10.0/24,
the `up --sim` engine test 127.0.21.192/26
(`sim up --stack dev` itself uses the design's 127.0.1.0/24).

    with running_fleet(tmp_path / "sim", 4, network="127.0.10.0/24") as fleet:
        fleet.key_path, fleet.known_hosts, fleet.ssh_config, fleet.hosts()
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from infra.sim.fleet import Fleet, loopback_hosts
from infra.sim.hardware import Hardware
from infra.sim.live import LiveFleet


def project_in_test_range(src: Path, dst: Path, mgmt_cidr: str = "127.0.20.192/26") -> Path:
    """The dev stack with its management network moved into a test loopback range, so a
    test never touches the real `sim up --stack dev` addresses."""
    dst.mkdir()
    shutil.copy(src / "Pulumi.yaml", dst / "Pulumi.yaml")
    config = yaml.safe_load((src / "Pulumi.dev.yaml").read_text())
    config["config"]["supercluster:cluster"]["addressing"]["mgmt_cidr"] = mgmt_cidr
    (dst / "Pulumi.dev.yaml").write_text(yaml.safe_dump(config))
    return dst


def require_fleet_tools() -> None:
    """Fail (never skip) with a clear message where the fleet cannot run."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the simulated fleet needs root (namespaces, overlay mounts)")
    for tool in ("unshare", "chroot", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            problems.append(f"{tool} not found (scripts/setup.sh installs it)")
    if not Path("/usr/sbin/sshd").exists():
        problems.append("/usr/sbin/sshd missing: apt-get install openssh-server")
    assert not problems, "; ".join(problems)


def require_live_tools() -> None:
    """Fail (never skip) where live nodes cannot run: scripts/setup.sh installs both."""
    missing = [t for t in ("systemd-nspawn", "debootstrap") if not shutil.which(t)]
    assert not missing, f"{missing} not found: apt-get install systemd-container debootstrap"


@contextmanager
def running_fleet(
    state_dir: Path,
    count: int,
    *,
    network: str = "127.0.20.0/24",
    prefix: str = "node",
    hardware: Mapping[str, Hardware] | Hardware | None = None,
    hosts: list[tuple[str, str]] | None = None,
    shared: list[Path] | None = None,
    live: bool = False,
) -> Iterator[Fleet]:
    """`live=True`: nodes that boot systemd (infra.sim.live; the Debian root is built on
    first use, then cached per machine). Live tests use 127.0.90.0-127.0.99.255."""
    require_fleet_tools()
    if live:
        require_live_tools()
    fleet = LiveFleet(state_dir) if live else Fleet(state_dir)
    fleet.up(hosts or loopback_hosts(count, network, prefix), hardware, shared=shared or ())
    try:
        yield fleet
    finally:
        fleet.down()
