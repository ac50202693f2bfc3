"""Subnet managers that survive: the dev plane with two dedicated SM hosts (sm1 master,
sm2 standby) under ibsim; the master OpenSM is killed, the standby takes over, the subnet
comes up again under the new master, and the takeover time is measured."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from infra.design import compile_design
from infra.design.model import Design
from infra.fabric.guids import ca_guid, hex_guid, port_guid
from infra.fabric.opensm import render_plane
from infra.fabric.plane import plane_fabric
from infra.fabric.sim import FailoverResult, failover_plane, leftover_processes
from infra.spec import load_spec

from .conftest import PROJECT_DIR


@pytest.fixture(scope="module")
def sm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dev stack with `fabric.subnet_managers: 2`, as stack `devsm`."""
    root = tmp_path_factory.mktemp("devsm")
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    doc["config"]["supercluster:cluster"]["fabric"]["subnet_managers"] = 2
    (root / "Pulumi.devsm.yaml").write_text(yaml.safe_dump(doc))
    return root


@pytest.fixture(scope="module")
def sm_design(sm_dir: Path) -> Design:
    return compile_design(load_spec("devsm", sm_dir), stack="devsm")


def test_sm_hosts_are_placed_with_priorities_and_addresses(sm_design, dev_design):
    hosts = sm_design.sm_hosts
    assert [h.name for h in hosts] == ["sm1", "sm2"]
    assert [h.sm_priority for h in hosts] == [15, 14]
    # They take the last two slots of the first SU: two nodes fewer than dev.
    assert len(sm_design.nodes) == len(dev_design.nodes) - 2 and dev_design.sm_hosts == ()
    node_ips = {n.mgmt_ip for n in sm_design.nodes}
    assert all(h.mgmt_ip and h.mgmt_ip not in node_ips for h in hosts)
    # One HCA each in p0, on different leaves, cabled like a node's.
    (a,), (b,) = hosts[0].hcas, hosts[1].hcas
    assert (a.plane, b.plane) == ("p0", "p0") and a.leaf != b.leaf
    cabled = {(lk.a_dev, lk.b_dev, lk.b_port) for lk in sm_design.links}
    assert ("sm1", a.leaf, a.leaf_port) in cabled and ("sm2", b.leaf, b.leaf_port) in cabled
    fabric = plane_fabric(sm_design, "p0")
    assert fabric.sms == ["sm1 mlx5_0", "sm2 mlx5_1"] and fabric.sm_ca == "sm1 mlx5_0"
    assert not set(fabric.sms) & set(fabric.compute)


def test_each_sm_host_gets_its_own_opensm_conf(sm_design):
    files = render_plane(sm_design, plane_fabric(sm_design, "p0"))
    for host, desc, prio in (("sm1", "sm1 mlx5_0", 15), ("sm2", "sm2 mlx5_1", 14)):
        conf = files[f"opensm-{host}.conf"].splitlines()
        assert f"guid {hex_guid(port_guid(ca_guid(desc), 1))}" in conf
        assert f"sm_priority {prio}" in conf
        assert "sminfo_polling_timeout 2000" in conf and "polling_retry_number 3" in conf
    assert files["opensm.conf"] == files["opensm-sm1.conf"]  # the master's
    a, b = files["opensm-sm1.conf"].splitlines(), files["opensm-sm2.conf"].splitlines()
    assert [x for x in a if x not in b] == [x for x in a if x.startswith(("guid ", "sm_priority "))]


def _gone(r: FailoverResult) -> None:
    assert leftover_processes(r.sockname) == []
    for pid in r.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.integration
def test_master_killed_standby_takes_over(sm_design):
    r = failover_plane(sm_design, "p0", timeout_s=60)
    assert r.standby_entered_standby
    assert r.sminfo_before == r.master_guid == hex_guid(port_guid(ca_guid("sm1 mlx5_0"), 1))
    assert r.sminfo_after == r.standby_guid == hex_guid(port_guid(ca_guid("sm2 mlx5_1"), 1))
    # 2,000 ms x 3 polls: the standby cannot notice before 6 s, and must within 30 s.
    assert r.takeover_s is not None and 6.0 <= r.takeover_s < 30.0, r.takeover_s
    assert r.subnet_up_after and r.routing_engine_after == "ftree"
    assert r.hcas_seen_after == r.hcas_designed == 242 and r.findings == []
    assert r.ok
    print(f"SM failover on the dev plane: takeover {r.takeover_s:.2f} s, resweep {r.resweep_s} s")
    _gone(r)


@pytest.mark.integration
def test_failover_cli_prints_the_takeover_time(sm_dir, capsys):
    argv = ["fabric", "simulate", "--stack", "devsm", "--project-dir", str(sm_dir)]
    assert main([*argv, "--failover", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (fo,) = doc["failover"]
    assert fo["ok"] and fo["sminfo_master_after"] == fo["standby_guid"]
    assert 6.0 <= fo["takeover_s"] < 30.0
    assert main([*argv, "--failover", "--fault", "down:1"]) == 2


def test_failover_needs_two_subnet_managers(dev_design, capsys):
    argv = ["fabric", "simulate", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]
    assert main([*argv, "--failover"]) == 2
    assert "fabric.subnet_managers" in capsys.readouterr().err


def test_inventory_has_the_subnet_managers_group(sm_design):
    from infra.catalog import load_catalog
    from infra.nodes import inventory

    files = inventory.render(
        "devsm",
        list(sm_design.nodes),
        inventory.models_from_catalog(load_catalog()),
        defaults={},
        sm_hosts=sm_design.sm_hosts,
    )
    hosts = yaml.safe_load(files["hosts.yml"])["all"]["children"]
    assert list(hosts["subnet_managers"]["hosts"]) == ["sm1", "sm2"]
    assert "sm1" not in hosts["gpu_nodes"]["hosts"]
    for name, prio, desc in (("sm1", 15, "sm1 mlx5_0"), ("sm2", 14, "sm2 mlx5_1")):
        hv = yaml.safe_load(files[f"host_vars/{name}.yml"])
        host = next(h for h in sm_design.sm_hosts if h.name == name)
        assert hv["ansible_host"] == host.mgmt_ip
        assert (hv["opensm_plane"], hv["opensm_sm_priority"]) == ("p0", prio)
        assert hv["opensm_port_guid"] == hex_guid(port_guid(ca_guid(desc), 1))
        assert hv["opensm_conf_file"] == f"opensm-{name}.conf"
