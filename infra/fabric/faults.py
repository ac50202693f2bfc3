"""Fault injection into a plane's cabling, for the simulated fabric: what a crew gets
wrong on the floor. Each fault records the designed cables it touches, so a test can
check that validation reports exactly the injected faults and nothing else.

- swap:  two cables of one tier exchange their upper ends (two patch cords crossed);
- down:  a cable is absent or dark (ports stay down);
- speed: a link trains below its designed rate. ibsim 0.10 reports every link at SDR,
         whatever speed is enabled, but honours a port's enabled width, so the simulated
         fault is a link trained at 1x instead of 4x ("w=1" on both ports).
- cross: an HCA cable and a leaf uplink exchange their upper ends (a node patched into a
         spine port, its leaf's uplink into the node's leaf port): no longer a fat tree,
         ftree refuses it and OpenSM routes with the updn fallback.
A fault may name the tier whose cables it takes, `KIND@TIER:COUNT` (TIER one of
node_leaf, leaf_spine, spine_core): `down@spine_core:1` is a downed spine uplink,
`down@leaf_spine:1` a missing leaf-spine cable (what ftree must route around).
The subnet manager's own cable is never touched (without it nothing is discovered).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from infra.errors import InputError
from infra.fabric.plane import End, PlaneFabric
from infra.fabric.validate import LinkKey, canon

KINDS = ("swap", "down", "speed", "cross")
TIERS = ("node_leaf", "leaf_spine", "spine_core")
FINDING_OF = {"swap": "miswired", "down": "missing", "speed": "degraded", "cross": "miswired"}


@dataclass(frozen=True)
class Fault:
    kind: str
    designed: tuple[LinkKey, ...]  # the designed cables it changes

    @property
    def finding_kind(self) -> str:
        return FINDING_OF[self.kind]


@dataclass
class FaultedPlane:
    links: list[tuple[End, End, str]]
    port_opts: dict[End, str] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)


def fault_picks(counts: dict[str, int], kind: str) -> list[str | None]:
    """One entry per fault of this kind asked for (KIND or KIND@TIER counts): None (any
    tier) first, then the targeted tiers. Shared by the InfiniBand and Ethernet faults."""
    out: list[str | None] = [None] * counts.get(kind, 0)
    for key in sorted(k for k in counts if k.startswith(f"{kind}@")):
        out += [key.partition("@")[2]] * counts[key]
    return out


def parse_fault_args(values: list[str]) -> dict[str, int]:
    """`KIND[@TIER]:COUNT` arguments (repeatable) -> {"kind" or "kind@tier": count}."""
    counts: dict[str, int] = {}
    problems = []
    for value in values:
        kind, _, count = value.partition(":")
        base, at, tier = kind.partition("@")
        bad_tier = at and (tier not in TIERS or base == "cross")
        if base not in KINDS or bad_tier or not count.isdigit() or int(count) < 1:
            problems.append(
                f"--fault {value!r}: expected KIND[@TIER]:COUNT, KIND one of {KINDS}, "
                f"TIER one of {TIERS}"
            )
            continue
        counts[kind] = counts.get(kind, 0) + int(count)
    if problems:
        raise InputError(problems)
    return counts


def inject(fabric: PlaneFabric, counts: dict[str, int], seed: int = 0) -> FaultedPlane:
    rng = random.Random(seed)
    links = list(fabric.links)
    sm = fabric.sm_ca
    # Every fault gets cables no other fault touches, so each is reported on its own.
    free = [i for i, (a, b, _t) in enumerate(links) if sm not in (a[0], b[0])]
    rng.shuffle(free)
    out = FaultedPlane(links=links)
    need = sum(n * (2 if key.startswith(("swap", "cross")) else 1) for key, n in counts.items())
    if need > len(free):
        raise InputError([f"plane {fabric.name}: {need} faulted cables asked, {len(free)} exist"])

    def take(tier: str | None) -> int:
        if tier is None:
            return free.pop()
        i = next((k for k in reversed(free) if links[k][2] == tier), None)
        if i is None:
            raise InputError([f"plane {fabric.name}: no {tier} cable left to fault"])
        free.remove(i)
        return i

    dropped: set[int] = set()
    for want in fault_picks(counts, "swap"):
        i = take(want)
        tier = links[i][2]
        j = next((k for k in reversed(free) if links[k][2] == tier), None)
        if j is None:
            raise InputError([f"plane {fabric.name}: no second {tier} cable left to swap"])
        free.remove(j)
        (a1, b1, t), (a2, b2, _) = links[i], links[j]
        links[i], links[j] = (a1, b2, t), (a2, b1, t)
        out.faults.append(Fault("swap", tuple(sorted([canon(a1, b1), canon(a2, b2)]))))
    for want in fault_picks(counts, "down"):
        i = take(want)
        dropped.add(i)
        a, b, _t = links[i]
        out.faults.append(Fault("down", (canon(a, b),)))
    for want in fault_picks(counts, "speed"):
        i = take(want)
        a, b, _t = links[i]
        out.port_opts[a] = out.port_opts[b] = "w=1"
        out.faults.append(Fault("speed", (canon(a, b),)))
    for _ in range(counts.get("cross", 0)):
        i, j = take("node_leaf"), take("leaf_spine")
        (a1, b1, t1), (a2, b2, t2) = links[i], links[j]  # lower end first: HCA, leaf
        links[i], links[j] = (a1, b2, t1), (a2, b1, t2)
        out.faults.append(Fault("cross", tuple(sorted([canon(a1, b1), canon(a2, b2)]))))
    out.links = [link for k, link in enumerate(links) if k not in dropped]
    return out
