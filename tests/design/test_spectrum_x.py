"""The Spectrum-X planner (infra/design/ethernet.py): switch and link counts against the
port arithmetic of docs/spectrum-x.md, port names, the L3 plan, the spec's refusals and
the Ethernet rules."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import pytest

from infra.design.compile import compile_design
from infra.design.ethernet import nic_port, port_name
from infra.design.part import hall_part
from infra.errors import InputError
from infra.policy import check_design
from infra.spec import load_spec, parse_spec
from tests.design.specs import hall, rows, spec_dict

ETH = {"technology": "spectrum_x", "switch": "SN5600", "su_nodes": 32}
POOLS = {
    "mgmt_cidr": "127.0.0.0/16",
    "bmc_cidr": "127.1.0.0/16",
    "fabric_loopback_cidr": "127.2.0.0/24",
    "rail_cidr": "127.4.0.0/16",
}


def eth_spec(sus: int, **fabric) -> dict:
    """`sus` SUs of 4 racks of 8 nodes, 4 SUs per row, one hall."""
    n_rows = -(-sus // 4)
    h = hall("hall1", n_rows, 16)
    h["rows"] = rows(n_rows, 16)
    h["rows"][-1]["racks"] = 4 * (sus - 4 * (n_rows - 1))
    spec = spec_dict(halls=[h], fabric={**ETH, **fabric}, addressing=POOLS)
    spec["fabric"].setdefault("core_area", {"hall": "hall1", "x_m": 5.0, "y_m": 20.0})
    return spec


def design_of(spec: dict):
    return compile_design(parse_spec(spec), "t")


def counts(d) -> tuple[dict, dict]:
    return dict(Counter(s.tier for s in d.switches)), dict(Counter(lk.tier for lk in d.links))


@pytest.mark.parametrize(
    ("sus", "switches", "links"),
    [
        # 4 leaves x 32 uplinks = 128 = 2 spines x 64: 16 links per leaf-spine pair
        (1, {"leaf": 4, "spine": 2}, {"node_leaf": 256, "leaf_spine": 128}),
        # 16 leaves x 32 = 512 = 8 spines x 64: 4 links per pair
        (4, {"leaf": 16, "spine": 8}, {"node_leaf": 1024, "leaf_spine": 512}),
        # 64 leaves x 32 = 2,048 = 32 spines x 64: one link per pair, the 2-tier maximum
        (16, {"leaf": 64, "spine": 32}, {"node_leaf": 4096, "leaf_spine": 2048}),
    ],
)
def test_two_tier_counts_follow_the_port_arithmetic(sus, switches, links):
    d = design_of(eth_spec(sus))
    assert counts(d) == (switches, links)
    (plane,) = d.planes
    assert (plane.name, plane.tiers, plane.rails, plane.lids) == ("p0", 2, tuple(range(8)), 0)
    assert [v for v in check_design(d) if v.rule.startswith(("fabric", "cable"))] == []


def test_seventeen_sus_take_three_tiers():
    """68 leaves pass one spine's 64 ports: 3 pods of 32 leaves and 32 spines each, and
    spine s of every pod in core group s of 2 cores (3 pods x 32 up = 96 <= 2 x 64)."""
    d = design_of(eth_spec(17))
    assert counts(d) == (
        {"leaf": 68, "spine": 96, "core": 64},
        {"node_leaf": 4352, "leaf_spine": 68 * 32, "spine_core": 96 * 32},
    )
    assert [v for v in check_design(d) if v.rule.startswith("fabric")] == []


def test_memphis_as_built(project_dir: Path):
    d = compile_design(load_spec("memphis", project_dir), "memphis")
    assert d.technology == "spectrum_x" and d.gpus == 100_352
    # 392 SUs x 4 = 1,568 leaves; 49 pods x 32 = 1,568 spines; 32 groups x 32 cores (the
    # smallest divisor of 32 holding 49 x 32 / 64 = 24.5 cores per group)
    assert counts(d) == (
        {"leaf": 1568, "spine": 1568, "core": 1024},
        {"node_leaf": 100_352, "leaf_spine": 50_176, "spine_core": 50_176},
    )
    assert len(d.switches_l3) == 4160 and len(d.nics_l3) == 100_352
    assert [v for v in check_design(d) if v.severity == "error"] == []


def test_port_names_and_nic_ports():
    assert [port_name("leaf", p) for p in (1, 2, 3, 64, 65, 96)] == [
        "swp1s0", "swp1s1", "swp2s0", "swp32s1", "swp33", "swp64"
    ]  # fmt: skip
    assert port_name("spine", 1) == "swp1" and port_name("core", 64) == "swp64"
    for tier, port in (("leaf", 0), ("leaf", 97), ("spine", 65), ("border", 1)):
        with pytest.raises(ValueError):
            port_name(tier, port)
    assert [nic_port(0, r) for r in range(2)] == [1, 2] and nic_port(31, 7) == 64


def test_leaf_j_carries_rails_2j_and_2j_plus_1():
    d = design_of(eth_spec(1))
    node = d.nodes[5]  # slot 5: cage 6 of each leaf
    assert [(h.rail, h.leaf, h.leaf_port) for h in node.hcas] == [
        (r, f"p0-leaf-su001-l{r // 2 + 1}", 11 + r % 2) for r in range(8)
    ]
    assert {port_name("leaf", h.leaf_port) for h in node.hcas} == {"swp6s0", "swp6s1"}
    leaf = next(s for s in d.switches if s.tier == "leaf")
    assert (leaf.model, leaf.ports, leaf.u) == ("SN5600", 96, 1)
    assert [s.u for s in d.switches if s.tier == "leaf"] == [1, 3, 5, 7]  # 2U each


def test_l3_plan():
    d = design_of(eth_spec(17))
    asn = {s.name: s.asn for s in d.switches_l3}
    leaves = [s.name for s in d.switches if s.tier == "leaf"]
    assert [asn[x] for x in leaves] == list(range(4_200_000_000, 4_200_000_068))
    by_pod = {s.group: asn[s.name] for s in d.switches if s.tier == "spine"}
    assert by_pod == {f"pod0{p}": 4_200_000_068 + p - 1 for p in (1, 2, 3)}
    assert {asn[s.name] for s in d.switches if s.tier == "core"} == {4_200_000_071}
    loops = [s.loopback for s in d.switches_l3]
    assert loops[0] == "127.2.0.1/32" and len(set(loops)) == len(d.switches)
    first, second = d.nics_l3[:2]
    assert (first.address, first.gateway, first.leaf_port) == ("127.4.0.1/31", "127.4.0.0", 1)
    assert (second.address, second.gateway, second.rail) == ("127.4.0.3/31", "127.4.0.2", 1)


def test_hall_part_keeps_its_own_l3():
    spec = eth_spec(1)
    spec["halls"].append({**hall("hall2", 1, 4), "x_m": 30.0})
    d = design_of(spec)
    part = hall_part(d, ["hall2"], "t-hall2")
    assert {n.node.split("-")[0] for n in part.nics_l3} == {"hall2"}
    assert {s.name for s in part.switches_l3} == {s.name for s in part.switches}


def _problems(spec: dict) -> str:
    with pytest.raises(InputError) as exc:
        compile_design(parse_spec(spec), "t")
    return "\n".join(exc.value.problems)


def test_spec_refusals_name_the_field():
    no_pools = eth_spec(1)
    del no_pools["addressing"]["rail_cidr"], no_pools["addressing"]["fabric_loopback_cidr"]
    text = _problems(no_pools)
    assert "addressing.rail_cidr: required with spectrum_x" in text
    assert "addressing.fabric_loopback_cidr: required" in text
    text = _problems(eth_spec(1, lmc=1, subnet_managers=2, ufm={"ports": 4}))
    assert all(f"fabric.{k}: InfiniBand-only" in text for k in ("lmc", "subnet_managers", "ufm"))
    assert "fabric.planes" in _problems(eth_spec(1, planes="per_rail"))
    assert "fabric.switch: QM9700 is not an Ethernet switch" in _problems(
        eth_spec(1, switch="QM9700")
    )
    assert "fabric.su_nodes" in _problems(eth_spec(1, su_nodes=64))
    assert "fabric.oversubscription" in _problems(eth_spec(1, oversubscription={"leaf": 2.0}))
    small = eth_spec(1)
    small["addressing"]["rail_cidr"] = "127.4.0.0/24"  # 256 addresses, 256 NICs need 512
    assert "addressing.rail_cidr: 127.4.0.0/24 holds 256 addresses; the design needs 512" in (
        _problems(small)
    )
    small = eth_spec(1)
    small["addressing"]["fabric_loopback_cidr"] = "127.2.0.0/30"
    assert "addressing.fabric_loopback_cidr" in _problems(small)
    v6 = eth_spec(1)
    v6["addressing"]["rail_cidr"] = "fd00::/64"
    assert "addressing.rail_cidr: fd00::/64 is IPv6" in _problems(v6)
    late = eth_spec(1, asn_base=4_294_967_292)
    assert "fabric.asn_base" in _problems(late)
    overlap = eth_spec(1)
    overlap["addressing"]["rail_cidr"] = "127.0.0.0/16"
    assert "mgmt_cidr 127.0.0.0/16 and rail_cidr 127.0.0.0/16 overlap" in _problems(overlap)
    ib = spec_dict(fabric={"switch": "SN5600"})
    assert "fabric.switch: SN5600 is not an InfiniBand switch" in _problems(ib)


def broken_ethernet_designs() -> list:
    """Designs the compiler never makes (a hand edit, a planner bug): one leaf uplink
    gone, one NIC address given twice. tests/design/test_rules.py uses them too."""
    d = design_of(eth_spec(1))
    cut = next(i for i, lk in enumerate(d.links) if lk.tier == "leaf_spine")
    nics = list(d.nics_l3)
    nics[1] = dataclasses.replace(nics[1], address=nics[0].address, gateway=nics[0].gateway)
    return [
        dataclasses.replace(d, links=d.links[:cut] + d.links[cut + 1 :]),
        dataclasses.replace(d, nics_l3=tuple(nics)),
    ]


def test_ethernet_rules_find_what_is_broken():
    cut, dup = broken_ethernet_designs()
    found = {(v.rule, v.object) for v in check_design(cut) if v.rule.startswith("fabric")}
    assert found == {
        ("fabric.oversubscription", "p0-leaf-su001-l1"),
        ("fabric.oversubscription", "p0-spine-001"),
    } or found >= {("fabric.oversubscription", "p0-leaf-su001-l1")}
    ecmp = list(check_design(cut, only=("fabric.ecmp_width",)))
    assert [v.object for v in ecmp] == ["p0-leaf-su001-l1"]
    assert "unevenly (15-16 links each)" in ecmp[0].message
    found = check_design(dup, only=("fabric.address_plan",))
    assert found and all(v.rule == "fabric.address_plan" for v in found)
    assert any("127.4.0.1 is also hall1-su001-n01:mlx5_0's" in v.message for v in found)


def test_cable_tags_name_the_switch_interfaces():
    """A Spectrum-X cabling plan names each switch end as its OS does (swp1s0 for a NIC
    lane, swp33 for an uplink): what NVUE, LLDP and the technician at the rack read."""
    from infra.design.export import cabling_rows, port_map_rows

    design = design_of(eth_spec(1))
    rows = cabling_rows(design)
    nic = next(r for r in rows if r["tier"] == "node_leaf")
    assert nic["a_port"].startswith("mlx5_") and re.fullmatch(r"swp\d+s[01]", nic["b_port"])
    up = next(r for r in rows if r["tier"] == "leaf_spine")
    assert re.fullmatch(r"swp(3[3-9]|[4-5]\d|6[0-4])", up["a_port"])
    assert re.fullmatch(r"swp\d+", up["b_port"])
    assert all(re.fullmatch(r"swp\d+s[01]", r["leaf_port"]) for r in port_map_rows(design))
