"""The roce role on simulated Spectrum-X nodes (real sshd, real Ansible; the NICs are
fixtures: no RoCE NIC exists here): check mode reports changes, the real run sets each NIC's
QoS through mlnx_qos and writes the per-rail networkd units, a second run changes nothing;
NCCL is configured for RoCE; acceptance and `supercluster health` (infra.fleet.run.health)
pass the clean node and each name an injected fault: trust pcp, PFC off on priority 3, a
wrong GID type, a link at 200 Gb/s.

Four nodes of a dev-size Spectrum-X design on 127.0.70.0/24, their vendor mirror on
127.0.70.254; the NICs start as from the factory (trust pcp, no PFC, rdma_cm on RoCE v1);
node 4's rail 2 runs at 200 Gb/s from the start."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from fleetutil import running_fleet
from roceutil import PROJECT_DIR, spectrum_x_design

from infra.catalog import load_catalog
from infra.fleet.health import expectation_for
from infra.fleet.roce import SIM_SYSFS
from infra.fleet.run import Host, health
from infra.fleet.ssh import SshOptions
from infra.nodes import configure, inventory
from infra.sim import testrepo
from infra.sim.hardware import Hardware, nic_netdev

pytestmark = pytest.mark.integration

ONE_BATCH = {"supercluster_serial": "100%"}
FACTORY = {"link_layer": "Ethernet", "roce_trust": "pcp", "roce_pfc": (0,) * 8}
REPO_HOST = "127.0.70.254"
DRIVER = "550.90.07"


@pytest.fixture(scope="module")
def design():
    return spectrum_x_design(mgmt_cidr="127.0.70.0/24")


@pytest.fixture(scope="module")
def site(tmp_path_factory, design):
    tmp = tmp_path_factory.mktemp("roce")
    nodes = list(design.nodes[:4])
    names = [n.name for n in nodes]
    hardware = {name: Hardware(**FACTORY, roce_cma_mode="IB/RoCE v1") for name in names}
    hardware[names[3]] = Hardware(**FACTORY, rail_rates={2: 200})
    repo = testrepo.build(tmp / "repo")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(testrepo.serve(repo, REPO_HOST))
        fleet = stack.enter_context(
            running_fleet(
                tmp / "sim", 0, hosts=[(n.name, n.mgmt_ip) for n in nodes], hardware=hardware
            )
        )
        connection = json.loads(fleet.connection.read_text())
        models = inventory.models_from_catalog(load_catalog())
        files = inventory.render("roce", nodes, models, connection, design=design)
        files["group_vars/all/mirror.yml"] = (
            f"vendor_repo_url: {url}\nvendor_repo_suite: ./\nvendor_repo_keyring: ''\n"
        )
        inv = tmp / "inventory" / "roce"
        inventory.write(inv, files)
        yield Site(fleet, inv, tmp / "artifacts", names)


class Site:
    def __init__(self, fleet, inventory_dir, artifacts_dir, names):
        self.fleet, self.inventory_dir, self.artifacts_dir = fleet, inventory_dir, artifacts_dir
        self.names = names

    def run(self, **kwargs) -> configure.RunResult:
        return configure.run(
            project_dir=PROJECT_DIR,
            inventory_dir=self.inventory_dir,
            artifacts_dir=self.artifacts_dir,
            extravars=ONE_BATCH,
            out=None,
            **kwargs,
        )

    def ssh(self, host: str, command: str) -> str:
        import subprocess

        proc = subprocess.run(
            ["ssh", "-F", str(self.fleet.ssh_config), "-o", "BatchMode=yes", host, command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, f"{host}: {command}: {proc.stderr.strip()}"
        return proc.stdout


@pytest.fixture(scope="module")
def runs(site):
    out = {}
    out["check1"] = site.run(playbook="network", tags="roce", check=True)
    out["apply1"] = site.run(playbook="network", tags="roce")
    out["nccl"] = site.run(playbook="nccl")
    out["apply2"] = site.run(playbook="network", tags="roce")
    out["check2"] = site.run(playbook="network", tags="roce", check=True)
    return out


def test_check_mode_reports_the_roce_changes(runs):
    check = runs["check1"]
    assert check.rc == 0, (check.failed, check.unreachable)
    assert check.changed_by_role["roce"] > 0


def test_real_run_configures_every_rail(site, runs):
    apply = runs["apply1"]
    assert apply.rc == 0, (apply.failed, apply.unreachable)
    node = site.names[1]
    unit = site.ssh(node, "cat /etc/systemd/network/60-supercluster-roce-rail3.network")
    assert f"Name={nic_netdev(3)}\n" in unit
    assert "MTUBytes=9000\n" in unit
    assert "Address=127.74.0.23/31\n" in unit  # node 2 (index 1), rail 3: the 12th /31
    assert "Gateway=127.74.0.22\n" in unit
    assert "Destination=127.74.0.0/23\n" in unit and "Table=103\n" in unit
    assert "From=127.74.0.23/32\n" in unit
    units = site.ssh(node, "ls /etc/systemd/network/ | grep -c supercluster-roce-rail")
    assert units.strip() == "8"
    # The NIC now holds the lossless profile (read back through the mlnx_qos stand-in).
    qos = site.ssh(node, f"mlnx_qos -i {nic_netdev(6)}")
    assert "Priority trust state: dscp" in qos
    assert "enabled     0   0   0   1   0   0   0   0" in qos
    assert site.ssh(node, "cma_roce_mode -d mlx5_6 -p 1").strip() == "RoCE v2"
    wants = site.ssh(node, "ls /etc/systemd/system/multi-user.target.wants/")
    assert "supercluster-roce-qos.service" in wants
    script = site.ssh(node, "cat /usr/local/sbin/supercluster-roce-qos")
    assert f"mlnx_qos -i {nic_netdev(0)} --trust dscp --pfc 0,0,0,1,0,0,0,0" in script


def test_second_run_changes_nothing(runs):
    for name in ("apply2", "check2"):
        again = runs[name]
        assert again.rc == 0, (again.failed, again.unreachable)
        assert again.changed_hosts == {}, again.changed_tasks


def test_nccl_conf_for_roce(site, runs):
    assert runs["nccl"].rc == 0, runs["nccl"].failed
    conf = site.ssh(site.names[0], "cat /etc/nccl.conf")
    hcas = ",".join(f"mlx5_{r}:1" for r in range(8))
    assert f"NCCL_IB_HCA=={hcas}\n" in conf
    assert "NCCL_IB_GID_INDEX=3\n" in conf
    assert "NCCL_IB_TC=106\n" in conf
    assert "NCCL_IB_PKEY" not in conf


def _health(site, design) -> dict[str, dict]:
    nodes = {n.name: n for n in design.nodes}
    nics = {}
    for nic in design.nics_l3:
        nics.setdefault(nic.node, []).append((nic.rail, nic.device))
    hosts = [Host(name, ip, node=nodes[name]) for name, ip in site.fleet.hosts()]
    options = SshOptions(site.fleet.key_path, site.fleet.known_hosts, connect_timeout_s=5.0)

    def expect(host):
        return expectation_for(host.node, DRIVER, "spectrum_x", nics=tuple(nics[host.name]))

    return {r["name"]: r for r in health(hosts, options, expect)}


def _failed(result: dict) -> dict[str, str]:
    return {c["check"]: str(c["actual"]) for c in result.get("checks", []) if not c["ok"]}


@pytest.fixture(scope="module")
def faults(site, runs, design):
    """Acceptance and health before and after the faults are injected."""
    _, n2, n3, _ = site.names
    before = site.run(playbook="acceptance"), _health(site, design)
    site.ssh(n2, f"mlnx_qos -i {nic_netdev(0)} --trust pcp")
    site.ssh(n3, f"mlnx_qos -i {nic_netdev(3)} --pfc 0,0,0,0,0,0,0,0")
    gid = f"{SIM_SYSFS}/class/infiniband/mlx5_5/ports/1/gid_attrs/types/3"
    site.ssh(n3, f"echo 'IB/RoCE v1' > {gid}")
    after = site.run(playbook="acceptance"), _health(site, design)
    return before, after


def test_clean_nodes_pass_acceptance_and_health(site, faults):
    (accept, checks), _ = faults
    n1, n2, n3, n4 = site.names
    assert set(accept.failed) == {n4}, accept.failed  # only the 200G link, from the start
    for name in (n1, n2, n3):
        assert checks[name]["status"] == "ok", _failed(checks[name])
    assert _failed(checks[n4]) == {"rail 2": "mlx5_2 Active at 200 Gb/s Ethernet"}


def test_each_fault_is_named_by_acceptance_and_health(site, faults):
    _, (accept, checks) = faults
    n1, n2, n3, n4 = site.names
    assert set(accept.failed) == {n2, n3, n4}, accept.failed
    assert f"{n2}: rail 0 (mlx5_0): {nic_netdev(0)} trust pcp (expected dscp)" in accept.failed[n2]
    assert (
        f"{n3}: rail 3 (mlx5_3): {nic_netdev(3)} PFC enabled 0,0,0,0,0,0,0,0 "
        "(expected 0,0,0,1,0,0,0,0: priority 3 only)"
    ) in accept.failed[n3]
    assert f"{n3}: rail 5 (mlx5_5): GID 3 type IB/RoCE v1 (expected RoCE v2)" in accept.failed[n3]
    assert f"{n4}: rail 2 (mlx5_2): rate 200 Gb/s (expected 400)" in accept.failed[n4]
    assert checks[n1]["status"] == "ok", _failed(checks[n1])
    assert _failed(checks[n2]) == {"rail 0 trust": "trust pcp"}
    assert _failed(checks[n3]) == {
        "rail 3 pfc": "PFC on priorities none",
        "rail 5 gid 3": "mlx5_5 GID 3: IB/RoCE v1",
    }
    assert _failed(checks[n4]) == {"rail 2": "mlx5_2 Active at 200 Gb/s Ethernet"}


def test_fabric_health_checks_the_routed_nics_of_spectrum_x_nodes(site, runs):
    """fabric_health.yml's node play, as an operator runs it (ansible-playbook -i
    inventory/<stack>), reads each rail NIC of node_rails: the node whose rail 2 links at
    200 Gb/s fails with that count, the others pass."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"))
    done = subprocess.run(
        [sys.executable, "-m", "ansible.cli.playbook", "-i", str(site.inventory_dir),
         str(PROJECT_DIR / "playbooks" / "fabric_health.yml"), "--limit", "gpu_nodes"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = done.stdout
    n4 = site.names[3]
    assert done.returncode != 0, out[-3000:]
    assert re.search(rf"{n4} \(rails mlx5_0,mlx5_1,.*mlx5_7\): .*below rate 1", out), out[-3000:]
    for name in site.names[:3]:
        assert re.search(rf"{name}\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", out), out
