"""Live simulated nodes (infra.sim.live): systemd booted under systemd-nspawn over the
shared Debian root, on 127.0.92.0/29 and (the CLI) 127.0.92.64/26. Real systemd, sshd,
reboots and kills; the Debian root is built on first use (cached per machine), never
skipped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fleetutil import project_in_test_range, require_fleet_tools, running_fleet

from infra.cli import main
from infra.sim import live
from infra.sim.hardware import Hardware

pytestmark = pytest.mark.integration


def _ssh(fleet, host: str, command: str) -> str:
    proc = subprocess.run(
        ["ssh", "-F", str(fleet.ssh_config), "-o", "BatchMode=yes", host, command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, (host, command, proc.stderr)
    return proc.stdout


def _leftovers(state: Path, names: list[str]) -> list[str]:
    """Processes whose command line or cwd names the state dir, the nodes' cgroups, nspawn
    propagation dirs on the host's /run: what `down` must leave none of."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(state) in cmdline:
            found.append(f"process {proc.name}: {cmdline[:80]}")
    for base in live._cgroup_bases():
        if (base / live.CGROUP_PARENT).exists():
            found.append(f"cgroup {base / live.CGROUP_PARENT}")
    for name in names:
        if Path("/run/systemd/nspawn/propagate", name).exists():
            found.append(f"/run/systemd/nspawn/propagate/{name}")
    return found


def test_live_nodes_boot_systemd_reboot_crash_and_leave_nothing(tmp_path):
    state = tmp_path / "state"
    hardware = Hardware()
    with running_fleet(state, 2, network="127.0.92.0/29", hardware=hardware, live=True) as fleet:
        assert json.loads(fleet.connection.read_text())["live"] is True
        ids = set()
        for host in ("node01", "node02"):
            out = _ssh(fleet, host, "hostname; cat /proc/1/comm; systemctl is-system-running")
            name, init, running = out.split()
            assert (name, init) == (host, "systemd")
            assert running in ("running", "degraded"), _ssh(fleet, host, "systemctl --failed")
            ids.add(_ssh(fleet, host, "cat /etc/machine-id").strip())
            # sshd is the Debian ssh.service the node's systemd started, on its own address.
            assert _ssh(fleet, host, "systemctl is-active ssh").strip() == "active"
        assert len(ids) == 2
        # Each node writes its own layer over the shared read-only root.
        _ssh(fleet, "node01", "echo one > /etc/written-on-node01")
        assert _ssh(fleet, "node02", "test -e /etc/written-on-node01 || echo absent") == "absent\n"
        assert not (fleet.lower / "etc/written-on-node01").exists()
        # The modprobe stand-in: loaded fixture modules succeed, anything else fails.
        assert _ssh(fleet, "node01", "modprobe -a mlx5_ib ib_umad; echo $?") == "0\n"
        out = _ssh(fleet, "node01", "modprobe no_such_module 2>&1; echo $?")
        assert "FATAL: Module no_such_module not found" in out and out.endswith("1\n")
        # A reboot from inside: the container boots again, with a new boot ID, same disk.
        boot_id = _ssh(fleet, "node01", "cat /proc/sys/kernel/random/boot_id")
        subprocess.run(
            [
                "ssh",
                "-F",
                str(fleet.ssh_config),
                "-o",
                "BatchMode=yes",
                "node01",
                "systemctl reboot",
            ],
            capture_output=True,
            timeout=60,
        )
        fleet.wait_booted("node01", boots=2)
        assert _ssh(fleet, "node01", "cat /proc/sys/kernel/random/boot_id") != boot_id
        assert _ssh(fleet, "node01", "cat /etc/written-on-node01") == "one\n"
        # A crash kills the node's systemd and everything under it; restart boots it again.
        fleet.crash("node02")
        assert [s.running for s in fleet.status()] == [True, False]
        fleet.restart("node02")
        assert _ssh(fleet, "node02", "cat /proc/1/comm") == "systemd\n"
    assert not state.exists()
    assert _leftovers(state, ["node01", "node02"]) == []


def test_root_hash_follows_the_package_list():
    assert live.root_hash() == live.root_hash(reversed(live.LIVE_PACKAGES))
    assert live.root_hash() != live.root_hash((*live.LIVE_PACKAGES, "vim-tiny"))
    assert live.root_path().name == f"live-root-{live.root_hash()}"


def test_sim_up_live_status_down(project_dir: Path, tmp_path: Path, capsys):
    require_fleet_tools()
    project = project_in_test_range(project_dir, tmp_path / "project", "127.0.92.64/26")
    args = ["--stack", "dev", "--project-dir", str(project)]
    assert main(["sim", "up", *args, "--nodes", "2", "--live", "--json"]) == 0
    try:
        up = json.loads(capsys.readouterr().out)
        assert up["live"] is True
        connection = json.loads((project / ".sim/fleet/connection.json").read_text())
        assert connection["live"] is True
        out = subprocess.run(
            ["ssh", "-F", connection["ssh_config"], "-o", "BatchMode=yes", "hall1-su001-n02",
             "cat /proc/1/comm; nvidia-smi -q -x | grep -c '<gpu id='"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.stdout.split() == ["systemd", "8"], out.stderr
        assert main(["sim", "status", *args, "--json"]) == 0
        assert [s["ssh"] for s in json.loads(capsys.readouterr().out)["nodes"]] == [True, True]
    finally:
        assert main(["sim", "down", *args]) == 0
    assert not (project / ".sim").exists()
    assert _leftovers(project / ".sim", ["hall1-su001-n01", "hall1-su001-n02"]) == []


def test_live_and_controllers_refused(project_dir: Path, capsys):
    code = main(["sim", "up", "--project-dir", str(project_dir), "--live", "--controllers", "1"])
    assert code == 2
    assert "--controllers: not with --live" in capsys.readouterr().err
