"""Names unique after layout: every name the design made, checked once.

Names are built by joining spec names with '-' (rack `<hall>-<row>-NN`, node
`<hall>-<su>-nNN`, CDU `<rack>-cdu` or `<hall>-<row>-cdu`), so two different declarations
can spell the same name: hall `h-a` row `b` and hall `h` row `a-b` both make rack
`h-a-b-01`. Everything downstream keys on these names (power and cooling per rack, the
device-to-rack map of the cabling plan, inventory hosts and `rack_*` groups, Pulumi
resource names), so one collision silently merges two objects. The check names both
config paths that made the name.

Inventory group names (`rack_h_a_b_01`) map each name's '-' to '_'; names may not hold
'_', so that map is one-to-one and unique names give unique groups. Pulumi resources are
named after halls, SUs, racks, phases and planes, each unique by this check or by
construction (infra.design.layout.check_references refuses duplicate halls and phases).
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.design.model import CduLoad, Node, Rack, Switch
from infra.errors import CONFIG_ROOT, InputError, at
from infra.spec import ClusterSpec


class _Paths:
    """Config paths of the declarations that made a rack, a node, a switch or a CDU."""

    def __init__(self, spec: ClusterSpec):
        self.hall = {hall.name: f"halls[{h}]" for h, hall in enumerate(spec.halls)}
        self.row = {
            (hall.name, row.name): f"halls[{h}].rows[{r}]"
            for h, hall in enumerate(spec.halls)
            for r, row in enumerate(hall.rows)
        }

    def rack(self, rack: Rack) -> str:
        if (rack.hall, rack.row) in self.row:
            return f"{self.row[(rack.hall, rack.row)]} (rack {rack.index + 1})"
        if rack.row == "core":
            return "fabric.core_area"
        return f"{self.hall[rack.hall]}.spine_area"

    def node(self, node: Node) -> str:
        return f"{self.hall[node.hall]}.name (node {node.su} slot {node.slot + 1})"

    def cdu(self, cdu: CduLoad, rack_path: dict[str, str]) -> str:
        if cdu.placement == "in_rack":
            return f"{rack_path[cdu.name.removesuffix('-cdu')]} in-rack CDU"
        return next(
            path
            for (hall, row), path in self.row.items()
            if hall == cdu.hall and f"{hall}-{row}-cdu" == cdu.name
        )


def _first_clash(kind: str, named: Iterable[tuple[str, str]]) -> list[str]:
    """A problem line per name made twice, naming both config paths (the first 10: one
    clash of a hall's name repeats for each of its racks)."""
    first: dict[str, str] = {}
    problems: list[str] = []
    for name, path in named:
        if name not in first:
            first[name] = path
            continue
        problems.append(
            at(
                path,
                f"makes {kind} {name!r}, as does {CONFIG_ROOT}.{first[name]}; "
                "rename a hall or row so the names stay apart",
            )
        )
        if len(problems) >= 10:
            break
    return problems


def check_unique_names(
    spec: ClusterSpec,
    racks: list[Rack],
    nodes: list[Node],
    switches: list[Switch],
    cdus: Iterable[CduLoad],
    ufm: bool,
    sm_hosts: Iterable = (),
) -> None:
    paths = _Paths(spec)
    rack_path = {}
    rack_named = []
    for rack in racks:
        path = paths.rack(rack)
        rack_path.setdefault(rack.name, path)
        rack_named.append((rack.name, path))
    # Nodes, switches and the UFM share one namespace: the device -> rack map, links.
    devices = [(n.name, paths.node(n)) for n in nodes]
    devices += [(s.name, f"fabric (switch {s.tier}, plane {s.plane})") for s in switches]
    if ufm:
        devices.append(("ufm", "fabric.ufm"))
    devices += [(h.name, "fabric.subnet_managers") for h in sm_hosts]
    problems = _first_clash("rack", rack_named)
    problems += _first_clash("device", devices)
    if not problems:  # a CDU's path needs its rack's, which a rack clash makes ambiguous
        problems += _first_clash("CDU", ((c.name, paths.cdu(c, rack_path)) for c in cdus))
    if problems:
        raise InputError(problems)
