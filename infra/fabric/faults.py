"""Fault injection into a plane's cabling, for the simulated fabric: what a crew gets
wrong on the floor. Each fault records the designed cables it touches, so a test can
check that validation reports exactly the injected faults and nothing else.

- swap:  two cables of one tier exchange their upper ends (two patch cords crossed);
- down:  a cable is absent or dark (ports stay down);
- speed: a link trains below its designed rate. ibsim 0.10 reports every link at SDR,
         whatever speed is enabled, but honours a port's enabled width, so the simulated
         fault is a link trained at 1x instead of 4x ("w=1" on both ports).
The subnet manager's own cable is never touched (without it nothing is discovered).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from infra.errors import InputError
from infra.fabric.plane import End, PlaneFabric
from infra.fabric.validate import LinkKey, canon

KINDS = ("swap", "down", "speed")
FINDING_OF = {"swap": "miswired", "down": "missing", "speed": "degraded"}


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


def parse_fault_args(values: list[str]) -> dict[str, int]:
    """`KIND:COUNT` arguments (repeatable) -> {kind: count}."""
    counts: dict[str, int] = {}
    problems = []
    for value in values:
        kind, _, count = value.partition(":")
        if kind not in KINDS or not count.isdigit() or int(count) < 1:
            problems.append(f"--fault {value!r}: expected KIND:COUNT, KIND one of {KINDS}")
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
    need = counts.get("swap", 0) * 2 + counts.get("down", 0) + counts.get("speed", 0)
    if need > len(free):
        raise InputError([f"plane {fabric.name}: {need} faulted cables asked, {len(free)} exist"])
    dropped: set[int] = set()
    for _ in range(counts.get("swap", 0)):
        i = free.pop()
        tier = links[i][2]
        j = next((k for k in reversed(free) if links[k][2] == tier), None)
        if j is None:
            raise InputError([f"plane {fabric.name}: no second {tier} cable left to swap"])
        free.remove(j)
        (a1, b1, t), (a2, b2, _) = links[i], links[j]
        links[i], links[j] = (a1, b2, t), (a2, b1, t)
        out.faults.append(Fault("swap", tuple(sorted([canon(a1, b1), canon(a2, b2)]))))
    for _ in range(counts.get("down", 0)):
        i = free.pop()
        dropped.add(i)
        a, b, _t = links[i]
        out.faults.append(Fault("down", (canon(a, b),)))
    for _ in range(counts.get("speed", 0)):
        i = free.pop()
        a, b, _t = links[i]
        out.port_opts[a] = out.port_opts[b] = "w=1"
        out.faults.append(Fault("speed", (canon(a, b),)))
    out.links = [link for k, link in enumerate(links) if k not in dropped]
    return out
