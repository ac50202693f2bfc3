"""Port error counters as rates over an interval: perfquery's output read twice (the
counters cleared first, `perfquery -R`, then read after `interval_s`), judged per counter
against thresholds, on designed ports only, with link flaps (LinkDownedCounter rising
during the interval) reported on their own.

perfquery prints one block per port (infiniband-diags):

    # Port counters: Lid 1 port 1 (CapMask: 0x1200)
    PortSelect:......................1
    SymbolErrorCounter:..............0
    ...

Pure: the reads come from the caller (SSH, Ansible, or perfquery under ibsim).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from infra.errors import InputError

# The counters judged, with the threshold file's names (rdma-core's
# /etc/infiniband-diags/error_thresholds; ours: inventory/group_vars/all/thresholds.yml).
JUDGED = ("SymbolErrorCounter", "LinkDownedCounter", "PortRcvErrors")
FLAP_COUNTER = "LinkDownedCounter"

_HEADER = re.compile(
    r"^# Port (?:extended )?counters: Lid (\d+) port (\d+|255|ALL) \(CapMask: [^)]*\)\s*$"
)
_VALUE = re.compile(r"^([A-Za-z0-9]+):\.*(0x[0-9a-fA-F]+|\d+)\s*$")

PortKey = tuple[int, int]  # (LID, port)


def parse_perfquery(text: str, source: str = "perfquery") -> dict[PortKey, dict[str, int]]:
    """(LID, port) -> counter name -> value, for every block in perfquery's output
    (basic and extended blocks of one port are merged). A line that is neither a block
    header, a counter nor blank is refused, naming the source and line."""
    out: dict[PortKey, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _HEADER.match(line)
        if m:
            port = 255 if m.group(2) == "ALL" else int(m.group(2))
            current = out.setdefault((int(m.group(1)), port), {})
            continue
        m = _VALUE.match(line)
        if m is None or current is None:
            raise InputError([f"{source}:{n}: not perfquery output: {line[:80]!r}"])
        current[m.group(1)] = int(m.group(2), 0)
    return out


@dataclass(frozen=True)
class CounterFinding:
    port: str  # "<device> port <n>" (the design's name for the port)
    counter: str
    delta: int  # counted during the interval
    rate_per_s: float
    threshold: int  # the most the interval may count
    kind: str  # "errors" | "flap"

    @property
    def summary(self) -> str:
        what = "link flapped" if self.kind == "flap" else f"{self.counter} above threshold"
        return (
            f"{self.port}: {what}: {self.counter} +{self.delta} in the interval "
            f"({self.rate_per_s:.3f}/s, threshold {self.threshold})"
        )


def judge(
    before: Mapping[PortKey, Mapping[str, int]],
    after: Mapping[PortKey, Mapping[str, int]],
    interval_s: float,
    thresholds: Mapping[str, int],
    ports: Mapping[PortKey, str],
) -> list[CounterFinding]:
    """Findings for the designed ports: `ports` maps each designed (LID, port) to its name;
    every other port read (spares, unused switch ports) is not judged. A counter is a
    finding when it counted more than its threshold during the interval; any rise of
    LinkDownedCounter is a flap whatever its threshold. A designed port missing from the
    second read is a finding too (it stopped answering)."""
    if interval_s <= 0:
        raise InputError([f"interval: must be positive, got {interval_s}"])
    missing = [c for c in JUDGED if c not in thresholds]
    if missing:
        raise InputError([f"thresholds: no value for {', '.join(missing)}"])
    findings = []
    for key, name in sorted(ports.items(), key=lambda kv: kv[1]):
        now = after.get(key)
        if now is None:
            findings.append(CounterFinding(name, "read", 0, 0.0, 0, "unreadable"))
            continue
        was = before.get(key, {})
        for counter in JUDGED:
            delta = now.get(counter, 0) - was.get(counter, 0)
            if delta < 0:  # cleared by someone else in between: the value is the count
                delta = now.get(counter, 0)
            rate = delta / interval_s
            if counter == FLAP_COUNTER and delta > 0:
                findings.append(CounterFinding(name, counter, delta, rate, 0, "flap"))
            elif delta > thresholds[counter]:
                findings.append(
                    CounterFinding(name, counter, delta, rate, thresholds[counter], "errors")
                )
    return findings


def designed_ports(
    lids: Mapping[str, int], designed: Iterable[tuple[str, int]]
) -> dict[PortKey, str]:
    """(LID, port) -> "<device> port <n>" for the designed ports whose device has a LID.
    `lids`: device (node description) -> LID, as the fabric reports it; `designed`: the
    design's (device, port) ends (infra.fabric.plane.PlaneFabric.links)."""
    return {(lids[dev], port): f"{dev} port {port}" for dev, port in designed if dev in lids}
