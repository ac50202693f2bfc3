"""Cabling validation of a Spectrum-X fabric from LLDP: what `lldpcli -f json show
neighbors` prints on each switch (Cumulus Linux runs lldpd) or host, against the design.

The findings are the InfiniBand validator's (infra/fabric/validate.py: the same Finding,
the same swapped / moved / missing / unexpected classification), with the physical
places of every cable involved (hall, row, rack, U, device, port), and the same exit
codes (0 clean, 1 findings, 2 a file that cannot be read).

lldpd's JSON (lldpcli(8), `-f json`; the shape of lldpd 1.0.x, which Cumulus Linux and
Debian ship):
    {"lldp": {"interface": {"swp1": {"via": "LLDP", "chassis": {"leaf01": {"id": ...}},
                                     "port": {"id": {"type": "ifname", "value": "swp51"},
                                              "descr": "swp51", ...}}}}}
Its quirk: with one neighbor `interface` is an object keyed by the local port; with more
it is a list of such one-key objects (the same port may appear twice: two neighbors on
one port). A chassis that sends no system name is `"chassis": {"id": {...}}`. A port ID
of type `ifname` is the remote port; lldpd on Linux hosts sends the MAC by default, and
the interface name as `descr`, which is used then.

Input: one device's output in a file named `<device>.json` (the device is not in the
JSON: `show neighbors` lists the neighbors only), a directory of such files, or one file
holding `{device: <lldpcli output>, ...}` (what the simulation writes).
Host ports are matched by name: a host's RoCE netdev is expected to carry the design's
device name (mlx5_<rail>), as the simulated hosts' do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.design.ethernet import port_name
from infra.design.model import Design
from infra.errors import InputError
from infra.fabric.validate import Finding, LinkKey, Locator, _classify, canon

NIC_PORT = 1  # a NIC end is (f"{node} {device}", 1), as an HCA end is in validate.py
_NO_RATE = ("1", "SDR")  # LLDP carries no link rate: nothing is ever "degraded"


@dataclass(frozen=True)
class Neighbor:
    device: str  # the device that reported it
    local_port: str  # its port (swp1s0, mlx5_3)
    chassis: str  # the neighbor's system name (or chassis ID when it sends none)
    port: str  # the neighbor's port name
    source: str  # file it came from, for messages


def parse_neighbors(data: object, device: str, source: str) -> list[Neighbor]:
    """One device's `lldpcli -f json show neighbors` output."""
    if not isinstance(data, dict) or "lldp" not in data:
        raise InputError([f"{source}: not `lldpcli -f json show neighbors` output (no 'lldp')"])
    lldp = data["lldp"]
    if not lldp:  # no neighbors at all: {"lldp": {}} or {"lldp": []}
        return []
    if isinstance(lldp, list):  # lldpd prints a list when one section repeats
        lldp = {k: v for item in lldp if isinstance(item, dict) for k, v in item.items()}
    if not isinstance(lldp, dict):
        raise InputError([f"{source}: 'lldp' is neither an object nor a list"])
    out = []
    for local, entry in _interfaces(lldp.get("interface"), source):
        chassis = _chassis_name(entry.get("chassis"), source, local)
        port = _port_name(entry.get("port"), source, local)
        out.append(Neighbor(device, local, chassis, port, source))
    return out


def _interfaces(value: object, source: str) -> Iterator[tuple[str, dict]]:
    if value is None:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            raise InputError([f"{source}: an 'interface' entry is not an object"])
        for local, entry in item.items():
            if not isinstance(entry, dict):
                raise InputError([f"{source}: interface {local!r}: not an object"])
            yield str(local), entry


def _chassis_name(chassis: object, source: str, local: str) -> str:
    if not isinstance(chassis, dict) or not chassis:
        raise InputError([f"{source}: interface {local}: no chassis"])
    ident = chassis.get("id")
    if isinstance(ident, dict) and "type" in ident:  # no system name: only the chassis ID
        return str(ident.get("value", ""))
    name = next(iter(chassis))
    return str(name)


def _port_name(port: object, source: str, local: str) -> str:
    if not isinstance(port, dict):
        raise InputError([f"{source}: interface {local}: no port"])
    pid = port.get("id")
    if isinstance(pid, dict) and pid.get("type") == "ifname" and pid.get("value"):
        return str(pid["value"])
    if port.get("descr"):
        return str(port["descr"])
    if isinstance(pid, dict) and pid.get("value"):
        return str(pid["value"])
    raise InputError([f"{source}: interface {local}: the port has neither ID nor description"])


def read_lldp(path: Path) -> list[Neighbor]:
    """Neighbors from a file or a directory of `<device>.json` files (see module doc)."""
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputError([f"{path}: no <device>.json files"])
        out: list[Neighbor] = []
        for f in files:
            out += parse_neighbors(_load(f), f.stem, str(f))
        return out
    data = _load(path)
    if isinstance(data, dict) and "lldp" not in data:
        out = []
        for device, output in sorted(data.items()):
            out += parse_neighbors(output, str(device), f"{path}[{device}]")
        return out
    return parse_neighbors(data, path.stem, str(path))


def _load(path: Path) -> object:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([f"{path}: cannot read: {exc}"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError([f"{path}:{exc.lineno}: not JSON: {exc.msg}"]) from None


class EthLocator(Locator):
    """Places on an Ethernet fabric: switch ports by their Cumulus names, NICs by rail."""

    def place(self, end) -> str:
        device, port = end
        if device in self.where:
            return f"{self.where[device]} port {port}"
        host, _, nic = device.rpartition(" ")
        if host in self.node_at:
            return f"{self.node_at[host]} node {host} NIC {nic}"
        return f"location not in the design: {device} port {port}"


def designed_links(design: Design, links: Iterable | None = None) -> list[LinkKey]:
    """Every designed cable as two ends: (switch, swp name) or (f"{node} {device}", 1)."""
    tier_of = {s.name: s.tier for s in design.switches}
    device_of = {(n.node, n.rail): n.device for n in design.nics_l3}
    out = []
    for link in design.links if links is None else links:
        b = (link.b_dev, port_name(tier_of[link.b_dev], link.b_port))
        if link.tier == "node_leaf":
            device = device_of.get((link.a_dev, link.a_port), f"mlx5_{link.a_port}")
            a = (f"{link.a_dev} {device}", NIC_PORT)
        else:
            a = (link.a_dev, port_name(tier_of[link.a_dev], link.a_port))
        out.append(canon(a, b))
    return out


def seen_links(design: Design, neighbors: Iterable[Neighbor]) -> set[LinkKey]:
    """The cables LLDP saw, each as two ends, from whichever side reported it."""
    switches = {s.name for s in design.switches}
    nodes = {n.name for n in design.nodes}
    seen: set[LinkKey] = set()
    for nb in neighbors:
        mine = _end(nb.device, nb.local_port, switches, nodes)
        theirs = _end(nb.chassis, nb.port, switches, nodes)
        seen.add(canon(mine, theirs))
    return seen


def _end(device: str, port: str, switches: set[str], nodes: set[str]):
    if device in switches:
        return (device, port)
    if device in nodes:
        return (f"{device} {port}", NIC_PORT)
    return (device, port)  # not in the design: an `unexpected` end, placed as such


def validate_lldp(design: Design, neighbors: list[Neighbor]) -> list[Finding]:
    """Findings for the cables of every device that reported: a designed cable with an end
    on a reporting device must be seen; anything seen and not designed is reported."""
    if not neighbors:
        raise InputError(["no LLDP neighbors in the input: nothing to validate"])
    reporting = {nb.device for nb in neighbors}
    switches = {s.name for s in design.switches}
    nodes = {n.name for n in design.nodes}
    known = [d for d in reporting if d in switches or d in nodes]
    if not known:
        first = sorted(reporting)[0]
        raise InputError(
            [f"{first}: no reporting device is a switch or node of the design (wrong stack?)"]
        )

    def reported(end) -> bool:
        device = end[0]
        return device in reporting or device.rpartition(" ")[0] in reporting

    designed = {k for k in designed_links(design) if reported(k[0]) or reported(k[1])}
    seen = dict.fromkeys(seen_links(design, neighbors), _NO_RATE)
    return _classify(designed, seen, _NO_RATE, EthLocator(design))
