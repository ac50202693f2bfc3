"""Each rule takes a Design and yields Violations: a rule id, a severity, the object
at fault, and a message with the numbers. Error-severity violations block a change."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from infra.design.fabric import LID_LIMIT
from infra.design.model import Design


@dataclass(frozen=True, slots=True, order=True)
class Violation:
    rule: str
    severity: str  # "error" | "warning"
    object: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


HEADROOM_WARNING = 0.05  # warn when a phase has less than 5% power headroom


def ports_exhausted(design: Design) -> Iterator[Violation]:
    """A switch port used twice, or a port number past the switch's port count."""
    used: dict[str, list[int]] = defaultdict(list)
    for link in design.links:
        used[link.b_dev].append(link.b_port)
        if link.tier != "node_leaf":
            used[link.a_dev].append(link.a_port)
    radix = {s.name: s.ports for s in design.switches}
    for dev, ports in used.items():
        if len(set(ports)) != len(ports):
            twice = sorted(p for p, n in Counter(ports).items() if n > 1)
            yield Violation(
                "fabric.ports_exhausted",
                "error",
                dev,
                f"port(s) {', '.join(map(str, twice[:8]))} of {dev} cabled twice",
            )
        top = max(ports)
        if top > radix[dev]:
            yield Violation(
                "fabric.ports_exhausted",
                "error",
                dev,
                f"{dev} needs {top} ports but has {radix[dev]}",
            )


def tier_limit(design: Design) -> Iterator[Violation]:
    """Radix-k fat trees reach k^2/2 endpoints in 2 tiers and k^3/4 in 3. A Spectrum-X
    leaf splits its k/2 down cages into k 400G ports, so its Clos reaches k^2 (k leaves of
    k NICs) and k^3/2 (k pods of k/2 leaves)."""
    ethernet = design.technology == "spectrum_x"
    for p in design.planes:
        if ethernet:
            limit = p.radix**2 if p.tiers == 2 else p.radix**3 // 2
            formula = "k^2" if p.tiers == 2 else "k^3/2"
        else:
            limit = p.radix**2 // 2 if p.tiers == 2 else p.radix**3 // 4
            formula = "k^2/2" if p.tiers == 2 else "k^3/4"
        if p.endpoints > limit:
            yield Violation(
                "fabric.tier_limit",
                "error",
                f"plane {p.name}",
                f"{p.endpoints} endpoints exceed the {p.tiers}-tier limit "
                f"{formula} = {limit} for radix {p.radix}",
            )


def lid_limit(design: Design) -> Iterator[Violation]:
    if design.technology != "infiniband_ndr":
        return  # LIDs are InfiniBand's; an Ethernet fabric routes IP
    for p in design.planes:
        if p.lids > LID_LIMIT:
            yield Violation(
                "fabric.lid_limit",
                "error",
                f"plane {p.name}",
                f"subnet needs {p.lids} unicast LIDs, the limit is {LID_LIMIT}; "
                "split it into more planes (fabric.planes: per_rail)",
            )


def cable_reach(design: Design) -> Iterator[Violation]:
    for link in design.links:
        if not link.medium:
            yield Violation(
                "cable.reach_exceeded",
                "error",
                f"{link.a_dev}:{link.a_port}-{link.b_dev}:{link.b_port}",
                f"{link.length_m} m exceeds the reach of every medium in the catalog",
            )


def pdu_overload(design: Design) -> Iterator[Violation]:
    for r in design.power.racks:
        if r.nameplate_kw > r.feed_capacity_kw:
            yield Violation(
                "power.pdu_overload",
                "error",
                r.rack,
                f"nameplate {r.nameplate_kw:.1f} kW exceeds one feed's "
                f"{r.feed_capacity_kw:.1f} kW (A/B feeds must each carry the rack)",
            )


def cdu_overload(design: Design) -> Iterator[Violation]:
    for c in design.cooling.cdus:
        if c.overloaded:
            yield Violation(
                "cooling.cdu_overload",
                "error",
                c.name,
                f"liquid load {c.load_kw:.1f} kW exceeds the N+1 capacity "
                f"{c.capacity_kw:.1f} kW of {c.units} x {c.model}",
            )


def power_contract(design: Design) -> Iterator[Violation]:
    for p in design.power.phases:
        supply = p.supply_kw
        if p.facility_kw > supply:
            yield Violation(
                "power.contract_exceeded",
                "error",
                f"phase {p.phase}",
                f"facility demand {p.facility_kw / 1000:.2f} MW exceeds contract "
                f"{p.contract_kw / 1000:.2f} MW + on-site {p.onsite_kw / 1000:.2f} MW"
                f" = {supply / 1000:.2f} MW",
            )


def power_headroom(design: Design) -> Iterator[Violation]:
    """A phase that fits its supply, but barely (an exceeded one is power_contract's)."""
    for p in design.power.phases:
        supply = p.supply_kw
        if supply and 0 <= (supply - p.facility_kw) / supply < HEADROOM_WARNING:
            yield Violation(
                "power.contract_headroom",
                "warning",
                f"phase {p.phase}",
                f"only {(supply - p.facility_kw) / 1000:.2f} MW headroom "
                f"({(supply - p.facility_kw) / supply:.1%}) of {supply / 1000:.2f} MW",
            )


def cooling_plant(design: Design) -> Iterator[Violation]:
    c = design.cooling
    heat = c.liquid_kw + c.air_kw
    if heat > c.plant_capacity_kw:
        yield Violation(
            "cooling.plant_exceeded",
            "error",
            "cooling plant",
            f"heat load {heat / 1000:.2f} MW exceeds plant capacity "
            f"{c.plant_capacity_kw / 1000:.2f} MW",
        )


# Spectrum-X link speeds in Gb/s: NIC links are 400G lanes of a split cage, switch links
# 800G cages (infra/design/ethernet.py).
_ETH_GBPS = {"node_leaf": 400, "leaf_spine": 800, "spine_core": 800}


def oversubscription(design: Design) -> Iterator[Violation]:
    """Spectrum-X is built 1:1: no leaf or spine may take more bandwidth from below than
    it sends up (a top-tier switch has nothing above it)."""
    if design.technology != "spectrum_x":
        return
    down: dict[str, int] = defaultdict(int)
    up: dict[str, int] = defaultdict(int)
    for link in design.links:
        gbps = _ETH_GBPS[link.tier]
        down[link.b_dev] += gbps
        if link.tier != "node_leaf":
            up[link.a_dev] += gbps
    top = "spine" if all(p.tiers == 2 for p in design.planes) else "core"
    for sw in design.switches:
        if sw.tier != top and down[sw.name] > up[sw.name]:
            yield Violation(
                "fabric.oversubscription",
                "error",
                sw.name,
                f"{down[sw.name]:,} Gb/s down but {up[sw.name]:,} Gb/s up: "
                f"{down[sw.name] / max(up[sw.name], 1):.2f}:1, the fabric must be 1:1",
            )


def ecmp_width(design: Design) -> Iterator[Violation]:
    """Every leaf spreads its uplinks evenly over every spine of its pod, and every spine
    over every core of its group: BGP multipath then has the full width and no path
    carries more than its share."""
    if design.technology != "spectrum_x":
        return
    group_of = {s.name: s.group for s in design.switches}
    members: dict[tuple[str, str], set[str]] = defaultdict(set)  # (tier, group) -> switches
    for s in design.switches:
        members[(s.tier, s.group)].add(s.name)
    spread: dict[str, Counter] = defaultdict(Counter)
    for link in design.links:
        if link.tier != "node_leaf":
            spread[link.a_dev][link.b_dev] += 1
    top = "spine" if all(p.tiers == 2 for p in design.planes) else "core"
    for sw in design.switches:
        if sw.tier == top:
            continue
        ups = spread.get(sw.name, Counter())
        above = {group_of[u] for u in ups}
        tier_above = "spine" if sw.tier == "leaf" else "core"
        expected = set().union(*(members[(tier_above, g)] for g in above)) if above else set()
        missing = expected - ups.keys()
        if not ups or missing or len(set(ups.values())) > 1:
            yield Violation(
                "fabric.ecmp_width",
                "error",
                sw.name,
                f"uplinks reach {len(ups)} of {len(expected)} {tier_above}s"
                + (f" unevenly ({min(ups.values())}-{max(ups.values())} links each)" if ups else "")
                + ": ECMP needs every one, equally",
            )


def address_plan(design: Design) -> Iterator[Violation]:
    """Spectrum-X addressing: every switch one loopback and ASN, no address twice, every
    NIC a /31 whose gateway is the even address beside it."""
    if design.technology != "spectrum_x":
        return
    l3 = {s.name for s in design.switches_l3}
    for sw in design.switches:
        if sw.name not in l3:
            yield Violation("fabric.address_plan", "error", sw.name, "no loopback/ASN")
    seen: dict[str, str] = {}
    for owner, addr in (
        *((s.name, s.loopback.split("/")[0]) for s in design.switches_l3),
        *((f"{n.node}:{n.device}", n.address.split("/")[0]) for n in design.nics_l3),
        *((f"{n.leaf}:{n.leaf_port}", n.gateway) for n in design.nics_l3),
    ):
        if addr in seen:
            yield Violation("fabric.address_plan", "error", owner, f"{addr} is also {seen[addr]}'s")
        seen[addr] = owner
    for n in design.nics_l3:
        a, _, length = n.address.partition("/")
        *head, last = a.split(".")
        if (
            length != "31"
            or int(last) % 2 != 1
            or ".".join([*head, str(int(last) - 1)]) != n.gateway
        ):
            yield Violation(
                "fabric.address_plan",
                "error",
                f"{n.node}:{n.device}",
                f"{n.address} via {n.gateway} is not the odd half of a /31",
            )


Rule = Callable[[Design], Iterator[Violation]]

# Rule id -> the rule; each rule emits violations under its own id only, with one
# severity (tests/design/test_rules.py holds both), so `only=` and the policy pack select
# exactly what the violations say.
RULES: dict[str, Rule] = {
    "fabric.ports_exhausted": ports_exhausted,
    "fabric.tier_limit": tier_limit,
    "fabric.lid_limit": lid_limit,
    "fabric.oversubscription": oversubscription,
    "fabric.ecmp_width": ecmp_width,
    "fabric.address_plan": address_plan,
    "cable.reach_exceeded": cable_reach,
    "power.pdu_overload": pdu_overload,
    "cooling.cdu_overload": cdu_overload,
    "power.contract_exceeded": power_contract,
    "power.contract_headroom": power_headroom,
    "cooling.plant_exceeded": cooling_plant,
}


def check_design(design: Design, only: tuple[str, ...] = ()) -> list[Violation]:
    """Every violation of the selected rules (all by default), errors first."""
    out = []
    for name, rule in RULES.items():
        if not only or name in only:
            out.extend(rule(design))
    return sorted(out, key=lambda v: (v.severity != "error", v.rule, v.object))


def errors(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == "error"]
