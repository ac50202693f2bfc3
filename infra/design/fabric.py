"""Fabric: a rail-optimized fat tree per plane, after NVIDIA's DGX SuperPOD H100
reference architecture (RA-11333-001).

- Rails: HCA r of every node lands on the rail-r leaf of its SU (slot s -> leaf port s+1).
- Planes: `single` puts all rails in one subnet (8 leaves per SU); `per_rail` makes one
  subnet per rail (one leaf per SU per plane), so each subnet stays under the LID limit.
- 2 tiers: S spines, the smallest divisor of a leaf's uplinks u with S >= L*u/k, so each
  leaf sends u/S links to every spine (1 SU: 4 spines, 2: 8, 3-4: 16, 8: 32 — the RA's
  tables). 3 tiers: pods of P leaves (P + P/os_spine <= k) with u spines each; spine i of
  every pod joins core group i of g cores, g the smallest divisor of the spine uplinks
  with g >= pods*up/k (16 SUs: 128 spines, 64 cores — the RA's table).
The compiler builds what is asked even past a switch's radix; infra/policy flags it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from infra.catalog import Catalog
from infra.design.geometry import cable_length_m
from infra.design.layout import Layout, area_racks
from infra.design.model import Hca, Link, Plane, Rack, Switch
from infra.errors import InputError, at
from infra.spec import ClusterSpec

LID_LIMIT = 0xBFFF  # unicast LIDs 0x0001-0xBFFF: 49,151 per subnet


@dataclass
class FabricResult:
    switches: list[Switch] = field(default_factory=list)
    links: list[tuple] = field(default_factory=list)  # (tier, plane, a, a_port, b, b_port)
    planes: list[Plane] = field(default_factory=list)
    racks: list[Rack] = field(default_factory=list)  # spine and core racks
    hcas: dict[str, list[Hca]] = field(default_factory=dict)


def smallest_divisor_at_least(n: int, floor: int) -> int:
    """Smallest divisor of n that is >= floor (n itself if none is smaller)."""
    return next((d for d in range(max(1, floor), n + 1) if n % d == 0), n)


class _Racking:
    """Assigns switches to U slots: leaves to their row's network racks, spines and
    cores to numbered racks in a hall's spine area or the core area."""

    def __init__(self, spec: ClusterSpec, layout: Layout, height_u: int = 1):
        self.spec = spec
        self.per_rack = spec.fabric.switches_per_rack
        self.height_u = height_u  # a 2U SN5600 takes two U per slot
        self.layout = layout
        self.row_fill: dict[tuple[str, str], int] = {}
        self.area_fill: dict[tuple[str, str], int] = {}

    def leaf(self, su: str) -> tuple[str, int]:
        key = self.layout.su_row[su]
        racks = self.layout.row_network_racks.get(key, [])
        n = self.row_fill.get(key, 0)
        if n >= len(racks) * self.per_rack:
            raise InputError(
                [
                    at(
                        f"{self._row_path(key)}.network_racks",
                        f"{len(racks)} network rack(s) of {self.per_rack} switches "
                        f"cannot hold the leaf switches of {su} (its first rack is "
                        "in this row)",
                    )
                ]
            )
        self.row_fill[key] = n + 1
        return racks[n // self.per_rack], n % self.per_rack * self.height_u + 1

    def _row_path(self, key: tuple[str, str]) -> str:
        for h, hall in enumerate(self.spec.halls):
            for r, row in enumerate(hall.rows):
                if (hall.name, row.name) == key:
                    return f"halls[{h}].rows[{r}]"
        return "halls"

    def area(self, hall: str, kind: str) -> tuple[str, int]:
        n = self.area_fill.get((hall, kind), 0)
        self.area_fill[(hall, kind)] = n + 1
        return (
            f"{hall}-{kind}-{n // self.per_rack + 1:02d}",
            n % self.per_rack * self.height_u + 1,
        )

    def area_racks(self, spec: ClusterSpec) -> list[Rack]:
        out = []
        for (hall, kind), n in sorted(self.area_fill.items()):
            out.extend(area_racks(spec, hall, kind, math.ceil(n / self.per_rack)))
        return out


def _planes(spec: ClusterSpec, rails: int) -> list[tuple[str, tuple[int, ...]]]:
    if spec.fabric.planes == "per_rail":
        return [(f"p{r}", (r,)) for r in range(rails)]
    return [("p0", tuple(range(rails)))]


def _tiers(spec: ClusterSpec, leaves: int, radix: int) -> int:
    if spec.fabric.tiers != "auto":
        return int(spec.fabric.tiers)
    return 2 if leaves <= radix else 3


def compile_fabric(spec: ClusterSpec, catalog: Catalog, layout: Layout) -> FabricResult:
    fab = spec.fabric
    model = catalog.switches[fab.switch]
    radix = model.ports[fab.split_mode]
    rails = {catalog.nodes[s.model].rails for s in layout.slots}
    if len(rails) != 1:
        raise InputError([at("rack_types", "all node models must have the same rail count")])
    rails_n = rails.pop()
    down = fab.su_nodes
    up = math.ceil(down / fab.oversubscription.leaf)
    if down + up > radix:
        raise InputError(
            [
                at(
                    "fabric.su_nodes",
                    f"{down} node ports + {up} uplinks exceed the {radix}-port {fab.switch} leaf",
                )
            ]
        )
    out = FabricResult()
    racking = _Racking(spec, layout)
    for plane, plane_rails in _planes(spec, rails_n):
        _build_plane(spec, layout, out, racking, plane, plane_rails, radix, down, up)
    out.racks = racking.area_racks(spec)
    return out


def _build_plane(spec, layout, out, racking, plane, plane_rails, radix, down, up) -> None:
    fab = spec.fabric
    first = len(out.switches)
    leaves: list[str] = []
    for su in layout.sus:
        for rail in plane_rails:
            name = f"{plane}-leaf-{su}" + (f"-r{rail}" if len(plane_rails) > 1 else "")
            rack, u = racking.leaf(su)
            out.switches.append(Switch(name, "leaf", plane, su, fab.switch, radix, rack, u))
            leaves.append(name)
    _attach_endpoints(spec, layout, out, plane, plane_rails)
    tiers = _tiers(spec, len(leaves), radix)
    leaf_su = {s.name: s.group for s in out.switches[first:]}
    hall_of = [layout.su_hall[leaf_su[name]] for name in leaves]
    if tiers == 2:
        spines, cores = _two_tier(spec, out, racking, plane, leaves, hall_of, radix, down, up)
    else:
        spines, cores = _three_tier(spec, out, racking, plane, leaves, hall_of, radix, down, up)
    endpoints = len(layout.slots) * len(plane_rails)
    if layout.ufm:
        endpoints += sum(1 for lk in out.links if lk[2] == "ufm" and lk[1] == plane)
    endpoints += len(layout.sm_slots)  # one HCA port of each SM host
    switches = len(out.switches) - first
    out.planes.append(
        Plane(
            plane,
            plane_rails,
            tiers,
            radix,
            len(leaves),
            spines,
            cores,
            endpoints,
            (endpoints << fab.lmc) + switches,
            {"leaf": fab.oversubscription.leaf, "spine": fab.oversubscription.spine},
            fab.lmc,
            fab.storage_on_rails,
        )
    )


def _attach_endpoints(spec, layout: Layout, out: FabricResult, plane: str, rails) -> None:
    multi = len(rails) > 1
    leaf_names = {
        su: [(r, f"{plane}-leaf-{su}" + (f"-r{r}" if multi else ""), f"mlx5_{r}") for r in rails]
        for su in layout.sus
    }
    append = out.links.append
    for s in layout.slots:
        node = s.name
        port = s.slot + 1
        hcas = out.hcas.setdefault(node, [])
        for rail, leaf, device in leaf_names[s.su]:
            append(("node_leaf", plane, node, rail, leaf, port))
            hcas.append(Hca(rail, device, plane, leaf, port))
    if layout.ufm:
        u = layout.ufm
        for port in range(spec.fabric.ufm.ports):
            rail = port  # UFM port p lands on rail p (at most 8 ports)
            if rail in rails:
                leaf = f"{plane}-leaf-{u.su}" + (f"-r{rail}" if multi else "")
                append(("node_leaf", plane, "ufm", port, leaf, u.slot + 1))
    # SM host k's HCA in this plane is on rail k (mod the plane's rails): in a single plane
    # of 8 rails the master and its standby sit on different leaves.
    for k, s in enumerate(layout.sm_slots):
        rail = rails[k % len(rails)]
        leaf = f"{plane}-leaf-{s.su}" + (f"-r{rail}" if multi else "")
        append(("node_leaf", plane, s.name, rail, leaf, s.slot + 1))
        out.hcas.setdefault(s.name, []).append(Hca(rail, f"mlx5_{rail}", plane, leaf, s.slot + 1))


def _two_tier(spec, out, racking, plane, leaves, hall_of, radix, down, up) -> tuple[int, int]:
    n_spines = smallest_divisor_at_least(up, math.ceil(len(leaves) * up / radix))
    per_pair = up // n_spines
    spines = []
    for s in range(n_spines):
        rack, u = racking.area(hall_of[0], "spine")
        spines.append(
            Switch(
                f"{plane}-spine-{s + 1:03d}",
                "spine",
                plane,
                "pod01",
                spec.fabric.switch,
                radix,
                rack,
                u,
            )
        )
    out.switches.extend(spines)
    for i, leaf in enumerate(leaves):
        for s, spine in enumerate(spines):
            for j in range(per_pair):
                out.links.append(
                    (
                        "leaf_spine",
                        plane,
                        leaf,
                        down + 1 + s * per_pair + j,
                        spine.name,
                        i * per_pair + j + 1,
                    )
                )
    return n_spines, 0


def _pod_size(radix: int, oversub: float) -> int:
    return max(p for p in range(1, radix) if p + math.ceil(p / oversub) <= radix)


def _three_tier(spec, out, racking, plane, leaves, hall_of, radix, down, up) -> tuple[int, int]:
    fab = spec.fabric
    pod = _pod_size(radix, fab.oversubscription.spine)
    pods = math.ceil(len(leaves) / pod)
    spine_up = math.ceil(pod / fab.oversubscription.spine)
    per_group = smallest_divisor_at_least(spine_up, math.ceil(pods * spine_up / radix))
    per_pair = spine_up // per_group
    if fab.core_area is None:
        raise InputError(
            [
                at(
                    "fabric.core_area",
                    f"required: plane {plane} needs 3 tiers "
                    f"({len(leaves)} leaves > {radix} for 2 tiers)",
                )
            ]
        )
    cores = []
    for g in range(up):
        for c in range(per_group):
            rack, u = racking.area(fab.core_area.hall, "core")
            cores.append(
                Switch(
                    f"{plane}-core-g{g + 1:02d}-c{c + 1}",
                    "core",
                    plane,
                    f"group{g + 1:02d}",
                    fab.switch,
                    radix,
                    rack,
                    u,
                )
            )
    spines = []
    for p in range(pods):
        members = leaves[p * pod : (p + 1) * pod]
        for s in range(up):
            rack, u = racking.area(hall_of[p * pod], "spine")
            spine = Switch(
                f"{plane}-spine-pod{p + 1:02d}-s{s + 1:02d}",
                "spine",
                plane,
                f"pod{p + 1:02d}",
                fab.switch,
                radix,
                rack,
                u,
            )
            spines.append(spine)
            for i, leaf in enumerate(members):
                out.links.append(("leaf_spine", plane, leaf, down + 1 + s, spine.name, i + 1))
            for c in range(per_group):
                core = cores[s * per_group + c]
                for j in range(per_pair):
                    out.links.append(
                        (
                            "spine_core",
                            plane,
                            spine.name,
                            pod + 1 + c * per_pair + j,
                            core.name,
                            p * per_pair + j + 1,
                        )
                    )
    out.switches.extend(spines)
    out.switches.extend(cores)
    return len(spines), len(cores)


def place_links(
    spec: ClusterSpec,
    catalog: Catalog,
    links: list[tuple],
    device_rack: dict[str, str],
    rack_xy: dict[str, tuple[float, float]],
) -> list[Link]:
    """Fill each link's length (from its racks' positions) and the cheapest medium that
    reaches; "" when nothing does (a reach violation for infra/policy). InfiniBand links
    take the InfiniBand media; Spectrum-X NIC links the 400G splitter media, its switch
    links the 800G media."""
    cabling = spec.fabric.cabling
    if spec.fabric.technology == "spectrum_x":
        nic = tuple(m for m in catalog.eth_media if m.use == "nic")
        sw = tuple(m for m in catalog.eth_media if m.use == "switch")
        media = {"node_leaf": nic, "leaf_spine": sw, "spine_core": sw}
    else:
        media = dict.fromkeys(("node_leaf", "leaf_spine", "spine_core"), catalog.media)
    cache: dict[tuple[str, str, str], tuple[float, str]] = {}
    placed = []
    for tier, plane, a_dev, a_port, b_dev, b_port in links:
        key = (device_rack[a_dev], device_rack[b_dev], tier)
        hit = cache.get(key)
        if hit is None:
            length = cable_length_m(rack_xy[key[0]], rack_xy[key[1]], key[0] == key[1], cabling)
            medium = next((m.name for m in media[tier] if m.max_reach_m >= length), "")
            hit = cache[key] = (length, medium)
        placed.append(Link(tier, plane, a_dev, a_port, b_dev, b_port, *hit[::-1]))
    return placed
