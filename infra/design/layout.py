"""Layout: racks on the floor, nodes in racks and scalable units, switch racks, addresses.

Compute racks are filled in declaration order (hall, row, rack); node slots are grouped
into scalable units (SUs) of `fabric.su_nodes` in that order, SUs numbered across the
site (su001, su002, ...). Switch racks: leaves stand in the network racks at the end of
the row holding their SU's first rack; spines and cores stand in declared floor areas.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from infra.catalog import Catalog
from infra.design.model import Node, Rack
from infra.errors import InputError, at
from infra.spec import HARD_MAX_NODES, Area, ClusterSpec, Hall, RackType, capped


@dataclass(frozen=True, slots=True)
class Slot:
    """A node position before addresses and HCAs are known."""

    name: str
    hall: str
    su: str
    slot: int
    rack: str
    u: int
    model: str


@dataclass
class Layout:
    racks: list[Rack] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)  # node slots (UFM slot excluded)
    sus: list[str] = field(default_factory=list)
    su_hall: dict[str, str] = field(default_factory=dict)
    su_row: dict[str, tuple[str, str]] = field(default_factory=dict)  # (hall, row) of 1st rack
    row_network_racks: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    ufm: Slot | None = None
    sm_slots: list[Slot] = field(default_factory=list)  # dedicated subnet manager hosts
    used_slots: int = 0  # slot positions taken so far, the UFM's and each hall's padding too
    rack_types: dict[str, RackType] = field(default_factory=dict)


def check_references(spec: ClusterSpec, catalog: Catalog) -> None:
    """Cross-references the schema cannot see: names, catalog models, capacities."""
    problems: list[str] = []
    types = {}
    for i, rt in enumerate(spec.rack_types):
        path = f"rack_types[{i}]"
        if rt.name in types:
            problems.append(at(f"{path}.name", f"duplicate rack type {rt.name!r}"))
        types[rt.name] = rt
        node = catalog.nodes.get(rt.node)
        if node is None:
            problems.append(
                at(
                    f"{path}.node",
                    f"unknown node model {rt.node!r} "
                    f"(catalog has {', '.join(sorted(catalog.nodes))})",
                )
            )
        elif rt.first_node_u - 1 + rt.nodes * node.height_u > rt.height_u:
            problems.append(
                at(
                    f"{path}.nodes",
                    f"{rt.nodes} nodes of {node.height_u}U from "
                    f"U{rt.first_node_u} do not fit a {rt.height_u}U rack",
                )
            )
        if rt.pdu_model not in catalog.pdus:
            problems.append(at(f"{path}.pdu_model", f"unknown PDU model {rt.pdu_model!r}"))
        if rt.cdu != "none":
            cdu = catalog.cdus.get(rt.cdu_model or "")
            if cdu is None:
                problems.append(at(f"{path}.cdu_model", f"unknown CDU model {rt.cdu_model!r}"))
            elif cdu.placement != rt.cdu:
                problems.append(
                    at(
                        f"{path}.cdu_model",
                        f"{cdu.name} is an {cdu.placement} CDU but the rack type asks for {rt.cdu}",
                    )
                )
    fab = spec.fabric
    if fab.switch not in catalog.switches:
        problems.append(at("fabric.switch", f"unknown switch model {fab.switch!r}"))
    if fab.network_pdu_model not in catalog.pdus:
        problems.append(
            at("fabric.network_pdu_model", f"unknown PDU model {fab.network_pdu_model!r}")
        )
    if fab.technology == "spectrum_x":
        problems += _spectrum_x_problems(spec, catalog)
    elif (
        fab.switch in catalog.switches and fab.split_mode not in catalog.switches[fab.switch].ports
    ):
        problems.append(
            at("fabric.switch", f"{fab.switch} is not an InfiniBand switch (use QM9700)")
        )
    halls = set()
    for h, hall in enumerate(spec.halls):
        if hall.name in halls:
            problems.append(at(f"halls[{h}].name", f"duplicate hall {hall.name!r}"))
        halls.add(hall.name)
        rows = set()
        for r, row in enumerate(hall.rows):
            path = f"halls[{h}].rows[{r}]"
            if row.name in rows:
                problems.append(at(f"{path}.name", f"duplicate row {row.name!r} in {hall.name}"))
            rows.add(row.name)
            rt = types.get(row.rack_type)
            if rt is None:
                problems.append(at(f"{path}.rack_type", f"unknown rack type {row.rack_type!r}"))
            elif rt.cdu == "in_row" and row.cdus < 2:
                problems.append(
                    at(
                        f"{path}.cdus",
                        f"rack type {rt.name} uses in-row CDUs: declare at least 2 (N+1)",
                    )
                )
    if fab.core_area is not None and fab.core_area.hall not in halls:
        problems.append(at("fabric.core_area.hall", f"unknown hall {fab.core_area.hall!r}"))
    phases = set()
    for i, phase in enumerate(spec.phases):
        if phase.name in phases:  # each phase is a Pulumi resource named after it
            problems.append(at(f"phases[{i}].name", f"duplicate phase {phase.name!r}"))
        phases.add(phase.name)
    if problems:
        raise InputError(capped(problems))  # 1,000 rows of one bad type: not 1,000 lines


# InfiniBand-only fabric settings and their defaults: set on a spectrum_x fabric they
# would mean nothing, so they are refused rather than silently ignored.
_IB_ONLY = {"lmc": 0, "ufm": None, "subnet_managers": 0, "split_mode": "ndr400"}


def _spectrum_x_problems(spec: ClusterSpec, catalog: Catalog) -> list[str]:
    fab = spec.fabric
    problems = [
        at(f"fabric.{key}", "InfiniBand-only setting: remove it with technology spectrum_x")
        for key, default in _IB_ONLY.items()
        if getattr(fab, key) != default
    ]
    if fab.planes != "single":
        problems.append(
            at("fabric.planes", "spectrum_x is one routed fabric holding every rail: single")
        )
    model = catalog.switches.get(fab.switch)
    if model is not None and "leaf" not in model.ports:
        problems.append(at("fabric.switch", f"{fab.switch} is not an Ethernet switch (use SN5600)"))
    for key, what in (
        ("fabric_loopback_cidr", "one /32 per switch"),
        ("rail_cidr", "one /31 per NIC"),
    ):
        if getattr(spec.addressing, key) is None:
            problems.append(at(f"addressing.{key}", f"required with spectrum_x ({what})"))
    return problems


def check_size(spec: ClusterSpec, catalog: Catalog) -> None:
    """Refuse a site too big to build before building any of it: counts come from the
    spec's numbers alone (a typo of `racks: 1000000000` must fail in microseconds, not
    after 80 MB/s of allocation). Links grow with nodes x rails and switches with leaves,
    so capping nodes, racks and leaves caps the whole design."""
    limit = spec.limits.max_nodes
    types = {rt.name: rt for rt in spec.rack_types}
    nodes = racks = leaves = 0
    for hall in spec.halls:
        hall_nodes = rails = 0
        for row in hall.rows:
            rt = types[row.rack_type]
            hall_nodes += row.racks * rt.nodes
            racks += row.racks + row.network_racks
            rails = max(rails, catalog.nodes[rt.node].rails)
        nodes += hall_nodes
        leaves += -(-hall_nodes // spec.fabric.su_nodes) * rails  # each hall starts a new SU
    override = f"set limits.max_nodes (at most {HARD_MAX_NODES:,}) to build a site this large"
    for count, what, path in (
        (nodes, "nodes", "halls"),
        (racks, "racks", "halls"),
        (leaves, "leaf switches", "fabric.su_nodes"),
    ):
        if count > limit:
            raise InputError(
                [
                    at(
                        path,
                        f"the site has {count:,} {what}, over the limit of {limit:,}: {override}",
                    )
                ]
            )


def _area_rack(hall: Hall, area: Area, kind: str, i: int) -> Rack:
    line, pos = divmod(i, area.racks_per_line)
    return Rack(
        name=f"{hall.name}-{kind}-{i + 1:02d}",
        hall=hall.name,
        row=kind,
        index=i,
        kind="network",
        x_m=round(hall.x_m + area.x_m + pos * 0.6, 3),
        y_m=round(hall.y_m + area.y_m + line * area.line_spacing_m, 3),
        rack_type="network",
    )


def _place_hall(spec: ClusterSpec, hall: Hall, out: Layout, catalog: Catalog) -> None:
    su_nodes = spec.fabric.su_nodes
    for row in hall.rows:
        rt = out.rack_types[row.rack_type]
        height = catalog.nodes[rt.node].height_u
        for k in range(row.racks + row.network_racks):
            name = f"{hall.name}-{row.name}-{k + 1:02d}"
            x = round(hall.x_m + row.x_m + k * row.pitch_m, 3)
            y = round(hall.y_m + row.y_m, 3)
            if k >= row.racks:
                out.racks.append(Rack(name, hall.name, row.name, k, "network", x, y, "network"))
                out.row_network_racks.setdefault((hall.name, row.name), []).append(name)
                continue
            first_su = None
            for n in range(rt.nodes):
                index = out.used_slots
                out.used_slots += 1
                su_index, slot = divmod(index, su_nodes)
                su = f"su{su_index + 1:03d}"
                if su not in out.su_hall:
                    out.sus.append(su)
                    out.su_hall[su] = hall.name
                    out.su_row[su] = (hall.name, row.name)
                first_su = first_su or su
                place = Slot(
                    node_name(hall.name, su, slot),
                    hall.name,
                    su,
                    slot,
                    name,
                    rt.first_node_u + n * height,
                    rt.node,
                )
                if spec.fabric.ufm and su_index == 0 and slot == su_nodes - 1:
                    out.ufm = place  # the UFM appliance takes this slot (RA-11333-001)
                elif su_index == 0 and slot >= su_nodes - _reserved(spec):
                    out.sm_slots.append(place)  # a subnet manager host takes this one
                else:
                    out.slots.append(place)
            out.racks.append(Rack(name, hall.name, row.name, k, "compute", x, y, rt.name, first_su))
    # A hall's node count need not fill its last SU; the next hall starts a fresh SU.
    out.used_slots += -out.used_slots % su_nodes


def _reserved(spec: ClusterSpec) -> int:
    """Slots at the end of the first SU that hold no node: the UFM's and the SM hosts'."""
    return (1 if spec.fabric.ufm else 0) + spec.fabric.subnet_managers


def sm_host_name(index: int) -> str:
    return f"sm{index + 1}"


def compile_layout(spec: ClusterSpec, catalog: Catalog) -> Layout:
    check_references(spec, catalog)
    check_size(spec, catalog)
    out = Layout(rack_types={rt.name: rt for rt in spec.rack_types})
    for hall in spec.halls:
        _place_hall(spec, hall, out, catalog)
    if spec.fabric.ufm and out.ufm is None:
        raise InputError([at("fabric.ufm", "the first SU must be full to hold the UFM slot")])
    if len(out.sm_slots) < spec.fabric.subnet_managers:
        raise InputError(
            [at("fabric.subnet_managers", "the first SU must be full to hold the SM host slots")]
        )
    out.sm_slots = [
        dataclasses.replace(s, name=sm_host_name(i)) for i, s in enumerate(out.sm_slots)
    ]
    return out


def address_plan(spec: ClusterSpec, count: int) -> tuple[list[str], list[str]]:
    """Management and BMC addresses for `count` nodes, in node order."""
    mgmt = pool_hosts(spec, "mgmt_cidr", count, "nodes")
    return mgmt, pool_hosts(spec, "bmc_cidr", count, "nodes")


def pool_hosts(spec: ClusterSpec, key: str, count: int, what: str) -> list[str]:
    """The first `count` host addresses of the pool `addressing.<key>`, or InputError."""
    net = ipaddress.ip_network(getattr(spec.addressing, key))
    usable = net.num_addresses - (2 if net.prefixlen < 31 else 0)
    if usable < count:
        raise InputError(
            [at(f"addressing.{key}", f"{net} holds {usable} hosts, the design has {count} {what}")]
        )
    first = int(net.network_address) + (1 if net.prefixlen < 31 else 0)
    return [str(ipaddress.ip_address(first + i)) for i in range(count)]


def area_racks(spec: ClusterSpec, hall_name: str, kind: str, count: int) -> list[Rack]:
    """`count` switch racks of `kind` ("spine" or "core") in a hall's declared area."""
    h, hall = next((i, x) for i, x in enumerate(spec.halls) if x.name == hall_name)
    if kind == "spine":
        area, path = hall.spine_area, f"halls[{h}].spine_area"
    else:
        area, path = spec.fabric.core_area, "fabric.core_area"
    if area is None:
        raise InputError([at(path, f"required: {count} {kind} rack(s) stand in hall {hall_name}")])
    return [_area_rack(hall, area, kind, i) for i in range(count)]


def make_nodes(layout: Layout, spec: ClusterSpec, hcas: dict[str, list]) -> list[Node]:
    mgmt, bmc = address_plan(spec, len(layout.slots))
    return [
        Node(
            s.name,
            i,
            s.hall,
            s.su,
            s.slot,
            s.rack,
            s.u,
            s.model,
            mgmt[i],
            bmc[i],
            tuple(hcas.get(s.name, ())),
        )
        for i, s in enumerate(layout.slots)
    ]


def node_name(hall: str, su: str, slot: int) -> str:
    return f"{hall}-{su}-n{slot + 1:02d}"
