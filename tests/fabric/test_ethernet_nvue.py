"""NVUE switch configuration (infra/fabric/nvue.py) and its FRR translation (frr.py) on a
dev-size Spectrum-X design compiled by the real compiler: every key the renderer writes is
one NVIDIA documents for Cumulus Linux 5.x (the table below, each with its `nv set`
command), the values are the design's, the FRR text passes FRR's own parser (vtysh -C),
and `fabric render`, the Pulumi bundle and the Ansible role get the same bytes."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from collections import Counter

import pytest
import yaml

from infra.deploy.render import nvue_bundle, nvue_configs
from infra.fabric.frr import bgpd_conf, frr_conf
from infra.fabric.nvue import MTU, nvue_yaml, render_nvue, switch_configs
from tests.fabric.ethernet_design import spectrum_x_design, write_stack

# Every leaf of the `set:` tree, as a path pattern (<if> an interface, <addr> an address
# with its prefix length): each is `nv set <pattern> <value>` in NVIDIA's NVUE reference
# for Cumulus Linux 5.x (5.0-5.14 spell the switches `enable on`):
#   .../nvue-reference/Set-and-Unset-Commands/BGP/ (router bgp autonomous-system, router-id;
#       vrf default router bgp neighbor <if> remote-as external / type unnumbered,
#       address-family ipv4-unicast redistribute connected, multipaths ebgp,
#       path-selection multipath aspath-ignore)
#   .../Set-and-Unset-Commands/Adaptive-Routing/ (router adaptive-routing enable,
#       interface <if> router adaptive-routing enable)
#   .../Set-and-Unset-Commands/Interface/ (interface <if> ip address, link mtu, link state,
#       description; `type` is what `nv config show -o yaml` prints per interface)
#   cumulus-linux-514/.../RDMA-over-Converged-Ethernet-RoCE/ (qos roce enable, mode lossless)
DOCUMENTED = {
    "system hostname",
    "router bgp autonomous-system",
    "router bgp router-id",
    "router bgp enable",
    "router adaptive-routing enable",
    "interface <if> type",
    "interface <if> ip address <addr>",
    "interface <if> link mtu",
    "interface <if> link state up",
    "interface <if> description",
    "interface <if> router adaptive-routing enable",
    "qos roce enable",
    "qos roce mode",
    "vrf default router bgp enable",
    "vrf default router bgp neighbor <if> remote-as",
    "vrf default router bgp neighbor <if> type",
    "vrf default router bgp address-family ipv4-unicast enable",
    "vrf default router bgp address-family ipv4-unicast redistribute connected enable",
    "vrf default router bgp address-family ipv4-unicast multipaths ebgp",
    "vrf default router bgp path-selection multipath aspath-ignore",
}
LEAF_NIC = re.compile(r"^swp([1-9]|[12][0-9]|3[0-2])s[01]$")


@pytest.fixture(scope="module")
def design():
    return spectrum_x_design()


@pytest.fixture(scope="module")
def files(design) -> dict[str, str]:
    return render_nvue(design)


def leaves(tree, path=()):
    """(path, value) of every leaf of a parsed NVUE tree; {} is a leaf (a set member)."""
    if isinstance(tree, dict) and tree:
        for key, sub in tree.items():
            yield from leaves(sub, (*path, str(key)))
    else:
        yield path, tree


def pattern(path: tuple[str, ...]) -> str:
    p = list(path)
    if p[0] == "interface":
        p[1] = "<if>"
        if p[2:4] == ["ip", "address"]:
            p[4] = "<addr>"
    if p[:5] == ["vrf", "default", "router", "bgp", "neighbor"]:
        p[5] = "<if>"
    return " ".join(p)


def parsed(text: str) -> dict:
    doc = yaml.safe_load(text)
    assert isinstance(doc, list) and len(doc) == 1 and list(doc[0]) == ["set"]
    return doc[0]["set"]


def test_every_key_is_documented_and_every_documented_key_is_used(files):
    used = Counter()
    for name, text in files.items():
        for path, _value in leaves(parsed(text)):
            key = pattern(path)
            assert key in DOCUMENTED, f"{name}: {' '.join(path)} is no documented NVUE key"
            used[key] += 1
    assert set(used) == set(DOCUMENTED)


def test_values_are_the_designs(design, files):
    l3 = {s.name: s for s in design.switches_l3}
    tier = {s.name: s.tier for s in design.switches}
    gateways = {(n.leaf, n.leaf_port): n.gateway for n in design.nics_l3}
    for sw in design.switches:
        cfg = parsed(files[f"{sw.name}.yaml"])
        assert cfg["system"]["hostname"] == sw.name
        bgp = cfg["router"]["bgp"]
        assert bgp["autonomous-system"] == l3[sw.name].asn
        assert bgp["router-id"] == l3[sw.name].loopback.split("/")[0]
        assert cfg["interface"]["lo"] == {"ip": {"address": {l3[sw.name].loopback: {}}},
                                          "type": "loopback"}  # fmt: skip
        # RoCE lossless (NVUE's profile: trust DSCP, priority 3 PFC, CNP 6) and AR (SN5600)
        assert cfg["qos"]["roce"] == {"enable": True, "mode": "lossless"}
        assert cfg["router"]["adaptive-routing"] == {"enable": True}
        swps = {k: v for k, v in cfg["interface"].items() if k != "lo"}
        assert {v["link"]["mtu"] for v in swps.values()} == {MTU}
        neighbors = cfg["vrf"]["default"]["router"]["bgp"]["neighbor"]
        assert all(v == {"remote-as": "external", "type": "unnumbered"} for v in neighbors.values())
        af = cfg["vrf"]["default"]["router"]["bgp"]["address-family"]["ipv4-unicast"]
        assert af["redistribute"]["connected"] == {"enable": True}
        assert af["multipaths"]["ebgp"] == len(neighbors)
        if tier[sw.name] == "leaf":
            nic = {k: v for k, v in swps.items() if LEAF_NIC.match(k)}
            assert len(nic) == 64 and len(swps) == 96
            # NIC lanes: the /31 gateway, no BGP; uplinks swp33-64: BGP, adaptive routing
            for k, v in nic.items():
                (addr,) = v["ip"]["address"]
                assert ipaddress.ip_interface(addr).network.prefixlen == 31
                assert "router" not in v and k not in neighbors
            assert sorted(neighbors, key=lambda n: int(n[3:])) == [f"swp{i}" for i in range(33, 65)]
            assert all(swps[n]["router"]["adaptive-routing"] == {"enable": True} for n in neighbors)
        else:
            assert sorted(neighbors, key=lambda n: int(n[3:])) == [f"swp{i}" for i in range(1, 65)]
    # every NIC's gateway is on its leaf's port, by the contract's port names
    first = design.nics_l3[0]
    leaf = parsed(files[f"{first.leaf}.yaml"])
    assert (
        f"{gateways[(first.leaf, first.leaf_port)]}/31"
        in leaf["interface"]["swp1s0"]["ip"]["address"]
    )


def test_asn_plan_every_leaf_its_own_the_spines_one(design, files):
    asn = {}
    for sw in design.switches:
        asn[sw.name] = parsed(files[f"{sw.name}.yaml"])["router"]["bgp"]["autonomous-system"]
    leaf_asns = [asn[s.name] for s in design.switches if s.tier == "leaf"]
    spine_asns = {asn[s.name] for s in design.switches if s.tier == "spine"}
    assert len(set(leaf_asns)) == len(leaf_asns) == 4
    assert len(spine_asns) == 1 and not spine_asns & set(leaf_asns)


def test_no_adaptive_routing_where_the_platform_lacks_it(design):
    cfg = switch_configs(design)[0]
    older = type(cfg)(cfg.name, cfg.tier, "SN4600", cfg.asn, cfg.loopback, cfg.ports)
    tree = parsed(nvue_yaml(older))
    assert "adaptive-routing" not in tree["router"]
    assert not any("router" in v for v in tree["interface"].values())


def test_deterministic_and_one_renderer(design, files, tmp_path):
    assert render_nvue(spectrum_x_design()) == files  # a fresh compile: the same bytes
    assert nvue_configs(design) == files
    bundle = nvue_bundle(design)
    docs = bundle.split("--- # ")[1:]
    assert [d.split("\n", 1)[0] for d in docs] == list(files)
    assert all(d.split("\n", 1)[1] == files[d.split("\n", 1)[0]] for d in docs)
    root = write_stack(tmp_path / "proj")
    from infra.cli import main

    assert main(["fabric", "render", "--stack", "sx", "--project-dir", str(root)]) == 0
    out = root / "artifacts" / "fabric" / "sx" / "nvue"
    assert {p.name: p.read_text() for p in out.iterdir()} == files


def test_frr_translation_passes_frrs_parser(design, tmp_path):
    vtysh = shutil.which("vtysh")
    assert vtysh, "vtysh missing: scripts/setup.sh installs Debian's frr"
    cfg = switch_configs(design)[0]
    text = frr_conf(cfg)
    for line in (
        f"router bgp {cfg.asn}",
        f" bgp router-id {cfg.router_id}",
        " bgp bestpath as-path multipath-relax",
        " neighbor swp33 interface remote-as external",
        "  redistribute connected",
        "  maximum-paths 32",
    ):
        assert line in text.splitlines()
    assert " neighbor swp1s0 interface remote-as external" not in text  # NIC ports: no BGP
    good, bad = tmp_path / "frr.conf", tmp_path / "bad.conf"
    good.write_text(text)
    bad.write_text(text.replace("maximum-paths", "maximum-pathz"))
    for f in (good, bad):
        f.chmod(0o644)
    assert subprocess.run([vtysh, "-C", "-f", str(good)], capture_output=True).returncode == 0
    assert subprocess.run([vtysh, "-C", "-f", str(bad)], capture_output=True).returncode != 0


def test_simulation_variant_announces_the_same_prefixes(design):
    """The loopback-only simulation announces with `network` what redistribute connected
    would: the loopback and each NIC /31."""
    cfg = switch_configs(design)[0]
    text = bgpd_conf(cfg, originate="network")
    nets = [ln.split()[1] for ln in text.splitlines() if ln.startswith("  network ")]
    want = [cfg.loopback] + [str(ipaddress.ip_interface(p.address).network) for p in cfg.nic_ports]
    assert nets == want and len(nets) == 65
    assert "redistribute connected" not in text and " no bgp network import-check" in text
