"""Cabling validation: the discovered fabric (ibnetdiscover output) against the design.

Fast path: per switch, the discovered port lines are first checked against the designed
ones without being parsed (`Discovered.matches`, a few C-level str methods per line); a
switch that fails the check is parsed and its port tuples compared with the designed ones,
as a list and then as sets. A switch that passes either is cabled exactly as designed, at
the expected rate.
Only the switches that differ ("dirty") are looked at link by link:
- designed links not seen, and seen links not designed, are paired up: two designed links
  whose far ends are exchanged are one *miswired* (swapped) finding; a designed link whose
  one end now lands elsewhere is one *miswired* (moved) finding;
- what is left is *missing* (designed, no cable or a dark port) or *unexpected*;
- a link at the right ports with a lower width or speed than expected is *degraded*.
Each finding names the physical places to fix: hall, row, rack, U, device and port of
both ends of every cable involved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from infra.design.heap import no_cyclic_gc
from infra.design.model import Design
from infra.errors import InputError
from infra.fabric.discovered import CheckBuilder, Discovered, LineChecks, PortTuple, clip
from infra.fabric.naming import FabricNames
from infra.fabric.plane import HCA_PORT, End

SPEED_RANK = {
    "SDR": 1, "DDR": 2, "QDR": 3, "FDR10": 4, "FDR": 5, "EDR": 6, "HDR": 7, "NDR": 8, "XDR": 9
}  # fmt: skip
DESIGN_RATE = "4xNDR"  # Quantum-2 / ConnectX-7 NDR, 4 lanes
_PORT_STR = [str(i) for i in range(257)]

LinkKey = tuple[End, End]  # canonical: ends sorted


def parse_rate(rate: str) -> tuple[str, str]:
    width, sep, speed = rate.partition("x")
    if not sep or not width.isdigit() or speed not in SPEED_RANK:
        known = ", ".join(SPEED_RANK)
        raise InputError([f"rate {rate!r}: expected <lanes>x<speed>, speed one of {known}"])
    return width, speed


def canon(a: End, b: End) -> LinkKey:
    return (a, b) if a <= b else (b, a)


@dataclass
class Expected:
    per_switch: dict[str, list[PortTuple]]  # in port order, as ibnetdiscover lists them
    plane_of: dict[str, str]  # switch -> plane
    rate: tuple[str, str]
    checks: dict[str, LineChecks | None] = field(default_factory=dict)  # switch -> fast check
    # The file whose descriptions the checks look for (None: the design's names).
    built_for: Discovered | None = field(default=None, repr=False, compare=False)


_MAX_PORT = 256  # IB port numbers are 8-bit


def build_expected(
    design: Design,
    planes: Iterable[str],
    rate: str = DESIGN_RATE,
    found: Discovered | None = None,
) -> Expected:
    """Per switch, the port tuples ibnetdiscover should print, in port order, and the
    checks that find a switch cabled that way without parsing it. One pass over the links
    filling fixed port slots: no sorting, no per-link hashing. With `found`, the checks
    look for the descriptions that file prints (`MF0;host:model/U1`, renamed hosts),
    translated once per name: the expected side is then for that file only."""
    with no_cyclic_gc():
        return _build_expected(design, set(planes), rate, found)


def _build_expected(
    design: Design, planes: set[str], rate: str, found: Discovered | None = None
) -> Expected:
    width, speed = rate_t = parse_rate(rate)
    slots: dict[str, list] = {}
    plane_of: dict[str, str] = {}
    for sw in design.switches:
        if sw.plane in planes:
            slots[sw.name] = [None] * (_MAX_PORT + 1)
            plane_of[sw.name] = sw.plane
    p = _PORT_STR
    one = p[HCA_PORT]
    every_plane = len(planes) == len(design.planes)
    hcas: list[str] = []
    add_hca = hcas.append
    for link in design.links:
        if not every_plane and link.plane not in planes:
            continue
        if link.tier == "node_leaf":
            desc = f"{link.a_dev} mlx5_{link.a_port}"
            add_hca(desc)
            slots[link.b_dev][link.b_port] = (p[link.b_port], one, desc, width, speed)
        else:
            a, ap, b, bp = link.a_dev, link.a_port, link.b_dev, link.b_port
            slots[a][ap] = (p[ap], p[bp], b, width, speed)
            slots[b][bp] = (p[bp], p[ap], a, width, speed)
    per = {sw: list(filter(None, s)) for sw, s in slots.items()}
    printed = found.printed_names(hcas) if found is not None else None
    build = CheckBuilder(width, speed, [*slots, *hcas], printed)
    checks = {sw: build(ports) for sw, ports in per.items()}
    return Expected(per, plane_of, rate_t, checks, built_for=found)


def planes_seen(design: Design, found: Discovered) -> list[str]:
    """The planes a discovered file covers: those with at least one switch in it."""
    plane_of = {s.name: s.plane for s in design.switches}
    seen = {plane_of[name] for name in found.spans if name in plane_of}
    return [p.name for p in design.planes if p.name in seen]


@dataclass
class Finding:
    kind: str  # "miswired" | "missing" | "unexpected" | "degraded"
    summary: str
    designed: list[LinkKey] = field(default_factory=list)
    found: list[LinkKey] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    rate: str = ""

    def to_json(self) -> dict:
        def ends(links: list[LinkKey]) -> list[list[dict]]:
            return [[{"device": d, "port": p} for d, p in link] for link in links]

        return {
            "kind": self.kind,
            "summary": self.summary,
            "designed": ends(self.designed),
            "found": ends(self.found),
            "places": self.places,
            **({"rate": self.rate} if self.rate else {}),
        }


class Locator:
    """Where a device physically is: hall, row, rack, U, from the design's racks."""

    def __init__(self, design: Design):
        racks = {r.name: r for r in design.racks}
        self.where: dict[str, str] = {}
        for sw in design.switches:
            self.where[sw.name] = self._at(racks.get(sw.rack), sw.rack, sw.u) + f" switch {sw.name}"
        self.node_at: dict[str, str] = {}
        for node in design.nodes:
            self.node_at[node.name] = self._at(racks.get(node.rack), node.rack, node.u)
        for sm in design.sm_hosts:
            self.node_at[sm.name] = self._at(racks.get(sm.rack), sm.rack, sm.u)

    @staticmethod
    def _at(rack, rack_name: str, u: int) -> str:
        if rack is None:
            return f"rack {rack_name} U{u}"
        return f"hall {rack.hall} row {rack.row} rack {rack_name} U{u}"

    def place(self, end: End) -> str:
        device, port = end
        if device in self.where:
            return f"{self.where[device]} port {port}"
        host, _, hca = device.rpartition(" ")
        if host in self.node_at:
            return f"{self.node_at[host]} node {host} {hca} (HCA port {port})"
        return f"location not in the design: {device} port {port}"


def _fmt(link: LinkKey) -> str:
    (a, ap), (b, bp) = link
    return f"{a} [{ap}] <-> {b} [{bp}]"


def compare(expected: Expected, found: Discovered, locator: Locator) -> list[Finding]:
    tr, use_checks = _check_translation(expected, found)
    dirty = [
        sw
        for sw, exp in expected.per_switch.items()
        if not _as_designed(sw, exp, expected, found, tr, use_checks)
    ]
    dirty += [sw for sw in found.spans if sw not in expected.per_switch]
    if not dirty:
        return []
    designed: set[LinkKey] = set()
    seen: dict[LinkKey, tuple[str, str]] = {}
    for sw in dirty:
        for port, rport, rdesc, *_ in expected.per_switch.get(sw, ()):
            designed.add(canon((sw, int(port)), (rdesc, int(rport))))
        for port, rport, rdesc, width, speed in found.ports(sw):
            seen[canon((sw, int(port)), (rdesc, int(rport)))] = (width, speed)
    return _classify(designed, seen, expected.rate, locator)


def _check_translation(
    expected: Expected, found: Discovered
) -> tuple[dict[str, str | None] | None, bool]:
    """How the fast checks apply to `found`: (per-line translation or None, usable).
    Checks built for this very file already hold its descriptions; checks built from the
    design are translated line by line (`Discovered.check_translation`); checks built for
    another file would look for the wrong descriptions, so every switch is parsed."""
    if expected.built_for is found:
        return None, True
    if expected.built_for is None:
        return found.check_translation(), True
    return None, False


def _as_designed(
    sw: str,
    exp: list[PortTuple],
    expected: Expected,
    found: Discovered,
    tr: dict[str, str | None] | None = None,
    use_checks: bool = True,
) -> bool:
    """The switch is in the file and cabled as designed: the unparsed line check first,
    then list equality (both in port order), a set compare only where the order differs.
    `tr`: checks built from the design, on a file whose switches print other descriptions
    (`MF0;...`): the checks look for those (one C-level dict lookup per line; validate
    builds the checks for the file instead, see `build_expected`)."""
    if sw not in found.spans:
        return False
    checks = expected.checks.get(sw) if use_checks else None
    if checks is not None and tr:
        descs = list(map(tr.get, checks.descs, checks.descs))
        checks = None if None in descs else replace(checks, descs=descs)
    if checks is not None and found.matches(sw, checks):
        return True
    got = found.ports(sw)
    return got == exp or set(got) == set(exp)


def _classify(
    designed: set[LinkKey],
    seen: dict[LinkKey, tuple[str, str]],
    rate: tuple[str, str],
    locator: Locator,
) -> list[Finding]:
    findings: list[Finding] = []
    gone = sorted(designed - seen.keys())
    new = sorted(seen.keys() - designed)
    new_set = set(new)
    by_end: dict[End, LinkKey] = {}
    for link in gone:
        by_end[link[0]] = by_end[link[1]] = link
    used_gone: set[LinkKey] = set()
    used_new: set[LinkKey] = set()

    def other(link: LinkKey, end: End) -> End:
        return link[1] if link[0] == end else link[0]

    def places(links: list[LinkKey]) -> list[str]:
        return [locator.place(e) for link in links for e in link]

    # Swaps: designed x-ox and y-oy became x-y and ox-oy.
    for link in new:
        if link in used_new:
            continue
        x, y = link
        lx, ly = by_end.get(x), by_end.get(y)
        if not lx or not ly or lx == ly or lx in used_gone or ly in used_gone:
            continue
        twin = canon(other(lx, x), other(ly, y))
        if twin in new_set and twin not in used_new and twin != link:
            used_gone |= {lx, ly}
            used_new |= {link, twin}
            pair = sorted([lx, ly])
            findings.append(
                Finding(
                    "miswired",
                    f"swapped: designed {_fmt(pair[0])} and {_fmt(pair[1])}; "
                    f"found {_fmt(link)} and {_fmt(twin)}",
                    designed=pair,
                    found=sorted([link, twin]),
                    places=places(pair),
                )
            )
    # Moved: one end of a designed cable lands on another port.
    for link in new:
        if link in used_new:
            continue
        for end in link:
            lk = by_end.get(end)
            if lk and lk not in used_gone:
                used_gone.add(lk)
                used_new.add(link)
                findings.append(
                    Finding(
                        "miswired",
                        f"moved: designed {_fmt(lk)}; found {_fmt(link)}",
                        designed=[lk],
                        found=[link],
                        places=places([lk, link]),
                    )
                )
                break
    for link in gone:
        if link not in used_gone:
            findings.append(
                Finding("missing", f"missing: {_fmt(link)}", designed=[link], places=places([link]))
            )
    for link in new:
        if link not in used_new:
            findings.append(
                Finding(
                    "unexpected", f"unexpected: {_fmt(link)}", found=[link], places=places([link])
                )
            )
    want_w, want_s = int(rate[0]), SPEED_RANK[rate[1]]
    for link in sorted(designed & seen.keys()):
        width, speed = seen[link]
        if int(width) < want_w or SPEED_RANK.get(speed, 0) < want_s:
            got = f"{width}x{speed}"
            findings.append(
                Finding(
                    "degraded",
                    f"degraded: {_fmt(link)} runs at {got}, designed {rate[0]}x{rate[1]}",
                    designed=[link],
                    found=[link],
                    places=places([link]),
                    rate=got,
                )
            )
    return findings


def validate(
    design: Design,
    found: Discovered,
    planes: Iterable[str] | None = None,
    rate: str = DESIGN_RATE,
) -> list[Finding]:
    planes = list(planes) if planes is not None else planes_seen(design, found)
    if not planes:
        raise InputError([_none_matched(design, found)])
    # The checks are built for this file's descriptions (`MF0;...` switches, renamed
    # hosts' HCAs): one lookup per name, none per port line.
    expected = build_expected(design, planes, rate, found)
    return compare(expected, found, Locator(design))


def check_names(design: Design, names: FabricNames) -> None:
    """Every design name the maps give is a switch (or, in the name map, a node) of the
    design: a typo in a map would otherwise surface as findings."""
    switches = {s.name for s in design.switches}
    nodes = {n.name for n in design.nodes}
    bad = [
        f"--name-map: {clip(host)} -> {clip(name)}: not a switch or node of the design"
        for host, name in names.hosts.items()
        if name not in switches and name not in nodes
    ]
    bad += [
        f"--guid-map: 0x{guid:016x} -> {clip(name)}: not a switch of the design"
        for guid, name in names.guids.items()
        if name not in switches
    ]
    if bad:
        raise InputError(bad[:50])


def unmatched_switches(design: Design, found: Discovered) -> list[str]:
    """The file's switches that resolve to no switch of the design, in file order."""
    names = {s.name for s in design.switches}
    return [name for name in found.spans if name not in names]


def unmatched_note(found: Discovered, name: str) -> str:
    """Where an unmatched switch is and what it printed, for a message."""
    printed = found.printed.get(name, name)
    what = clip(printed)
    if name != printed:
        what += f" (resolved to {clip(name)})"
    return f"{found.source}:{found.line_of(name)}: switch {what}"


def _none_matched(design: Design, found: Discovered) -> str:
    first = next(iter(found.spans), None)
    if first is None:
        return f"{found.source}: no switch records"
    return (
        f"{unmatched_note(found, first)} is not a switch of the design, and none of the "
        f"file's {len(found.spans)} switches is (wrong stack? switches whose hostnames "
        "differ from the design's names: --name-map FILE of `hostname design-name` lines; "
        'unmanaged switches: --guid-map FILE of `0x<guid> "name"` or `guid,name` lines)'
    )


def by_kind(findings: list[Finding]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for f in findings:
        counts[f.kind] += 1
    return dict(counts)
