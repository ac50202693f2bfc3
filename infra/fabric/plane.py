"""One subnet (plane) of the design as ports and cables: the shape every fabric artifact
(topology file, OpenSM files, fault injection) is written from.

An HCA is a single-port channel adapter named by its node description, "<host> mlx5_<rail>"
(what rdma-ndd sets on Linux and what ibnetdiscover reports), and its port is 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.design.model import Design, Link
from infra.errors import InputError

End = tuple[str, int]  # (device: switch name or HCA description, 1-based port)
HCA_PORT = 1
UFM_DEVICE = "ufm"  # the UFM appliance's HCAs land on leaves like a node's


def hca_desc(host: str, rail: int) -> str:
    return f"{host} mlx5_{rail}"


def link_ends(link: Link) -> tuple[End, End]:
    """The two ends of a designed cable; a node's end is its HCA on port 1."""
    if link.tier == "node_leaf":
        return (hca_desc(link.a_dev, link.a_port), HCA_PORT), (link.b_dev, link.b_port)
    return (link.a_dev, link.a_port), (link.b_dev, link.b_port)


@dataclass
class PlaneFabric:
    name: str
    switches: dict[str, int] = field(default_factory=dict)  # name -> ports, top tier first
    switch_tier: dict[str, str] = field(default_factory=dict)
    cas: list[str] = field(default_factory=list)  # HCA descriptions, design order
    compute: list[str] = field(default_factory=list)  # HCAs of compute nodes (not UFM)
    sms: list[str] = field(default_factory=list)  # dedicated SM hosts' HCAs, master first
    sm_priority: dict[str, int] = field(default_factory=dict)  # SM HCA -> sm_priority
    links: list[tuple[End, End, str]] = field(default_factory=list)  # (a, b, tier)

    @property
    def roots(self) -> list[str]:
        """ftree roots: the top tier's switches (cores in 3 tiers, spines in 2)."""
        tiers = set(self.switch_tier.values())
        top = "core" if "core" in tiers else "spine" if "spine" in tiers else "leaf"
        return [s for s, t in self.switch_tier.items() if t == top]

    @property
    def sm_ca(self) -> str:
        """Where the subnet manager runs: the UFM appliance if the plane has one, else
        the first node's HCA. With dedicated SM hosts (fabric.subnet_managers), the
        master's HCA."""
        if self.sms:
            return self.sms[0]
        ufm = [c for c in self.cas if c.startswith(UFM_DEVICE + " ")]
        if ufm:
            return ufm[0]
        if not self.cas:
            raise InputError([f"plane {self.name}: no HCAs attached, nothing to manage"])
        return self.cas[0]


_TIER_ORDER = {"core": 0, "spine": 1, "leaf": 2}


def plane_names(design: Design) -> list[str]:
    return [p.name for p in design.planes]


def plane_fabric(design: Design, plane: str) -> PlaneFabric:
    if plane not in plane_names(design):
        known = ", ".join(plane_names(design)) or "none"
        raise InputError([f"plane {plane!r} is not in the design (planes: {known})"])
    fabric = PlaneFabric(name=plane)
    switches = sorted(
        (s for s in design.switches if s.plane == plane), key=lambda s: _TIER_ORDER[s.tier]
    )
    for sw in switches:
        fabric.switches[sw.name] = sw.ports
        fabric.switch_tier[sw.name] = sw.tier
    seen: set[str] = set()
    for host in design.sm_hosts:  # master first (highest sm_priority)
        for hca in host.hcas:
            if hca.plane == plane:
                desc = hca_desc(host.name, hca.rail)
                fabric.sms.append(desc)
                fabric.sm_priority[desc] = host.sm_priority
    sm_cas = set(fabric.sms)
    for link in design.links:
        if link.plane != plane:
            continue
        a, b = link_ends(link)
        fabric.links.append((a, b, link.tier))
        if link.tier == "node_leaf" and a[0] not in seen:
            seen.add(a[0])
            fabric.cas.append(a[0])
            if link.a_dev != UFM_DEVICE and a[0] not in sm_cas:
                fabric.compute.append(a[0])
    return fabric
