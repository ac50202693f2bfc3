"""The acceptance catalogue without a fleet: the facts script (with the benchmarks) run
against a node's rendered fixtures, which print what nvidia-smi, lspci, dmesg, perftest,
nccl-tests and dcgmi print; each injected fault fails exactly its check; a clean node passes
all; the parsers read the tools' documented formats; the catalogue is one file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from infra.fleet import catalogue, probes
from infra.fleet.facts import facts_command, parse_facts
from infra.fleet.health import acceptance_lines, check_host, cross_nccl_check, expectation_from
from infra.sim.hardware import FIXTURES, Hardware, render

PROJECT = Path(__file__).resolve().parents[2]
SIM = "/usr/share/supercluster-sim"
RAILS = tuple((r, f"mlx5_{r}") for r in range(8))
CAT = catalogue.load()

# One fault per check: (knobs, the checks it must fail). A down NVLink also leaves its GPU's
# fabric registration unfinished (the fixture's "In Progress"), which fabric manager names.
FAULTS = {
    "ecc": ({"ecc_volatile_uncorrectable": {2: 1}}, "ecc errors"),
    "nvlink speed": ({"nvlink_gbps": {(0, 4): "13.281"}}, "nvlink"),
    "remap": ({"row_remap_pending": (5,)}, "row remap"),
    "xid": ({"xids": ((1, 79),)}, "xid"),
    "throttle": ({"clock_events": {4: ("hw_thermal_slowdown",)}}, "clock events"),
    "power": ({"power_limit_w": {0: 500.0}}, "power limit"),
    "pcie": ({"pcie_links": {"mlx5_6": (5, 8)}}, "hca pcie"),
    "gpu pcie": ({"pcie_links": {"gpu 3": (4, 16)}}, "gpu pcie"),
    "nvlink": ({"nvlinks_down": ((7, 11),)}, "nvlink", "fabric manager"),
    "fm": ({"fabricmanager_state": "inactive"}, "fabric manager"),
    "hdr": ({"rail_rates": {1: 200}}, "rail 1"),
    "module": ({"open_module": False}, "gpudirect"),
    "ib_write_bw": ({"ib_write_bw_gbps": {2: 301.5}}, "ib_write_bw mlx5_2"),
    "nccl": ({"nccl_busbw_gbps": 402.0}, "nccl all_reduce"),
    "dcgm": ({"dcgm_failures": ("Inforom",)}, "dcgm diag"),
}


BENCH = ("ib_write_bw", "nccl", "dcgm")


def node_facts(tmp: Path, hw: Hardware, benchmarks: bool = True) -> dict:
    """The facts command with the benchmarks, run here against the rendered node (its
    fixture tools first on PATH, their data directory pointed at tmp)."""
    render(hw, "n1", tmp)
    data = tmp / SIM.lstrip("/")
    bindir = tmp / "bin"
    bindir.mkdir()
    for tool in (
        "nvidia-smi",
        "ibstat",
        "lspci",
        "dmesg",
        "ib_write_bw",
        "all_reduce_perf",
        "dcgmi",
    ):
        (bindir / tool).write_text((FIXTURES / tool).read_text().replace(SIM, str(data)))
        (bindir / tool).chmod(0o755)
    extra = probes.benchmark_sections(list(RAILS), hw.gpus, CAT) if benchmarks else {}
    script = facts_command(extra).replace(SIM, str(data))
    out = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": f"{bindir}:/usr/bin:/bin"},
        timeout=60,
    ).stdout
    return parse_facts(out)


def expectation():
    return expectation_from(
        gpus=8,
        gpu_model="H100-SXM5-80GB",
        rails=RAILS,
        driver_version="550.90.07",
        technology="infiniband_ndr",
        catalogue=CAT,
        roce=None,
    )


# nccl config and the host's kernel module list are the real machine's here, not the node's.
NOT_NODE = {"nccl config"}


def failed(facts: dict) -> set[str]:
    return {c["check"] for c in check_host(facts, expectation()) if not c["ok"]} - NOT_NODE


def test_a_clean_node_passes_every_catalogue_check(tmp_path):
    facts = node_facts(tmp_path, Hardware())
    checks = {c["check"]: c for c in check_host(facts, expectation())}
    assert failed(facts) == set(), {k: c["actual"] for k, c in checks.items() if not c["ok"]}
    for name in ("ecc errors", "row remap", "xid", "clock events", "power limit", "gpu pcie",
                 "hca pcie", "nvlink", "fabric manager", "gpudirect", "ib_write_bw mlx5_7",
                 "nccl all_reduce", "dcgm diag"):  # fmt: skip
        assert name in checks, name
    assert facts["bench"]["ib_write_bw"]["mlx5_0"] == pytest.approx(392.87)
    assert facts["bench"]["nccl"][17179869184] == pytest.approx(472.5, abs=0.01)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_fails_exactly_its_check(tmp_path, fault):
    knobs, *checks = FAULTS[fault]
    facts = node_facts(tmp_path, Hardware(**knobs), benchmarks=fault in BENCH)
    assert failed(facts) == set(checks)


def test_acceptance_lines_keep_the_roles_format(tmp_path):
    facts = node_facts(tmp_path, Hardware(gpus=7, rails_down=(3,)), benchmarks=False)
    lines = acceptance_lines("node03", check_host(facts, expectation()))
    assert "node03: gpu count: found 7 (expected 8)" in lines
    assert "node03: rail 3 (mlx5_3): port state Down (expected Active)" in lines


def test_parsers_on_documented_outputs():
    lnk = (
        "0000:18:00.0 3D controller: NVIDIA Corporation GH100 [H100 SXM5 80GB] (rev a1)\n"
        "\t\tLnkSta:\tSpeed 16GT/s (downgraded), Width x16 (ok)\n"
        "0000:19:00.0 Infiniband controller: Mellanox Technologies MT2910 Family [ConnectX-7]\n"
        "\t\tLnkSta:\tSpeed 32GT/s, Width x8 (downgraded)\n"
    )
    assert probes.parse_lspci(lnk) == {
        "18:00.0": {"description": lnk.split("\n")[0][13:], "gen": 4, "width": 16},
        "19:00.0": {"description": lnk.split("\n")[2][13:], "gen": 5, "width": 8},
    }
    xid = (
        "[ 3001.2] NVRM: Xid (PCI:0000:2a:00): 79, pid='<unknown>', name=<unknown>, "
        "GPU has fallen off the bus."
    )
    assert [x["xid"] for x in probes.parse_xid(xid)] == [79]
    assert probes.kernel_at_least("6.1.0-27-amd64", 5, 12)
    assert not probes.kernel_at_least("5.4.0-190-generic", 5, 12)
    table = " 8388608    29338            392.93             392.87\t\t   0.005856\n"
    assert probes.parse_ib_write_bw("@rail mlx5_0\n" + table + "@rail mlx5_1\n") == {
        "mlx5_0": 392.87,
        "mlx5_1": None,
    }
    dcgm = "| Inforom                   | Fail - GPU: 3                                  |\n"
    assert probes.parse_dcgm_diag(dcgm) == [("Inforom", "Fail - GPU: 3")]


def test_one_catalogue_no_thresholds_in_role_defaults():
    defaults = yaml.safe_load(
        (PROJECT / "playbooks/roles/acceptance/defaults/main.yml").read_text()
    )
    bars = yaml.safe_load((PROJECT / "inventory/group_vars/all/thresholds.yml").read_text())
    assert not set(defaults) & set(bars)
    assert not any(k.endswith(("_min", "_max", "_gbps")) for k in defaults)
    assert CAT.gpu_models["H100-SXM5-80GB"].product_name == "NVIDIA H100 80GB HBM3"
    assert CAT.rail_rate("spectrum_x") == CAT.rail_rate("infiniband_ndr") == 400
    assert CAT.ib_write_bw_gbps_min == 375
    names = {c["name"] for c in bars["acceptance_checks"]}
    assert {"ecc errors", "row remap", "xid", "clock events", "gpudirect"} <= names


def test_cross_node_groups_and_bars():
    nodes = [("n3", "su2", 2), ("n1", "su1", 0), ("n2", "su1", 1), ("n4", "su2", 3),
             ("n5", "su2", 4)]  # fmt: skip
    assert probes.nccl_groups(nodes, "pair") == [["n1", "n2"], ["n3", "n4", "n5"]]
    assert probes.nccl_groups(nodes, "su") == [["n1", "n2"], ["n3", "n4", "n5"]]
    assert probes.nccl_groups(nodes, "node") == []
    with pytest.raises(ValueError):
        probes.nccl_groups(nodes, "rack")
    argv = probes.mpirun_argv(["127.0.80.1", "127.0.80.2"], 8, [8589934592])
    assert argv[:6] == [
        "mpirun",
        "--allow-run-as-root",
        "-np",
        "16",
        "-H",
        "127.0.80.1:8,127.0.80.2:8",
    ]
    row = " 8589934592    2147483648     float     sum      -1  40000.0  214.75  375.80      0"
    check = cross_nccl_check(row + "\n", 0, "pair", CAT)
    assert check["check"] == "nccl all_reduce pair" and not check["ok"]
    assert cross_nccl_check(row.replace("375.80", "412.00"), 0, "su", CAT)["ok"]
    assert not cross_nccl_check("mpirun: command not found", 127, "su", CAT)["ok"]
