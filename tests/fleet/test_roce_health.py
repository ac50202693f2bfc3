"""RoCE health checks on the real tools' formats, without a fleet: the facts script's
RoCE lines (sysfs + mlnx_qos as the fixtures print them) parsed and judged; an InfiniBand
expectation runs no RoCE check."""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra.fleet import roce
from infra.fleet.facts import parse_ibstat
from infra.fleet.health import Expectation, check_host
from infra.sim.hardware import FIXTURES, Hardware, ibstat_roce, nic_netdev

SETTINGS = roce.RoceSettings()
RAILS = tuple((r, f"mlx5_{r}") for r in range(8))

# `mlnx_qos -i <netdev>` on a ConnectX port in DSCP trust with PFC on priority 3, in the
# layout MLNX_OFED documents (community "mlnx_qos" page) and current mlnx-tools print.
QOS_DSCP = """\
DCBX mode: OS controlled
Priority trust state: dscp
dscp2prio mapping:
\tprio:3 dscp:31,30,29,28,27,26,25,24,
Cable len: 7
PFC configuration:
\tpriority    0   1   2   3   4   5   6   7
\tenabled     0   0   0   1   0   0   0   0
\tbuffer      0   0   0   1   0   0   0   0
tc: 3 ratelimit: unlimited, tsa: vendor
\t priority:  3
"""


def test_mlnx_qos_parsed():
    assert roce.parse_mlnx_qos(QOS_DSCP) == {"trust": "dscp", "pfc": [0, 0, 0, 1, 0, 0, 0, 0]}
    pcp = QOS_DSCP.replace("trust state: dscp", "trust state: pcp")
    assert roce.parse_mlnx_qos(pcp)["trust"] == "pcp"
    assert roce.parse_mlnx_qos("Interface x not found") == {"trust": None, "pfc": None}


def test_traffic_class_is_dscp_26_with_ect0():
    assert SETTINGS.traffic_class == 106 == 26 << 2 | 0b10
    assert SETTINGS.pfc == [0, 0, 0, 1, 0, 0, 0, 0]
    assert roce.load_settings() == SETTINGS  # group_vars/all/roce.yml holds the same values


def _facts(tmp: Path, hw: Hardware, nccl: dict | None = None) -> dict:
    """Run the facts script's RoCE part against a rendered fixture tree (its sysfs root
    and mlnx_qos stand-in pointed at tmp), the way a node would."""
    from infra.sim.hardware import render

    for d in ("usr/bin", "usr/sbin", "etc"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    render(hw, "n1", tmp)
    data = tmp / "usr/share/supercluster-sim"
    qos = (FIXTURES / "mlnx_qos").read_text().replace("/usr/share/supercluster-sim", str(data))
    (tmp / "bin").mkdir()
    (tmp / "bin" / "mlnx_qos").write_text(qos)
    (tmp / "bin" / "mlnx_qos").chmod(0o755)
    script = roce.SECTION.replace(roce.SIM_SYSFS, str(data / "sys"))
    out = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp / 'bin'}:/usr/bin:/bin"},
        check=True,
    ).stdout
    return {
        "gpu": None,
        "hcas": parse_ibstat(ibstat_roce(hw, "n1")),
        "modules": ["nvidia_peermem"],
        "nccl_conf": nccl
        if nccl is not None
        else {
            "NCCL_IB_HCA": "=" + ",".join(f"mlx5_{r}:1" for r in range(8)),
            "NCCL_IB_GID_INDEX": "3",
            "NCCL_IB_TC": "106",
        },
        "roce": roce.parse_roce(out),
    }


def _failed(facts: dict, exp: Expectation) -> dict[str, str]:
    return {
        c["check"]: str(c["actual"])
        for c in check_host(facts, exp)
        if not c["ok"] and c["check"] != "gpu count"
    }


def _exp(settings=SETTINGS) -> Expectation:
    return Expectation(gpus=0, gpu_name=None, rails=RAILS, driver_version=None, roce=settings)


def test_clean_roce_node_passes(tmp_path):
    facts = _facts(tmp_path, Hardware(link_layer="Ethernet"))
    assert facts["roce"]["mlx5_4"]["netdev"] == nic_netdev(4)
    assert _failed(facts, _exp()) == {}


def test_each_roce_fault_is_named(tmp_path):
    hw = Hardware(
        link_layer="Ethernet",
        roce_trust="pcp",
        roce_pfc=(0,) * 8,
        roce_mtu=1500,
        roce_gid_types=("IB/RoCE v1",) * 4,
        rail_rates={2: 200},
    )
    conf = {"NCCL_IB_HCA": "=mlx5_0", "NCCL_IB_PKEY": "0"}
    failed = _failed(_facts(tmp_path, hw, conf), _exp())
    assert failed["rail 0 trust"] == "trust pcp"
    assert failed["rail 0 pfc"] == "PFC on priorities none"
    assert failed["rail 0 gid 3"] == "mlx5_0 GID 3: IB/RoCE v1"
    assert failed["rail 0 mtu"] == f"{nic_netdev(0)} 1500"
    assert failed["rail 2"] == "mlx5_2 Active at 200 Gb/s Ethernet"
    assert failed["nccl roce"] == "NCCL_IB_GID_INDEX=None, NCCL_IB_TC=None, NCCL_IB_PKEY=0"


def test_infiniband_expectation_runs_no_roce_check(tmp_path):
    facts = _facts(tmp_path, Hardware(link_layer="Ethernet", roce_trust="pcp"))
    exp = Expectation(gpus=0, gpu_name=None, rails=RAILS, driver_version=None)
    names = {c["check"] for c in check_host(facts, exp)}
    assert not any("trust" in n or "pfc" in n or "roce" in n for n in names)
