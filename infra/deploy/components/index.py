"""Lookups the components need from a Design (by rack, by hall, by SU), built once per
program run. Indexing only: every number comes from the design as it is."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from infra.design.model import (
    CduLoad,
    Design,
    Node,
    Rack,
    RackCooling,
    RackPower,
    Switch,
)


@dataclass
class DesignIndex:
    design: Design
    racks_by_hall: dict[str, list[Rack]] = field(default_factory=lambda: defaultdict(list))
    racks_by_su: dict[str, list[Rack]] = field(default_factory=lambda: defaultdict(list))
    sus_by_hall: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    nodes_by_rack: dict[str, list[Node]] = field(default_factory=lambda: defaultdict(list))
    nodes_by_su: dict[str, list[Node]] = field(default_factory=lambda: defaultdict(list))
    switches_by_rack: dict[str, list[Switch]] = field(default_factory=lambda: defaultdict(list))
    leaves_by_su: dict[str, list[Switch]] = field(default_factory=lambda: defaultdict(list))
    power_by_rack: dict[str, RackPower] = field(default_factory=dict)
    cooling_by_rack: dict[str, RackCooling] = field(default_factory=dict)
    cdus_by_hall: dict[str, list[CduLoad]] = field(default_factory=lambda: defaultdict(list))
    cdu_by_name: dict[str, CduLoad] = field(default_factory=dict)

    @classmethod
    def build(cls, design: Design) -> DesignIndex:
        ix = cls(design)
        for r in design.racks:
            ix.racks_by_hall[r.hall].append(r)
            if r.su:
                ix.racks_by_su[r.su].append(r)
                if r.su not in ix.sus_by_hall[r.hall]:
                    ix.sus_by_hall[r.hall].append(r.su)
        for n in design.nodes:
            ix.nodes_by_rack[n.rack].append(n)
            ix.nodes_by_su[n.su].append(n)
        for s in design.switches:
            ix.switches_by_rack[s.rack].append(s)
            if s.tier == "leaf":
                ix.leaves_by_su[s.group].append(s)
        ix.power_by_rack = {p.rack: p for p in design.power.racks}
        ix.cooling_by_rack = {c.rack: c for c in design.cooling.racks}
        for c in design.cooling.cdus:
            ix.cdus_by_hall[c.hall].append(c)
            ix.cdu_by_name[c.name] = c
        return ix

    def cdu_of(self, rack: str) -> CduLoad | None:
        """The in-rack CDU of a rack (in-row CDUs belong to the hall's cooling loop)."""
        return self.cdu_by_name.get(f"{rack}-cdu")
