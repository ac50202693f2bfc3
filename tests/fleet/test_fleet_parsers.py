"""Parsers on the real tools' formats, including the forms the sim fixtures never print."""

from __future__ import annotations

from infra.fleet.facts import (
    facts_command,
    parse_facts,
    parse_ib_sysfs,
    parse_ibstat,
    parse_modules,
    parse_nvidia_smi_xml,
    parse_nvlink_status,
    split_sections,
)
from infra.fleet.health import nccl_hcas
from infra.fleet.run import Host, limit_hosts
from infra.sim.hardware import Hardware, ibstat, nvidia_smi_xml, nvlink_status

# /sys/class/infiniband/<dev>/ports/<n>/{state,phys_state,rate,link_layer} as the kernel
# prints them.
SYSFS = (
    "/sys/class/infiniband/mlx5_0/ports/1|4: ACTIVE|5: LinkUp|400 Gb/sec (4X NDR)|InfiniBand\n"
    "/sys/class/infiniband/mlx5_1/ports/1|1: DOWN|3: Disabled|10 Gb/sec (4X SDR)|InfiniBand\n"
)


def test_sysfs_fallback_matches_ibstat_shape():
    hcas = parse_ib_sysfs(SYSFS)
    assert hcas == [
        {"device": "mlx5_0", "ports": [{"port": 1, "state": "Active", "physical_state":
         "LinkUp", "rate_gbps": 400, "link_layer": "InfiniBand"}]},
        {"device": "mlx5_1", "ports": [{"port": 1, "state": "Down", "physical_state":
         "Disabled", "rate_gbps": 10, "link_layer": "InfiniBand"}]},
    ]  # fmt: skip


def test_facts_use_sysfs_when_ibstat_is_missing():
    out = (
        "@@supercluster section ibstat\nsh: ibstat: not found\n@@supercluster rc 127\n"
        f"@@supercluster section ib_sysfs\n{SYSFS}@@supercluster rc 0\n"
    )
    facts = parse_facts(out)
    assert [h["device"] for h in facts["hcas"]] == ["mlx5_0", "mlx5_1"]
    assert "ibstat" not in facts["errors"]


def test_ibstat_multi_port_and_rates():
    text = ibstat(Hardware(rails=2, rail_rates={1: 200}), "n") + (
        "\nCA 'mlx5_bond_0'\n\tCA type: MT4129\n\tPort 1:\n\t\tState: Active\n\t\tRate: 100\n"
        "\tPort 2:\n\t\tState: Initializing\n\t\tRate: 100\n"
    )
    hcas = parse_ibstat(text)
    assert [h["device"] for h in hcas] == ["mlx5_0", "mlx5_1", "mlx5_bond_0"]
    assert hcas[1]["ports"][0]["rate_gbps"] == 200 and hcas[0]["ca_type"] == "MT4129"
    assert [p["state"] for p in hcas[2]["ports"]] == ["Active", "Initializing"]


def test_nvidia_smi_xml_and_nvlink():
    hw = Hardware(gpus=2, ecc=False, nvlinks_down=((0, 0), (0, 17)))
    gpu = parse_nvidia_smi_xml("Warning: preamble line\n" + nvidia_smi_xml(hw, "n"))
    assert gpu["count"] == 2 and not gpu["gpus"][0]["ecc_current"]
    assert gpu["gpus"][0]["fabric_state"] == "In Progress"
    assert parse_nvlink_status(nvlink_status(hw, "n")) == {0: (16, 18), 1: (18, 18)}


def test_proc_modules_and_sys_module_forms():
    proc = (
        "nvidia_peermem 16384 0 - Live 0xffffffffc0a00000 (OE)\n"
        "mlx5_ib 454656 0 - Unloading 0xffffffffc0b00000\n"
        "nvidia 56823808 19 nvidia_uvm,nvidia_peermem, Live 0xffffffffc1000000 (POE)\n"
    )
    assert parse_modules(proc) == ["nvidia", "nvidia_peermem"]
    assert parse_modules("nvidia_peermem 0 0 - live\n") == ["nvidia_peermem"]


def test_sections_survive_failing_commands():
    text = split_sections(
        "@@supercluster section a\nx\ny\n@@supercluster rc 0\n"
        "@@supercluster section b\nboom\n@@supercluster rc 3\n"
    )
    assert text == {"a": (0, "x\ny"), "b": (3, "boom")}
    # The basic facts (9) and the acceptance catalogue's probes (lspci, hca_pci, xid,
    # fabricmanager, nvidia_version): one SSH command still.
    assert facts_command().count("@@supercluster section") == 14


def test_nccl_ib_hca_forms():
    assert nccl_hcas("=mlx5_1:1,mlx5_0:1") == ["mlx5_0", "mlx5_1"]
    assert nccl_hcas("mlx5_0, mlx5_1") == ["mlx5_0", "mlx5_1"]
    assert nccl_hcas("^mlx5_2") == ["^mlx5_2"]


def test_limit_globs_tags_and_exclusions():
    hosts = [Host(f"n{i}", f"127.0.20.{i}", (f"rack{i // 2}",)) for i in range(1, 5)]
    assert [h.name for h in limit_hosts(hosts, "rack1")] == ["n2", "n3"]
    assert [h.name for h in limit_hosts(hosts, "n*,!n3")] == ["n1", "n2", "n4"]
    assert [h.name for h in limit_hosts(hosts, "127.0.20.4")] == ["n4"]
