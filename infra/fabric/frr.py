"""The rendered underlay (infra/fabric/nvue.py's SwitchConfig) as FRRouting configuration:
what Cumulus Linux itself generates from NVUE (its routing suite is FRR), and what the
simulated fabric runs under Debian's frr.

- `router bgp <asn>`, `bgp router-id <loopback>`;
- every switch-to-switch port `neighbor swpN interface remote-as external` (BGP
  unnumbered: IPv6 link-local peering, IPv4 routes with IPv6 next hops, RFC 5549);
- `bgp bestpath as-path multipath-relax` (NVUE's path-selection multipath aspath-ignore)
  and `maximum-paths <fabric ports>` for ECMP;
- `redistribute connected`: the loopback /32 and the leaf's NIC /31s.

`originate="network"` is for the simulation on loopback addresses only: zebra treats
every 127.0.0.0/8 interface address as martian and drops it (zebra/connected.c,
connected_add_ipv4 -> ipv4_martian), so `redistribute connected` would announce nothing.
The simulated switches announce the very prefixes a real switch redistributes (its
loopback and NIC /31s) with `network` statements instead, under `no bgp network
import-check` (zebra never holds them as connected routes). Everything else is the same
text.
"""

from __future__ import annotations

from infra.fabric.nvue import SwitchConfig

ORIGINATE = ("redistribute", "network")
# FRR's profile for data centres (what Cumulus Linux runs): eBGP timers 3/9 s, connect
# retry 10 s, no MRAI delay. It must be the first line each daemon reads: without it a
# session whose first connect met a peer not yet listening waits 120 s to retry.
DEFAULTS = "frr defaults datacenter\n"


def zebra_conf(cfg: SwitchConfig) -> str:
    """zebra's part: forwarding, and every cabled port's description."""
    lines = [
        "ip forwarding",
        "ipv6 forwarding",
        "!",
    ]
    for p in cfg.ports:
        lines += [f"interface {p.name}", f" description {p.peer} {p.peer_port}", "exit", "!"]
    return "\n".join(lines) + "\n"


def daemon_conf(text: str, cfg: SwitchConfig) -> str:
    """One daemon's own configuration file (zebra.conf, bgpd.conf) from its part: the
    profile line first, then its hostname (bgpd announces it in the hostname capability)."""
    return f"{DEFAULTS}hostname {cfg.name}\n!\n{text}"


def bgpd_conf(cfg: SwitchConfig, originate: str = "redistribute") -> str:
    """bgpd's part: the BGP unnumbered underlay of one switch."""
    if originate not in ORIGINATE:
        raise ValueError(f"originate {originate!r}: one of {ORIGINATE}")
    lines = [
        f"router bgp {cfg.asn}",
        f" bgp router-id {cfg.router_id}",
        " bgp bestpath as-path multipath-relax",
        " no bgp ebgp-requires-policy",
    ]
    if originate == "network":
        lines.append(" no bgp network import-check")
    lines += [f" neighbor {p.name} interface remote-as external" for p in cfg.fabric_ports]
    lines.append(" address-family ipv4 unicast")
    if originate == "redistribute":
        lines.append("  redistribute connected")
    else:
        lines.append(f"  network {cfg.loopback}")
        lines += [f"  network {_subnet(p.address)}" for p in cfg.nic_ports]
    lines += [f"  maximum-paths {cfg.multipaths}", " exit-address-family", "exit", "!"]
    return "\n".join(lines) + "\n"


def frr_conf(cfg: SwitchConfig, originate: str = "redistribute") -> str:
    """The integrated frr.conf (`service integrated-vtysh-config`) of one switch."""
    head = f"{DEFAULTS}hostname {cfg.name}\nservice integrated-vtysh-config\n!\n"
    return head + zebra_conf(cfg) + bgpd_conf(cfg, originate)


def _subnet(address: str) -> str:
    """'a.b.c.d/31' (an interface address) -> its network prefix."""
    import ipaddress

    return str(ipaddress.ip_interface(address).network)
