"""The simulated fleet: real sshd per node, isolated roots, and nothing left after down."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from fleetutil import running_fleet

from infra.sim.fleet import Fleet, FleetError, loopback_hosts
from infra.sim.hardware import Hardware


def ssh(fleet: Fleet, host: str, command: str, **kw) -> subprocess.CompletedProcess:
    """The real OpenSSH client with the project's config, key and known_hosts."""
    return subprocess.run(
        ["ssh", "-F", str(fleet.ssh_config), "-o", "BatchMode=yes", host, command],
        capture_output=True,
        text=True,
        timeout=30,
        **kw,
    )


def leftovers(state_dir: Path, ips: list[str]) -> list[str]:
    """Processes whose mounts mention the state dir, and listeners on the fleet's IPs."""
    found = []
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            if str(state_dir) in mountinfo.read_text():
                found.append(f"process {mountinfo.parent.name} still mounts {state_dir}")
        except OSError:
            continue  # the process exited while we looked
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    found += [f"{ip}:22 still listening" for ip in ips if f"{ip}:22 " in listening]
    return found


@pytest.mark.integration
def test_each_node_is_its_own_host(sim_fleet: Fleet):
    for name, ip in sim_fleet.hosts():
        out = ssh(sim_fleet, name, "hostname; cat /proc/1/comm; echo $(id -u)")
        assert out.returncode == 0, out.stderr
        hostname, init, uid = out.stdout.split()
        assert (hostname, init, uid) == (name, "sshd", "0"), ip


@pytest.mark.integration
def test_node_roots_are_isolated_overlays(sim_fleet: Fleet):
    assert ssh(sim_fleet, "node01", "echo only-here > /etc/sim-marker").returncode == 0
    assert ssh(sim_fleet, "node01", "cat /etc/sim-marker").stdout == "only-here\n"
    assert ssh(sim_fleet, "node02", "test -e /etc/sim-marker").returncode == 1
    assert not Path("/etc/sim-marker").exists()
    upper = sim_fleet.state_dir / "nodes/node01/upper/etc/sim-marker"
    assert upper.read_text() == "only-here\n"  # the write landed in the node's upper dir
    # Nodes cannot see the state dir (other nodes' layers, the project's private key).
    probe = ssh(sim_fleet, "node01", f"ls -A {sim_fleet.state_dir} | wc -l")
    assert probe.stdout.strip() == "0"


@pytest.mark.integration
def test_host_keys_are_per_node_and_verified(sim_fleet: Fleet, tmp_path: Path):
    lines = sim_fleet.known_hosts.read_text().splitlines()
    keys = {line.split()[2] for line in lines}
    assert len(lines) == len(keys) == 4
    # A known_hosts holding node01's key for node02's address: ssh must refuse.
    _name2, ip2 = sim_fleet.hosts()[1]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{ip2} ssh-ed25519 {lines[0].split()[2]}\n")
    out = subprocess.run(
        ["ssh", "-i", str(sim_fleet.key_path), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={wrong}", "-o", "StrictHostKeyChecking=yes",
         f"root@{ip2}", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in out.stderr


@pytest.mark.integration
def test_hardware_fixtures_per_node(sim_fleet: Fleet):
    node02 = ssh(sim_fleet, "node02", "nvidia-smi -q -x; ibstat mlx5_3; ls /sys/module")
    assert node02.stdout.count("<gpu id=") == 7
    assert "State: Down" in node02.stdout and "nvidia_peermem" in node02.stdout
    node01 = ssh(sim_fleet, "node01", "nvidia-smi -q -x")
    assert node01.returncode != 0  # node01 has no fixture: no nvidia-smi at all
    assert "command not found" in node01.stderr


@pytest.mark.integration
def test_32_nodes_up_in_seconds_and_down_leaves_nothing(tmp_path: Path):
    state = tmp_path / "state"
    hosts = loopback_hosts(32, "127.0.20.64/26")
    started = time.monotonic()
    with running_fleet(state, 32, hosts=hosts, hardware=Hardware()) as fleet:
        up_s = time.monotonic() - started
        assert all(s.running and s.ssh for s in fleet.status())
        assert ssh(fleet, hosts[-1][0], "hostname").stdout.strip() == hosts[-1][0]
        assert leftovers(state, []) != []  # the check sees a running fleet's mounts
    assert up_s < 20, f"32 nodes took {up_s:.1f}s to answer SSH"
    assert leftovers(state, [ip for _, ip in hosts]) == []
    assert not state.exists()
    assert Fleet(state).status() == []


def test_addresses_must_be_loopback(tmp_path: Path):
    with pytest.raises(FleetError, match="not a loopback address"):
        Fleet(tmp_path).up([("n1", "192.0.2.10")])
    with pytest.raises(ValueError, match="not a loopback network"):
        loopback_hosts(2, "10.0.0.0/24")
    assert loopback_hosts(2, "127.0.20.128/25") == [
        ("node01", "127.0.20.129"),
        ("node02", "127.0.20.130"),
    ]


@pytest.mark.integration
def test_second_up_on_same_state_dir_is_refused(sim_fleet: Fleet):
    with pytest.raises(FleetError, match="already up"):
        Fleet(sim_fleet.state_dir).up([("x", "127.0.20.30")])


@pytest.mark.integration
def test_up_on_addresses_another_fleet_serves_is_refused(sim_fleet: Fleet, tmp_path: Path):
    other = tmp_path / "other"
    with pytest.raises(FleetError, match=r"already listens on port 22 of 2 .*node01 \(127"):
        Fleet(other).up(sim_fleet.hosts()[:2])
    assert not other.exists()  # refused before anything was written
    assert all(s.ssh for s in sim_fleet.status())  # the running fleet is untouched


@pytest.mark.integration
def test_crash_then_restart_keeps_the_disk_and_host_key(sim_fleet: Fleet):
    assert ssh(sim_fleet, "node04", "echo survives > /root/disk-marker").returncode == 0
    sim_fleet.crash("node04")
    node04 = {s.name: s for s in sim_fleet.status()}["node04"]
    assert not node04.running and not node04.ssh
    assert ssh(sim_fleet, "node04", "true").returncode == 255  # ssh: connection refused
    assert ssh(sim_fleet, "node01", "true").returncode == 0  # the others are unaffected
    sim_fleet.restart("node04")
    # Same known_hosts entry (StrictHostKeyChecking in the fleet's config), same disk.
    out = ssh(sim_fleet, "node04", "hostname; cat /root/disk-marker")
    assert out.stdout.split() == ["node04", "survives"], out.stderr
    with pytest.raises(FleetError, match="no node 'node09'"):
        sim_fleet.crash("node09")
