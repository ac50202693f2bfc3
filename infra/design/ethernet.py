"""The Spectrum-X (RoCE v2 Ethernet) fabric: a rail-optimized Clos of SN5600 switches.

Port naming is the contract every consumer (NVUE rendering, the FRR simulation, LLDP
validation, the node inventory) shares, so it lives here beside the planner.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from infra.catalog import Catalog
from infra.design.fabric import FabricResult, _Racking, smallest_divisor_at_least
from infra.design.layout import Layout
from infra.design.model import Hca, NicL3, Plane, Switch, SwitchL3
from infra.errors import InputError, at
from infra.spec import ASN_PRIVATE_4B, ClusterSpec

PLANE = "p0"  # one routed fabric holds every rail
SPINE_PORTS = 64  # a spine's or core's 800G ports: also the 2-tier leaf limit
POD_LEAVES = 32  # 3 tiers: leaves (and spines) per pod; a spine's other 32 ports go up

# A leaf's 32 NIC-facing cages are each split into 2 x 400G (logical ports 1-64); its
# other 32 cages are 800G uplinks (logical ports 65-96). Spines and cores use all 64
# cages at 800G.
LEAF_DOWN_CAGES = 32
LEAF_DOWN_PORTS = 2 * LEAF_DOWN_CAGES  # 64 x 400G
LEAF_UP_PORTS = 32  # 32 x 800G
LEAF_PORTS = LEAF_DOWN_PORTS + LEAF_UP_PORTS  # 96 logical ports


def port_name(tier: str, port: int) -> str:
    """Cumulus Linux interface name of a 1-based logical port: leaf ports 1-64 are the
    breakout lanes swp1s0, swp1s1, ... swp32s1; leaf ports 65-96 are swp33..swp64; spine
    and core ports 1-64 are swp1..swp64."""
    if tier == "leaf":
        if 1 <= port <= LEAF_DOWN_PORTS:
            return f"swp{(port - 1) // 2 + 1}s{(port - 1) % 2}"
        if LEAF_DOWN_PORTS < port <= LEAF_PORTS:
            return f"swp{port - LEAF_DOWN_PORTS + LEAF_DOWN_CAGES}"
    elif tier in ("spine", "core") and 1 <= port <= 64:
        return f"swp{port}"
    raise ValueError(f"no port {port} on a Spectrum-X {tier}")


# ---- the planner ------------------------------------------------------------------------
# Port arithmetic of the SN5600 Clos (docs/spectrum-x.md writes it out):
#   leaf   64 x 400G down (32 nodes x 2 rails) + 32 x 800G up: 25.6 Tb/s each way, 1:1
#   2 tiers: S spines, the smallest divisor of 32 with 64*S >= 32*L (L leaves): each leaf
#            sends 32/S links to every spine; at most 64 leaves (16 SUs) on 32 spines
#   3 tiers: pods of 32 leaves and 32 spines (spine: 32 down, 32 up); spine s of every pod
#            joins core group s of C cores, C the smallest divisor of 32 with 64*C >= 32*pods;
#            at most 64 pods (512 SUs, 131,072 NICs) on 32 x 32 cores


@dataclass
class EthernetResult(FabricResult):
    switches_l3: list[SwitchL3] = field(default_factory=list)
    nics_l3: list[NicL3] = field(default_factory=list)


def leaf_name(su: str, index: int) -> str:
    """Leaf `index` (0-based) of an SU: it carries rails 2*index and 2*index+1."""
    return f"{PLANE}-leaf-{su}-l{index + 1}"


def nic_port(slot: int, rail: int) -> int:
    """Leaf port of a node's NIC: the node's slot picks the cage (slot 0 -> cage 1), the
    rail's parity the lane, so a node's two NICs on one leaf share one splitter cable."""
    return 2 * slot + rail % 2 + 1


def _ip(value: int) -> str:
    # ~200,000 NIC addresses in memphis: plain formatting is ~5x ipaddress's str().
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def compile_ethernet(spec: ClusterSpec, catalog: Catalog, layout: Layout) -> EthernetResult:
    fab = spec.fabric
    model = catalog.switches[fab.switch]
    rails = {catalog.nodes[s.model].rails for s in layout.slots}
    if len(rails) != 1:
        raise InputError([at("rack_types", "all node models must have the same rail count")])
    rails_n = rails.pop()
    _check_shape(spec, model, rails_n)
    out = EthernetResult()
    height = model.height_u
    racking = _Racking(spec, layout, height)
    per_su = rails_n // 2
    leaves: list[str] = []
    for su in layout.sus:
        for j in range(per_su):
            rack, u = racking.leaf(su)
            name = leaf_name(su, j)
            out.switches.append(Switch(name, "leaf", PLANE, su, fab.switch, LEAF_PORTS, rack, u))
            leaves.append(name)
    _attach_nics(layout, out, rails_n)
    tiers = int(fab.tiers) if fab.tiers != "auto" else (2 if len(leaves) <= SPINE_PORTS else 3)
    hall_of = [layout.su_hall[s.group] for s in out.switches]
    if tiers == 2:
        spines, cores = _two_tier(spec, out, racking, leaves, hall_of)
    else:
        spines, cores = _three_tier(spec, out, racking, leaves, hall_of)
    out.planes.append(
        Plane(
            PLANE,
            tuple(range(rails_n)),
            tiers,
            SPINE_PORTS,
            len(leaves),
            spines,
            cores,
            len(layout.slots) * rails_n,
            0,  # no LIDs on Ethernet
            {"leaf": 1.0, "spine": 1.0},
        )
    )
    out.racks = racking.area_racks(spec)
    out.switches_l3 = _switch_l3(spec, out.switches, len(leaves))
    out.nics_l3 = _nic_l3(spec, layout, out.hcas)
    return out


def _check_shape(spec: ClusterSpec, model, rails_n: int) -> None:
    fab = spec.fabric
    problems = []
    if rails_n % 2:
        problems.append(
            at("rack_types", f"spectrum_x leaves carry rails in pairs; the nodes have {rails_n}")
        )
    if 2 * fab.su_nodes > LEAF_DOWN_PORTS:
        problems.append(
            at(
                "fabric.su_nodes",
                f"{fab.su_nodes} nodes x 2 rails exceed a leaf's {LEAF_DOWN_PORTS} x 400G ports "
                f"(at most {LEAF_DOWN_PORTS // 2})",
            )
        )
    if fab.oversubscription.leaf != 1.0 or fab.oversubscription.spine != 1.0:
        problems.append(
            at("fabric.oversubscription", "spectrum_x fabrics are built 1:1 (non-blocking)")
        )
    if fab.switches_per_rack * model.height_u > 48:
        problems.append(
            at(
                "fabric.switches_per_rack",
                f"{fab.switches_per_rack} x {model.height_u}U {fab.switch} exceed a 48U rack",
            )
        )
    if problems:
        raise InputError(problems)


def _attach_nics(layout: Layout, out: EthernetResult, rails_n: int) -> None:
    append = out.links.append
    devices = [f"mlx5_{r}" for r in range(rails_n)]
    for s in layout.slots:
        hcas = out.hcas.setdefault(s.name, [])
        for rail in range(rails_n):
            leaf = leaf_name(s.su, rail // 2)
            port = nic_port(s.slot, rail)
            append(("node_leaf", PLANE, s.name, rail, leaf, port))
            hcas.append(Hca(rail, devices[rail], PLANE, leaf, port))


def _spine(spec, racking, name: str, group: str, hall: str) -> Switch:
    rack, u = racking.area(hall, "spine")
    return Switch(name, "spine", PLANE, group, spec.fabric.switch, SPINE_PORTS, rack, u)


def _two_tier(spec, out, racking, leaves, hall_of) -> tuple[int, int]:
    n = smallest_divisor_at_least(LEAF_UP_PORTS, -(-len(leaves) * LEAF_UP_PORTS // SPINE_PORTS))
    per_pair = LEAF_UP_PORTS // n
    spines = [
        _spine(spec, racking, f"{PLANE}-spine-{s + 1:03d}", "pod01", hall_of[0]) for s in range(n)
    ]
    out.switches.extend(spines)
    append = out.links.append
    for i, leaf in enumerate(leaves):
        for s, spine in enumerate(spines):
            for j in range(per_pair):
                append(
                    (
                        "leaf_spine",
                        PLANE,
                        leaf,
                        LEAF_DOWN_PORTS + 1 + s * per_pair + j,
                        spine.name,
                        i * per_pair + j + 1,
                    )
                )
    return n, 0


def _three_tier(spec, out, racking, leaves, hall_of) -> tuple[int, int]:
    fab = spec.fabric
    if fab.core_area is None:
        raise InputError(
            [
                at(
                    "fabric.core_area",
                    f"required: {len(leaves)} leaves need 3 tiers "
                    f"(2 tiers hold {SPINE_PORTS} leaves)",
                )
            ]
        )
    pod, spine_up = POD_LEAVES, SPINE_PORTS - POD_LEAVES
    pods = -(-len(leaves) // pod)
    per_group = smallest_divisor_at_least(spine_up, -(-pods * spine_up // SPINE_PORTS))
    per_pair = spine_up // per_group
    cores = []
    for g in range(LEAF_UP_PORTS):
        for c in range(per_group):
            rack, u = racking.area(fab.core_area.hall, "core")
            cores.append(
                Switch(
                    f"{PLANE}-core-g{g + 1:02d}-c{c + 1}",
                    "core",
                    PLANE,
                    f"group{g + 1:02d}",
                    fab.switch,
                    SPINE_PORTS,
                    rack,
                    u,
                )
            )
    spines = []
    append = out.links.append
    for p in range(pods):
        members = leaves[p * pod : (p + 1) * pod]
        for s in range(LEAF_UP_PORTS):
            spine = _spine(
                spec,
                racking,
                f"{PLANE}-spine-pod{p + 1:02d}-s{s + 1:02d}",
                f"pod{p + 1:02d}",
                hall_of[p * pod],
            )
            spines.append(spine)
            for i, leaf in enumerate(members):
                append(("leaf_spine", PLANE, leaf, LEAF_DOWN_PORTS + 1 + s, spine.name, i + 1))
            for c in range(per_group):
                core = cores[s * per_group + c].name
                for j in range(per_pair):
                    append(
                        (
                            "spine_core",
                            PLANE,
                            spine.name,
                            pod + 1 + c * per_pair + j,
                            core,
                            p * per_pair + j + 1,
                        )
                    )
    out.switches.extend(spines)
    out.switches.extend(cores)
    return len(spines), len(cores)


def _pool(spec: ClusterSpec, key: str, needed: int, what: str) -> int:
    """The first address of a pool that holds `needed` addresses, or InputError."""
    net = ipaddress.ip_network(getattr(spec.addressing, key))
    if net.num_addresses < needed:
        raise InputError(
            [
                at(
                    f"addressing.{key}",
                    f"{net} holds {net.num_addresses:,} addresses; the design needs "
                    f"{needed:,} ({what})",
                )
            ]
        )
    return int(net.network_address)


def _switch_l3(spec: ClusterSpec, switches: list[Switch], leaves: int) -> list[SwitchL3]:
    """ASNs (RFC 7938): each leaf its own, the spines of a pod one per pod, the cores one.
    Loopbacks: one /32 per switch in switch order, from the pool's second address."""
    base = spec.fabric.asn_base
    pods = sorted({s.group for s in switches if s.tier == "spine"})
    asn_of_pod = {g: base + leaves + i for i, g in enumerate(pods)}
    core_asn = base + leaves + len(pods)
    top = core_asn if any(s.tier == "core" for s in switches) else core_asn - 1
    if top > ASN_PRIVATE_4B[1]:
        raise InputError(
            [
                at(
                    "fabric.asn_base",
                    f"{base} + {top - base + 1} ASNs pass the last private ASN {ASN_PRIVATE_4B[1]}",
                )
            ]
        )
    first = _pool(spec, "fabric_loopback_cidr", len(switches) + 1, "one /32 per switch") + 1
    out = []
    leaf_i = 0
    for k, sw in enumerate(switches):
        if sw.tier == "leaf":
            asn = base + leaf_i
            leaf_i += 1
        elif sw.tier == "spine":
            asn = asn_of_pod[sw.group]
        else:
            asn = core_asn
        out.append(SwitchL3(sw.name, asn, f"{_ip(first + k)}/32"))
    return out


def _nic_l3(spec: ClusterSpec, layout: Layout, hcas: dict[str, list[Hca]]) -> list[NicL3]:
    """One /31 per NIC in node order, then rail: the leaf side (gateway) is the even
    address, the NIC the odd one."""
    count = sum(len(hcas[s.name]) for s in layout.slots)
    base = _pool(spec, "rail_cidr", 2 * count, "one /31 per NIC")
    out = []
    append = out.append
    k = 0
    for s in layout.slots:
        for h in hcas[s.name]:
            even = base + 2 * k
            append(
                NicL3(
                    s.name, h.rail, h.device, h.leaf, h.leaf_port, f"{_ip(even + 1)}/31", _ip(even)
                )
            )
            k += 1
    return out
