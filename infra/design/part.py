"""A hall stack's part of its site's design: the same Design type, holding only what stands
in the given halls. Pure, like the compiler: every command that takes a hall stack
(design, export, inventory, the fleet, the plan review, the simulated site) reads this
projection, so "hall1 of memphis" means the same objects everywhere.

What stays site-wide, because it belongs to no hall: the fabric planes (one subnet
spans every hall) and the cables between halls, the power contract, on-site generation,
storage and the energization phases, and the cooling plant's capacity. Per-hall figures
(IT load, facility load at the site's PUE, liquid/air heat, coolant and facility water
flow) are the part's own. Cable ids stay the site's (Design.link_numbers).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from infra.design.model import Cooling, Design, Power

# A cable's object name in a violation: "<a_dev>:<a_port>-<b_dev>:<b_port>".
_CABLE = re.compile(r"(.+):\d+-(.+):\d+")


def hall_part(design: Design, halls: Iterable[str], stack: str) -> Design:
    """The objects of `design` that stand in `halls`, labelled with `stack` (the hall
    stack's own name: exports and inventories say which stack wrote them). A link is in
    the part when both ends are: a cable between halls (a leaf in one, its spine in
    another) belongs to the site's fabric plane, in the site stack's cabling plan."""
    wanted = set(halls)
    racks = tuple(r for r in design.racks if r.hall in wanted)
    rack_names = {r.name for r in racks}
    nodes = tuple(n for n in design.nodes if n.hall in wanted)
    switches = tuple(s for s in design.switches if s.rack in rack_names)
    ufm_here = design.ufm_rack in rack_names
    devices = {n.name for n in nodes} | {s.name for s in switches}
    if ufm_here:
        devices.add("ufm")
    sm_hosts = tuple(h for h in design.sm_hosts if h.rack in rack_names)
    devices |= {h.name for h in sm_hosts}
    numbered = [
        (i, lk)
        for i, lk in enumerate(design.links, start=1)
        if lk.a_dev in devices and lk.b_dev in devices
    ]
    site_numbers = design.link_numbers or range(1, len(design.links) + 1)
    return dataclasses.replace(
        design,
        stack=stack,
        racks=racks,
        nodes=nodes,
        switches=switches,
        links=tuple(lk for _, lk in numbered),
        link_numbers=tuple(site_numbers[i - 1] for i, _ in numbered),
        power=_power(design.power, wanted),
        cooling=_cooling(design.cooling, wanted),
        gpus=len(nodes) * design.gpus_per_node,
        ufm_rack=design.ufm_rack if ufm_here else "",
        ufm_u=design.ufm_u if ufm_here else 0,
        sm_hosts=sm_hosts,
        # Spectrum-X: the L3 plan of the part's own switches and NICs
        switches_l3=tuple(s for s in design.switches_l3 if s.name in devices),
        nics_l3=tuple(n for n in design.nics_l3 if n.node in devices),
    )


def _power(power: Power, halls: set[str]) -> Power:
    """The halls' racks and IT load (facility load at the site's PUE); the contract,
    generation, storage and phases stay the site's: they are not split by hall."""
    hall_it = {h: kw for h, kw in power.hall_it_kw.items() if h in halls}
    it_kw = round(sum(hall_it.values()), 3)
    return dataclasses.replace(
        power,
        racks=tuple(r for r in power.racks if r.hall in halls),
        hall_it_kw=hall_it,
        it_kw=it_kw,
        facility_kw=round(it_kw * power.pue, 3),
    )


def _cooling(cooling: Cooling, halls: set[str]) -> Cooling:
    """The halls' racks and CDUs; flows scale with the liquid heat (both are linear in it:
    coolant per kW, facility water Q = P / (c * dT)); the plant's capacity is the site's."""
    racks = tuple(r for r in cooling.racks if r.hall in halls)
    liquid = round(sum(r.liquid_kw for r in racks), 3)
    share = liquid / cooling.liquid_kw if cooling.liquid_kw else 0.0
    return dataclasses.replace(
        cooling,
        racks=racks,
        cdus=tuple(c for c in cooling.cdus if c.hall in halls),
        liquid_kw=liquid,
        air_kw=round(sum(r.air_kw for r in racks), 3),
        flow_lpm=round(cooling.flow_lpm * share, 1),
        facility_water_lpm=round(cooling.facility_water_lpm * share, 1),
    )


def other_halls_objects(design: Design, part: Design) -> frozenset[str]:
    """Names of the site's racks, nodes, switches and CDUs that are not in `part`."""
    mine = (
        {r.name for r in part.racks}
        | {n.name for n in part.nodes}
        | {s.name for s in part.switches}
        | {c.name for c in part.cooling.cdus}
    )
    site = (
        {r.name for r in design.racks}
        | {n.name for n in design.nodes}
        | {s.name for s in design.switches}
        | {c.name for c in design.cooling.cdus}
    )
    return frozenset(site - mine)


def concerns_part(object_name: str, elsewhere: frozenset[str]) -> bool:
    """Whether a finding about `object_name` (a rule's object: a rack, node, switch, CDU,
    cable, or a site-wide object such as a plane, a phase or the cooling plant) belongs in
    the report of the part whose outside is `elsewhere`: all but those that lie wholly in
    other halls (a cable with one end in the part stays)."""
    cable = _CABLE.fullmatch(object_name)
    ends = cable.groups() if cable else (object_name,)
    return not all(end in elsewhere for end in ends)


def hall_view(
    site: Design, findings: list, halls: Iterable[str], stack: str
) -> tuple[Design, list]:
    """(the halls' part of `site`, the rules' findings on the whole site that concern it):
    what a hall stack's design, validate and plan review report. `findings` are the
    policy layer's Violations (anything with an `object` name)."""
    part = hall_part(site, halls, stack)
    elsewhere = other_halls_objects(site, part)
    return part, [f for f in findings if concerns_part(f.object, elsewhere)]
