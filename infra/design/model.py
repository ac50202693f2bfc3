"""The Design: every physical object of a site, computed from the spec.

Plain frozen dataclasses with slots: a memphis-scale design holds ~300,000 links, so the
objects stay small and cheap to build. Everything here is data; the compilers in this
package fill it, and adapters (Pulumi, Ansible, OpenSM, review) only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Rack:
    name: str  # e.g. "h1-r03-k07" (hall 1, row 3, rack 7)
    hall: str
    row: str
    index: int  # position in its row, 0-based, including network racks
    kind: str  # "compute" | "network"
    x_m: float  # site coordinates of the rack's front centre
    y_m: float
    rack_type: str  # spec rack type name; "network" for switch racks
    su: str | None = None  # scalable unit of a compute rack


class Hca(NamedTuple):  # a NamedTuple: 100,000+ per memphis design, cheap to build
    rail: int  # 0..rails-1; the GPU index it sits beside
    device: str  # OS device name, "mlx5_<rail>"
    plane: str  # the fabric plane (InfiniBand subnet) it belongs to
    leaf: str  # leaf switch name
    leaf_port: int  # 1-based port on that leaf


@dataclass(frozen=True, slots=True)
class Node:
    name: str  # e.g. "h1-su001-n07"
    index: int  # global node index, 0-based, in layout order
    hall: str
    su: str
    slot: int  # slot in its scalable unit (0-based), fixes its leaf port
    rack: str
    u: int  # lowest U the node occupies (1 = bottom)
    model: str  # catalog node model
    mgmt_ip: str
    bmc_ip: str
    hcas: tuple[Hca, ...] = ()


@dataclass(frozen=True, slots=True)
class SmHost:
    """A dedicated subnet manager server: one HCA port in every plane (its `hcas`), in a
    node slot of the first SU. Index 0 is every plane's master, the rest are standbys."""

    name: str  # "sm1", "sm2", ...
    hall: str
    rack: str
    u: int
    model: str
    mgmt_ip: str
    sm_priority: int  # OpenSM sm_priority 0-15: 15 for the master, lower for standbys
    hcas: tuple[Hca, ...] = ()


@dataclass(frozen=True, slots=True)
class Switch:
    name: str  # e.g. "p0-leaf-su001-r3", "p0-spine-g02-s17", "p0-core-c005"
    tier: str  # "leaf" | "spine" | "core"
    plane: str
    group: str  # leaf: its SU; spine: its pod; core: its core group
    model: str
    ports: int  # usable ports in the chosen split mode
    rack: str
    u: int
    mgmt_ip: str = ""  # out-of-band management address (addressing.switch_mgmt_cidr)


class Link(NamedTuple):  # a NamedTuple: ~300,000 per memphis design, cheap to build
    tier: str  # "node_leaf" | "leaf_spine" | "spine_core"
    plane: str
    a_dev: str  # lower end (node/UFM for node_leaf, leaf, spine)
    a_port: int  # HCA rail for nodes (0-based), 1-based port for switches
    b_dev: str  # upper end (leaf, spine, core)
    b_port: int
    medium: str  # catalog medium, "" when nothing reaches (a reach violation)
    length_m: float


@dataclass(frozen=True, slots=True)
class Plane:
    name: str  # "p0"... one InfiniBand subnet, one subnet manager
    rails: tuple[int, ...]  # which HCA rails land in this plane
    tiers: int
    radix: int
    leaves: int
    spines: int
    cores: int
    endpoints: int  # HCA ports (nodes and UFM) attached to the plane
    lids: int  # unicast LIDs the subnet needs: endpoints << lmc plus one per switch
    oversubscription: dict[str, float] = field(default_factory=dict)
    lmc: int = 0  # fabric.lmc: each HCA port answers to 2**lmc LIDs (opensm.conf `lmc`)
    storage: bool = False  # carries storage traffic (fabric.storage_on_rails): QoS on


@dataclass(frozen=True, slots=True)
class SwitchL3:
    """A Spectrum-X switch's routing identity: its BGP ASN and its loopback (also the BGP
    router-id). Switch-to-switch links are BGP unnumbered (IPv6 link-local, RFC 5549), so
    the loopback is the only address a switch owns besides its NIC-facing /31s."""

    name: str  # the Switch's name
    asn: int  # 4-byte private ASN (RFC 6996): each leaf its own, a pod's spines one, cores one
    loopback: str  # "a.b.c.d/32"


@dataclass(frozen=True, slots=True)
class NicL3:
    """One NIC's routed link to its leaf: a /31 (RFC 3021), the leaf side the even address
    (the NIC's gateway), the NIC the odd one; the leaf redistributes it as connected."""

    node: str
    rail: int
    device: str  # "mlx5_<rail>"
    leaf: str
    leaf_port: int  # 1-based logical leaf port (ethernet.port_name maps it to swpNsM)
    address: str  # the NIC's address, "a.b.c.d/31"
    gateway: str  # the leaf side, "a.b.c.d" (no prefix length)


@dataclass(frozen=True, slots=True)
class RackPower:
    rack: str
    hall: str
    expected_kw: float
    nameplate_kw: float
    feed_capacity_kw: float  # what one feed (A or B) can carry; 2N: each must hold the rack
    feed_a_kw: float  # normal operation: nameplate split across both feeds
    feed_b_kw: float


@dataclass(frozen=True, slots=True)
class PhasePower:
    phase: str
    halls: tuple[str, ...]  # halls with anything energized
    sus: int  # scalable units energized
    it_kw: float
    facility_kw: float  # it_kw * PUE
    contract_kw: float
    onsite_kw: float  # on-site generation (storage is a bridge, never counted)
    storage_kw: float

    @property
    def supply_kw(self) -> float:
        """What the phase may draw: the contract plus on-site generation."""
        return self.contract_kw + self.onsite_kw

    def loads(self) -> dict:
        """The phase's figures as the Pulumi resource and the design summary both show
        them (one shape, one home)."""
        return {
            "halls": list(self.halls),
            "sus": self.sus,
            "it_kw": self.it_kw,
            "facility_kw": self.facility_kw,
            "contract_kw": self.contract_kw,
            "onsite_kw": self.onsite_kw,
        }


@dataclass(frozen=True, slots=True)
class RackCooling:
    rack: str
    hall: str
    row: str
    heat_kw: float
    liquid_kw: float
    air_kw: float
    flow_lpm: float  # technology cooling system (secondary loop) flow


@dataclass(frozen=True, slots=True)
class CduLoad:
    name: str  # in-rack: the rack's name + "-cdu"; in-row: "<row>-cdu<i>"
    hall: str
    placement: str  # "in_rack" | "in_row"
    model: str
    units: int  # CDUs sharing this load (in-row) or 1
    load_kw: float
    capacity_kw: float  # usable capacity with one unit (or pump) failed: N+1

    # The one home of the CDU load figure: the rule, the policy pack, the Pulumi
    # components and the plan review all read these, none divides on its own.
    @property
    def overloaded(self) -> bool:
        """The liquid load exceeds what is left with one unit (or pump) failed; a CDU
        with no spare at all (capacity 0) is overloaded by any load."""
        return self.load_kw > self.capacity_kw

    @property
    def load_pct(self) -> float | None:
        """Liquid load as a share of the N+1 capacity, in %; None without N+1 capacity."""
        return self.load_kw / self.capacity_kw * 100 if self.capacity_kw else None


@dataclass(frozen=True, slots=True)
class Power:
    racks: tuple[RackPower, ...]
    hall_it_kw: dict[str, float]
    it_kw: float
    facility_kw: float
    pue: float
    contract_kw: float
    onsite_kw: float
    storage_kw: float
    storage_kwh: float
    phases: tuple[PhasePower, ...]


@dataclass(frozen=True, slots=True)
class Cooling:
    racks: tuple[RackCooling, ...]
    cdus: tuple[CduLoad, ...]
    liquid_kw: float
    air_kw: float
    flow_lpm: float  # total secondary-loop coolant flow
    facility_water_lpm: float  # primary (facility) water demand at the plant's delta-T
    plant_capacity_kw: float


@dataclass(frozen=True, slots=True)
class Design:
    site: str
    stack: str
    racks: tuple[Rack, ...]
    nodes: tuple[Node, ...]
    switches: tuple[Switch, ...]
    links: tuple[Link, ...]
    planes: tuple[Plane, ...]
    power: Power
    cooling: Cooling
    gpus_per_node: int
    gpus: int
    ufm_rack: str = ""  # where the UFM appliance (device "ufm") stands, if the fabric has one
    ufm_u: int = 0
    # A hall's part of a site (infra/design/part.py): each link's 1-based number in the
    # site's design, so its cable ids are the site's labels. Empty: numbered in order.
    link_numbers: tuple[int, ...] = ()
    sm_hosts: tuple[SmHost, ...] = ()  # dedicated subnet managers (fabric.subnet_managers)
    # fabric.technology: "infiniband_ndr" or "spectrum_x". Spectrum-X designs hold one
    # plane "p0" with all rails, and the L3 plan below (empty for InfiniBand).
    technology: str = "infiniband_ndr"
    switches_l3: tuple[SwitchL3, ...] = ()  # in the order of `switches`
    nics_l3: tuple[NicL3, ...] = ()  # node order, then rail
