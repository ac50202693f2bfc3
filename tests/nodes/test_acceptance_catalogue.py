"""`supercluster health` and the acceptance playbook give the same verdict, check by check,
on a simulated fleet (real sshd nodes on 127.0.80.x) with one injected fault per check, and
report nothing on a clean node. Both run the benchmarks: on these nodes ib_write_bw,
all_reduce_perf and dcgmi are fixtures printing the real tools' output (GPUs and HCAs cannot
exist here); everything else (SSH, the facts script, Ansible, the parsers, the catalogue
from thresholds.yml) is real."""

from __future__ import annotations

import re

import pytest
from siteutil import running_site

from infra.fleet.health import expectation_for
from infra.fleet.run import Host, health
from infra.fleet.ssh import SshOptions
from infra.sim.hardware import Hardware

pytestmark = pytest.mark.integration

DRIVER = "550.90.07"
NCCL_CONF = "NCCL_IB_HCA==" + ",".join(f"mlx5_{r}:1" for r in range(8)) + "\n"

# node -> (the fault's knobs, the checks it must fail). A down NVLink also leaves its GPU's
# fabric registration unfinished, which "fabric manager" reports.
FAULTS = {
    "clean": ({}, set()),
    "ecc": ({"ecc_volatile_uncorrectable": {2: 1}}, {"ecc errors"}),
    "remap": ({"row_remap_pending": (5,)}, {"row remap"}),
    "xid": ({"xids": ((1, 79),)}, {"xid"}),
    "throttle": ({"clock_events": {4: ("hw_thermal_slowdown",)}}, {"clock events"}),
    "pcie": ({"pcie_links": {"mlx5_6": (5, 8)}}, {"hca pcie"}),
    "nvlink": ({"nvlinks_down": ((7, 11),)}, {"nvlink", "fabric manager"}),
    "fm": ({"fabricmanager_state": "inactive"}, {"fabric manager"}),
    "hdr": ({"rail_rates": {1: 200}}, {"rail 1"}),
    "ibbw": ({"ib_write_bw_gbps": {2: 301.5}}, {"ib_write_bw mlx5_2"}),
    "nccl": ({"nccl_busbw_gbps": 402.0}, {"nccl all_reduce"}),
    "dcgm": ({"dcgm_failures": ("Inforom",)}, {"dcgm diag"}),
}
NAMES = [f"node{i:02d}" for i in range(1, len(FAULTS) + 1)]
BY_NODE = dict(zip(NAMES, FAULTS, strict=True))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    hardware = {
        name: Hardware(nccl_conf=NCCL_CONF, **FAULTS[fault][0]) for name, fault in BY_NODE.items()
    }
    with running_site(
        tmp_path_factory.mktemp("catalogue"),
        len(NAMES),
        "127.0.80.0/28",
        hardware=hardware,
        repo_host="127.0.80.254",
    ) as s:
        yield s


@pytest.fixture(scope="module")
def verdicts(site):
    """{node: (failed checks per health, failed checks per acceptance)}."""
    from siteutil import design_nodes

    nodes = {n.name: n for n in design_nodes(site.fleet.hosts())}
    hosts = [Host(name, ip, node=nodes[name]) for name, ip in site.fleet.hosts()]
    options = SshOptions(site.fleet.key_path, site.fleet.known_hosts, connect_timeout_s=5.0)
    expectations = {h.name: expectation_for(h.node, DRIVER) for h in hosts}
    checked = health(hosts, options, lambda h: expectations[h.name], benchmarks=True)
    by_health = {
        r["name"]: {c["check"] for c in r.get("checks", []) if not c["ok"]} for r in checked
    }
    assert all(r["status"] in ("ok", "check failed") for r in checked), checked
    run = site.run(
        playbook="acceptance",
        extravars={"supercluster_serial": "100%", "acceptance_benchmarks": True},
        out=None,
    )
    assert not run.unreachable, run.unreachable
    by_acceptance = {name: _failed_checks(name, run.failed.get(name, "")) for name in NAMES}
    return by_health, by_acceptance, run


def _failed_checks(host: str, reason: str) -> set[str]:
    """Check names from the role's lines `<host>: <check>: ...` (rail lines name the device:
    `<host>: rail 1 (mlx5_1): rate 200 Gb/s (expected 400)`)."""
    return {m.group(1) for m in re.finditer(rf"{host}: ([a-z_0-9 ]+?)(?: \(mlx5_\d+\))?: ", reason)}


def test_a_clean_node_passes_both(verdicts):
    by_health, by_acceptance, run = verdicts
    assert by_health["node01"] == by_acceptance["node01"] == set()
    assert "node01" not in run.failed and run.stats["node01"]["failures"] == 0


@pytest.mark.parametrize("name", NAMES[1:])
def test_each_fault_is_named_alike_by_health_and_acceptance(verdicts, name):
    by_health, by_acceptance, _ = verdicts
    expected = FAULTS[BY_NODE[name]][1]
    assert by_health[name] == expected
    assert by_acceptance[name] == expected


def test_acceptance_reports_found_and_expected(verdicts):
    _, _, run = verdicts
    assert "node09: rail 1 (mlx5_1): rate 200 Gb/s (expected 400)" in run.failed["node09"]
    assert (
        "node10: ib_write_bw mlx5_2: found 301.5 Gb/s (expected >= 375 Gb/s)"
        in (run.failed["node10"])
    )
