"""Spectrum-X switch configuration as code: per switch, the NVIDIA Cumulus Linux NVUE
configuration of the design's L3 underlay, in the YAML `nv config show -o yaml` prints and
`nv config replace FILE` + `nv config apply` take (a list holding one `set:` tree).

What each switch gets (NVUE reference, Cumulus Linux 5.x:
https://docs.nvidia.com/networking-ethernet-software/nvue-reference/):
- `system hostname`, `router bgp autonomous-system` and `router-id` (the loopback), the
  loopback address on `interface lo` (`type: loopback`);
- every cabled port (`type: swp`) at `link mtu 9216`; a leaf's NIC-facing breakout lanes
  (swpNs0/swpNs1) carry the even address of their NIC's /31 (the NIC's gateway);
- `vrf default router bgp`: every switch-to-switch port a BGP unnumbered neighbor
  (`remote-as: external`, `type: unnumbered`: IPv6 link-local sessions carrying IPv4,
  RFC 5549), `address-family ipv4-unicast` with `redistribute connected` (the loopback and
  the NIC /31s) and `multipaths ebgp` = the switch's fabric ports, `path-selection
  multipath aspath-ignore` (RFC 7938: paths through different spines carry different
  ASNs and must still form one ECMP group);
- `qos roce mode lossless`: NVUE's RoCE profile, whose documented defaults are exactly the
  design's: trust DSCP (L3), RoCE on switch priority 3 with PFC (lossless), CNP on
  priority 6 (strict), ECN on traffic class 3
  (https://docs.nvidia.com/networking-ethernet-software/cumulus-linux-514/Layer-1-and-Switch-Ports/Quality-of-Service/RDMA-over-Converged-Ethernet-RoCE/);
- `router adaptive-routing` globally and on every switch-to-switch port where the
  platform has it (Spectrum-4 SN5600 from Cumulus Linux 5.6:
  https://docs.nvidia.com/networking-ethernet-software/nvue-reference/Set-and-Unset-Commands/Adaptive-Routing/).

Key spelling: Cumulus Linux 5.0-5.14 (`enable: on`); 5.15 renamed the switches to
`state: enabled` (said on each NVUE reference page), which NVUE_RELEASE records.

One renderer: the Pulumi artifact, `fabric render` and the Ansible role all write these
bytes; the FRR simulation (infra/fabric/frr.py) translates the same SwitchConfig.
Written by hand, not yaml.dump: the memphis site has thousands of switches and ~300,000
ports, and the output must be byte-for-byte deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from infra.design.ethernet import port_name
from infra.design.model import Design

NVUE_RELEASE = "5.14"  # key spelling: `enable: on` (5.15+: `state: enabled`)
MTU = 9216
ROCE_PRIORITY = 3  # switch priority of RoCE traffic (lossless, PFC): NVUE's default
CNP_PRIORITY = 6  # congestion notification packets (strict priority): NVUE's default
ROCE_MODE = "lossless"
# Platforms with adaptive routing in Cumulus Linux: Spectrum-4 (SN5600) from 5.6; on
# Spectrum-2/3 it was a beta only (NVUE reference, Adaptive Routing show commands).
ADAPTIVE_ROUTING_MODELS = frozenset({"SN5600"})
TIERS = ("leaf", "spine", "core")


@dataclass(frozen=True, slots=True)
class Port:
    """One cabled switch port: its Cumulus name, what is at the other end, and (NIC
    ports) the leaf side of the NIC's /31."""

    number: int  # 1-based logical port (ethernet.port_name maps it)
    name: str  # swp1s0, swp33, ...
    peer: str  # switch name, or the node name for a NIC port
    peer_port: str  # peer switch's interface name, or the NIC's device (mlx5_<rail>)
    address: str = ""  # leaf side of the NIC /31 ("a.b.c.d/31"); "" on fabric ports

    @property
    def fabric(self) -> bool:
        return not self.address


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    name: str
    tier: str
    model: str
    asn: int
    loopback: str  # "a.b.c.d/32"
    ports: tuple[Port, ...]  # in port order

    @property
    def router_id(self) -> str:
        return self.loopback.split("/")[0]

    @property
    def fabric_ports(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.fabric)

    @property
    def nic_ports(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if not p.fabric)

    @property
    def adaptive_routing(self) -> bool:
        return self.model in ADAPTIVE_ROUTING_MODELS

    @property
    def multipaths(self) -> int:
        """ECMP width BGP may install: every switch-to-switch port (a leaf reaches a remote
        NIC through each uplink; a spine reaches a leaf over every parallel cable)."""
        return max(1, len(self.fabric_ports))


def switch_configs(design: Design, links=None) -> list[SwitchConfig]:
    """Per switch of a spectrum_x design, its L3 configuration, in the design's switch
    order. `links` (default the design's) lets the simulation pass a faulted cabling."""
    if not design.switches_l3:
        raise ValueError(f"{design.stack}: not a spectrum_x design (no switches_l3)")
    tier_of = {s.name: s.tier for s in design.switches}
    nic_at = {(n.leaf, n.leaf_port): n for n in design.nics_l3}
    ports: dict[str, list[Port]] = defaultdict(list)
    for link in design.links if links is None else links:
        if link.tier == "node_leaf":
            nic = nic_at.get((link.b_dev, link.b_port))
            device = nic.device if nic else f"mlx5_{link.a_port}"
            address = f"{nic.gateway}/31" if nic else ""
            if not address:
                raise ValueError(f"{link.b_dev} port {link.b_port}: no NIC /31 in the design")
            ports[link.b_dev].append(
                Port(link.b_port, port_name("leaf", link.b_port), link.a_dev, device, address)
            )
            continue
        a_tier, b_tier = tier_of[link.a_dev], tier_of[link.b_dev]
        a_name, b_name = port_name(a_tier, link.a_port), port_name(b_tier, link.b_port)
        ports[link.a_dev].append(Port(link.a_port, a_name, link.b_dev, b_name))
        ports[link.b_dev].append(Port(link.b_port, b_name, link.a_dev, a_name))
    out = []
    for sw, l3 in zip(design.switches, design.switches_l3, strict=True):
        if sw.name != l3.name:
            raise ValueError(f"switches_l3 out of order: {l3.name} beside {sw.name}")
        out.append(
            SwitchConfig(
                sw.name,
                sw.tier,
                sw.model,
                l3.asn,
                l3.loopback,
                tuple(sorted(ports.get(sw.name, ()), key=lambda p: p.number)),
            )
        )
    return out


def _on(indent: str) -> str:
    return f"{indent}enable: on\n"


def nvue_yaml(cfg: SwitchConfig) -> str:
    """The switch's NVUE startup configuration (`nv config replace` input)."""
    out: list[str] = [
        f"# {cfg.name}: NVUE configuration for Cumulus Linux {NVUE_RELEASE} ({cfg.model}, "
        f"{cfg.tier}), rendered from the supercluster design.\n",
        f"# RoCE: qos roce mode {ROCE_MODE} = trust DSCP, priority {ROCE_PRIORITY} lossless "
        f"(PFC, ECN), CNP priority {CNP_PRIORITY}.\n",
        "- set:\n",
    ]
    w = out.append
    w("    interface:\n")
    w("      lo:\n")
    w("        ip:\n")
    w("          address:\n")
    w(f"            {cfg.loopback}: {{}}\n")
    w("        type: loopback\n")
    for p in cfg.ports:
        w(f"      {p.name}:\n")
        w(f"        description: {_scalar(f'{p.peer} {p.peer_port}')}\n")
        if p.address:
            w("        ip:\n")
            w("          address:\n")
            w(f"            {p.address}: {{}}\n")
        w("        link:\n")
        w(f"          mtu: {MTU}\n")
        w("          state:\n")
        w("            up: {}\n")
        if p.fabric and cfg.adaptive_routing:
            w("        router:\n")
            w("          adaptive-routing:\n")
            w(_on("            "))
        w("        type: swp\n")
    w("    qos:\n")
    w("      roce:\n")
    w(_on("        "))
    w(f"        mode: {ROCE_MODE}\n")
    w("    router:\n")
    if cfg.adaptive_routing:
        w("      adaptive-routing:\n")
        w(_on("        "))
    w("      bgp:\n")
    w(f"        autonomous-system: {cfg.asn}\n")
    w(_on("        "))
    w(f"        router-id: {cfg.router_id}\n")
    w("    system:\n")
    w(f"      hostname: {cfg.name}\n")
    w("    vrf:\n")
    w("      default:\n")
    w("        router:\n")
    w("          bgp:\n")
    w("            address-family:\n")
    w("              ipv4-unicast:\n")
    w(_on("                "))
    w("                multipaths:\n")
    w(f"                  ebgp: {cfg.multipaths}\n")
    w("                redistribute:\n")
    w("                  connected:\n")
    w(_on("                    "))
    w(_on("            "))
    fabric = cfg.fabric_ports
    if fabric:
        w("            neighbor:\n")
        for p in fabric:
            w(f"              {p.name}:\n")
            w("                remote-as: external\n")
            w("                type: unnumbered\n")
    w("            path-selection:\n")
    w("              multipath:\n")
    w("                aspath-ignore: on\n")
    return "".join(out)


def _scalar(text: str) -> str:
    """A YAML scalar that stays a string: quoted when it holds anything YAML reads."""
    plain = text and all(c.isalnum() or c in "-_. " for c in text) and text == text.strip()
    return text if plain else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_nvue(design: Design) -> dict[str, str]:
    """<switch>.yaml -> NVUE configuration, for every switch of a spectrum_x design."""
    return {f"{c.name}.yaml": nvue_yaml(c) for c in switch_configs(design)}
