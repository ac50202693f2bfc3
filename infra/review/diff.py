"""The difference between two designs: inventory, cabling, power, cooling, rules.

Pure: takes the base design (None when the stack is new) and the head design with their
violations, returns a Review. Cables are matched by their two ports, so a cable whose
ends stay but whose medium or length changes is "changed", not removed and re-added.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import compress
from operator import attrgetter

from infra.design.cooling import busiest_cdu_pct
from infra.design.export import cabling_rows
from infra.design.model import Design, Link
from infra.policy import Violation
from infra.review.model import CablingChanges, Delta, HallRow, NameChanges, PhaseRow, Review

FEED_WARN_PCT = 80.0  # a feed loaded past this leaves little room for a failed twin


def _n(x: float) -> float:
    return round(float(x), 3)


def _counts(d: Design | None) -> dict[str, float]:
    if d is None:
        return dict.fromkeys(INVENTORY, 0)
    sw = Counter(s.tier for s in d.switches)
    return {
        "halls": len({r.hall for r in d.racks}),
        "scalable units": len({n.su for n in d.nodes}),
        "compute racks": sum(r.kind == "compute" for r in d.racks),
        "network racks": sum(r.kind == "network" for r in d.racks),
        "nodes": len(d.nodes),
        "GPUs": d.gpus,
        "fabric planes": len(d.planes),
        "leaf switches": sw["leaf"],
        "spine switches": sw["spine"],
        "core switches": sw["core"],
        "cables": len(d.links),
        "CDUs": len(d.cooling.cdus),
    }


INVENTORY = (
    "halls",
    "scalable units",
    "compute racks",
    "network racks",
    "nodes",
    "GPUs",
    "fabric planes",
    "leaf switches",
    "spine switches",
    "core switches",
    "cables",
    "CDUs",
)


def _deltas(before: dict[str, float], after: dict[str, float]) -> list[Delta]:
    keys = list(before) + [k for k in after if k not in before]
    return [Delta(k, before.get(k, 0), after.get(k, 0)) for k in keys]


def _sorted_deltas(before: Counter, after: Counter) -> list[Delta]:
    keys = sorted(set(before) | set(after))
    return [Delta(k, before.get(k, 0), after.get(k, 0)) for k in keys]


def _switch_counts(d: Design | None) -> Counter:
    if d is None:
        return Counter()
    return Counter(f"{s.tier}/{s.plane}" for s in d.switches)


def _cable_counts(d: Design | None) -> Counter:
    if d is None:
        return Counter()
    pairs = Counter(map(attrgetter("tier", "medium"), d.links))
    return Counter({f"{tier}/{medium or 'NONE'}": n for (tier, medium), n in pairs.items()})


def _names(kind: str, before: set[str], after: set[str]) -> NameChanges:
    return NameChanges(kind, sorted(after - before), sorted(before - after))


def _name_changes(base: Design | None, head: Design) -> list[NameChanges]:
    def sets(d: Design | None) -> tuple[set, set, set, set]:
        if d is None:
            return set(), set(), set(), set()
        return (
            {r.hall for r in d.racks},
            {n.su for n in d.nodes},
            {r.name for r in d.racks},
            {s.name for s in d.switches},
        )

    b, h = sets(base), sets(head)
    kinds = ("halls", "scalable units", "racks", "switches")
    return [_names(k, x, y) for k, x, y in zip(kinds, b, h, strict=True)]


# A cable is known by its two ports; what it is made of can change under it.
_ENDS = attrgetter("plane", "tier", "a_dev", "a_port", "b_dev", "b_port")
_ALL = attrgetter("plane", "tier", "a_dev", "a_port", "b_dev", "b_port", "medium", "length_m")


def _whole(links: tuple[Link, ...]) -> Sequence[tuple]:
    """Each link as one hashable tuple of all its fields: the links themselves when Link
    is a tuple (a NamedTuple), else built with attrgetter."""
    return links if issubclass(Link, tuple) else list(map(_ALL, links))


def _differing(base: Design | None, head: Design) -> tuple[list, list]:
    """(head links, base links) that are not in the other design, each with its cable
    number, in plan order. A memphis design holds ~300,000 links: the tuples, the set
    differences and the picking (compress over membership) all run in C."""
    head_rows = _whole(head.links)
    base_rows = _whole(base.links) if base else []
    head_set, base_set = set(head_rows), set(base_rows)  # set - set reuses stored hashes
    plus, minus = head_set - base_set, base_set - head_set

    def pick(design: Design | None, rows: list, wanted: set) -> list[tuple[int, Link]]:
        if not wanted or design is None:
            return []
        hits = compress(range(len(rows)), map(wanted.__contains__, rows))
        return [(i + 1, design.links[i]) for i in hits]

    return pick(head, head_rows, plus), pick(base, base_rows, minus)


def _rows(design: Design, picked: list[tuple[int, Link]]) -> list[dict]:
    """Cabling-plan rows (infra.design.export's shape) for some links of a design, each with the
    cable id it has in that design's full plan."""
    if not picked:
        return []
    rows = cabling_rows(dataclasses.replace(design, links=tuple(lk for _, lk in picked)))
    for (i, _), row in zip(picked, rows, strict=True):
        row["cable_id"] = f"C{i:06d}"
    return rows


def diff_cabling(base: Design | None, head: Design) -> CablingChanges:
    new, gone = _differing(base, head)
    was = {_ENDS(lk): lk for _, lk in gone}  # ends that exist on the base side
    now = {_ENDS(lk) for _, lk in new}
    added = [p for p in new if _ENDS(p[1]) not in was]
    changed = [p for p in new if _ENDS(p[1]) in was]
    removed = [p for p in gone if _ENDS(p[1]) not in now]
    rows = [{"change": "added", **r} for r in _rows(head, added)]
    if base is not None:
        rows += [{"change": "removed", **r} for r in _rows(base, removed)]
        for r, (_, lk) in zip(_rows(head, changed), changed, strict=True):
            prev = was[_ENDS(lk)]
            rows.append(
                {
                    "change": "changed",
                    **r,
                    "was_medium": prev.medium or "NONE",
                    "was_length_m": prev.length_m,
                }
            )
    return CablingChanges(len(added), len(removed), len(changed), rows)


def _power(d: Design | None) -> dict[str, float]:
    if d is None:
        return dict.fromkeys(POWER, 0)
    p = d.power
    feed = [r.nameplate_kw / r.feed_capacity_kw * 100 for r in p.racks if r.feed_capacity_kw]
    return {
        "IT kW": _n(p.it_kw),
        "facility kW": _n(p.facility_kw),
        "utility contract kW": _n(p.contract_kw),
        "on-site generation kW": _n(p.onsite_kw),
        "battery storage kW (bridge only)": _n(p.storage_kw),
        "busiest rack feed %": _n(max(feed, default=0.0)),
        f"rack feeds over {FEED_WARN_PCT:.0f}%": sum(x > FEED_WARN_PCT for x in feed),
        "rack feeds over capacity": sum(x > 100 for x in feed),
    }


POWER = (
    "IT kW",
    "facility kW",
    "utility contract kW",
    "on-site generation kW",
    "battery storage kW (bridge only)",
    "busiest rack feed %",
    f"rack feeds over {FEED_WARN_PCT:.0f}%",
    "rack feeds over capacity",
)


def _cooling(d: Design | None) -> dict[str, float]:
    if d is None:
        return dict.fromkeys(COOLING, 0)
    c = d.cooling
    return {
        "liquid heat kW": _n(c.liquid_kw),
        "air heat kW": _n(c.air_kw),
        "plant capacity kW": _n(c.plant_capacity_kw),
        "coolant flow L/min": _n(c.flow_lpm),
        "facility water L/min": _n(c.facility_water_lpm),
        "busiest CDU %": _n(busiest_cdu_pct(c.cdus)),
        "CDUs over N+1 capacity": sum(x.overloaded for x in c.cdus),
    }


COOLING = (
    "liquid heat kW",
    "air heat kW",
    "plant capacity kW",
    "coolant flow L/min",
    "facility water L/min",
    "busiest CDU %",
    "CDUs over N+1 capacity",
)


def _phases(base: Design | None, head: Design) -> list[PhaseRow]:
    old = {p.phase: p for p in base.power.phases} if base else {}
    new = {p.phase: p for p in head.power.phases}
    out = []
    for name in list(new) + [n for n in old if n not in new]:
        b, h = old.get(name), new.get(name)
        ref = h or b
        supply_b = b.contract_kw + b.onsite_kw if b else None
        supply_h = h.contract_kw + h.onsite_kw if h else None
        out.append(
            PhaseRow(
                phase=name,
                before_kw=_n(b.facility_kw) if b else None,
                after_kw=_n(h.facility_kw) if h else None,
                contract_kw=_n(ref.contract_kw),
                onsite_kw=_n(ref.onsite_kw),
                headroom_before_kw=_n(supply_b - b.facility_kw) if b else None,
                headroom_after_kw=_n(supply_h - h.facility_kw) if h else None,
                it_before_kw=_n(b.it_kw) if b else None,
                it_after_kw=_n(h.it_kw) if h else None,
            )
        )
    return out


def _hall_loads(d: Design | None) -> dict[str, tuple[float, int, float, float]]:
    """hall -> (IT kW, racks, busiest feed %, busiest CDU %)."""
    if d is None:
        return {}
    racks: Counter = Counter(r.hall for r in d.racks)
    feed: dict[str, float] = {}
    for r in d.power.racks:
        if r.feed_capacity_kw:
            feed[r.hall] = max(feed.get(r.hall, 0.0), r.nameplate_kw / r.feed_capacity_kw * 100)
    cdus = defaultdict(list)
    for c in d.cooling.cdus:
        cdus[c.hall].append(c)
    return {
        h: (d.power.hall_it_kw.get(h, 0.0), racks[h], feed.get(h, 0.0), busiest_cdu_pct(cdus[h]))
        for h in racks
    }


def _halls(base: Design | None, head: Design) -> list[HallRow]:
    old, new = _hall_loads(base), _hall_loads(head)
    none = (0.0, 0, 0.0, 0.0)
    out = []
    for hall in list(new) + [h for h in old if h not in new]:
        b, a = old.get(hall, none), new.get(hall, none)
        out.append(
            HallRow(hall, _n(b[0]), _n(a[0]), b[1], a[1], _n(b[2]), _n(a[2]), _n(b[3]), _n(a[3]))
        )
    return out


def diff_violations(before: list[Violation], after: list[Violation]) -> dict[str, list[dict]]:
    """New, fixed and remaining, matched by rule and object: a violation whose numbers
    moved is still the same problem (it remains, with the head's message)."""
    old = {(v.rule, v.object): v for v in before}
    new = {(v.rule, v.object): v for v in after}
    return {
        "new": [v.to_dict() for k, v in new.items() if k not in old],
        "fixed": [v.to_dict() for k, v in old.items() if k not in new],
        "remaining": [v.to_dict() for k, v in new.items() if k in old],
    }


def build_review(
    stack: str,
    base: Design | None,
    head: Design,
    base_violations: list[Violation],
    head_violations: list[Violation],
    base_label: str = "HEAD",
    head_label: str = "working tree",
) -> Review:
    return Review(
        stack=stack,
        site=head.site,
        base=base_label,
        head=head_label,
        base_present=base is not None,
        inventory=_deltas(_counts(base), _counts(head)),
        switches=_sorted_deltas(_switch_counts(base), _switch_counts(head)),
        cables=_sorted_deltas(_cable_counts(base), _cable_counts(head)),
        names=_name_changes(base, head),
        cabling=diff_cabling(base, head),
        power=_deltas(_power(base), _power(head)),
        phases=_phases(base, head),
        halls=_halls(base, head),
        cooling=_deltas(_cooling(base), _cooling(head)),
        violations=diff_violations(base_violations, head_violations),
        blocking=sum(v.severity == "error" for v in head_violations),
    )
