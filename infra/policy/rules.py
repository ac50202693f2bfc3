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
    """Radix-k fat trees reach k^2/2 endpoints in 2 tiers and k^3/4 in 3."""
    for p in design.planes:
        limit = p.radix**2 // 2 if p.tiers == 2 else p.radix**3 // 4
        if p.endpoints > limit:
            formula = "k^2/2" if p.tiers == 2 else "k^3/4"
            yield Violation(
                "fabric.tier_limit",
                "error",
                f"plane {p.name}",
                f"{p.endpoints} endpoints exceed the {p.tiers}-tier limit "
                f"{formula} = {limit} for radix {p.radix}",
            )


def lid_limit(design: Design) -> Iterator[Violation]:
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


Rule = Callable[[Design], Iterator[Violation]]

# Rule id -> the rule; each rule emits violations under its own id only, with one
# severity (tests/design/test_rules.py holds both), so `only=` and the policy pack select
# exactly what the violations say.
RULES: dict[str, Rule] = {
    "fabric.ports_exhausted": ports_exhausted,
    "fabric.tier_limit": tier_limit,
    "fabric.lid_limit": lid_limit,
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
