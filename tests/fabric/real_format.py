"""A plane written the way a real Quantum-2 fabric's ibnetdiscover prints it, not the way
our simulator does: managed switches describe themselves `MF0;<hostname>:MQM9700/U1`
with the switch's own hostname, unmanaged ones only a vendor string, HCAs `<host> mlx5_<n>`
or (older stacks) `<host> HCA-<n>`, GUIDs burned in by the vendor (NVIDIA OUIs, nothing to
do with our GUID plan) and LIDs handed out by the SM in discovery order. The shape of
every line follows ibnetdiscover's own output (infiniband-diags `ibnetdiscover.c`; e.g. a
QM9700 fabric's `Switch	129 "S-9c05..."		# "MF0;...:MQM9700/U1" enhanced port 0 lid 1
lmc 0` and `[1]	"H-b83f..."[1](b83f...) 		# "node005 mlx5_2" lid 22 2xNDR`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from infra.fabric.plane import End, PlaneFabric

OUIS = (0xB83FD2, 0x946DAE, 0x9C0591, 0xA088C2, 0xE8EBD3)  # NVIDIA/Mellanox OUIs
VENDOR_STRINGS = ("Quantum-2 Mellanox Technologies", "Mellanox Technologies Aggregation Node")


@dataclass
class RealStyle:
    """How the site's gear names itself: hostnames that differ from design names, hosts
    on an older stack (`HCA-<n>`), switches that are unmanaged (a vendor string)."""

    hostnames: dict[str, str] = field(default_factory=dict)  # design switch -> hostname
    old_hca_hosts: set[str] = field(default_factory=set)  # hosts printing HCA-<n>
    unmanaged: dict[str, str] = field(default_factory=dict)  # design switch -> vendor string
    model: str = "MQM9700"
    nports: int = 129  # what a QM9700 reports (split-capable: 2 x 64 + port 0)
    seed: int = 7


@dataclass
class RealFabric:
    text: str
    guid: dict[str, int]  # design device (switch, or HCA description) -> node GUID
    name_map: str  # `hostname design-name` lines
    guid_map_nnm: str  # OpenSM node-name-map lines: `0x<guid> "name"`
    guid_map_csv: str  # `guid,name` lines


def switch_desc(name: str, style: RealStyle) -> str:
    if name in style.unmanaged:
        return style.unmanaged[name]
    return f"MF0;{style.hostnames.get(name, name)}:{style.model}/U1"


def hca_desc(desc: str, style: RealStyle) -> str:
    host, _, dev = desc.rpartition(" ")
    if host in style.old_hca_hosts:
        return f"{host} HCA-{int(dev.split('_')[1]) + 1}"
    return desc


def write_real(
    fabric: PlaneFabric,
    style: RealStyle,
    links: list[tuple[End, End, str]] | None = None,
    rates: dict[frozenset, str] | None = None,
    rate: str = "4xNDR",
) -> RealFabric:
    """The plane's ibnetdiscover output as a real fabric prints it. `links` (default: the
    designed cables) and `rates` (a link's ends -> the rate it trained at) describe faults."""
    rng = random.Random(style.seed)
    links = fabric.links if links is None else links
    rates = rates or {}
    guid: dict[str, int] = {}
    used: set[int] = set()
    for dev in [*fabric.switches, *fabric.cas]:
        while True:
            g = (rng.choice(OUIS) << 40) | (0x03 << 32) | rng.getrandbits(32)
            g &= ~0xF if dev in fabric.cas else ~0  # HCA port GUID = node GUID + port
            if g not in used:
                used.add(g)
                guid[dev] = g
                break
    order = list(guid)
    rng.shuffle(order)
    lid = {dev: i + 1 for i, dev in enumerate(order)}  # the SM's discovery order
    sm = fabric.cas[0]
    desc = {s: switch_desc(s, style) for s in fabric.switches}
    desc.update({c: hca_desc(c, style) for c in fabric.cas})
    peers: dict[str, dict[int, End]] = {d: {} for d in guid}
    for a, b, _tier in links:
        peers[a[0]][a[1]] = b
        peers[b[0]][b[1]] = a

    def node_id(dev: str) -> str:
        return f"{'S' if dev in fabric.switches else 'H'}-{guid[dev]:016x}"

    out = [
        "#",
        "# Topology file: generated on Tue Nov 24 09:12:44 2026",
        "#",
        f"# Initiated from node {guid[sm]:016x} port {guid[sm] + 1:016x}",
        "",
    ]
    for s, _nports in fabric.switches.items():
        g = guid[s]
        out += [
            "vendid=0x2c9",
            "devid=0xd2f2",
            f"sysimgguid=0x{g:x}",
            f"switchguid=0x{g:x}({g:x})",
            f'Switch\t{style.nports} "{node_id(s)}"\t\t# "{desc[s]}" enhanced port 0 '
            f"lid {lid[s]} lmc 0",
        ]
        for port in sorted(peers[s]):
            rdev, rport = peers[s][port]
            r = rates.get(frozenset(((s, port), (rdev, rport))), rate)
            pguid = f"({guid[rdev] + rport:x}) " if rdev in fabric.cas else ""
            out.append(
                f'[{port}]\t"{node_id(rdev)}"[{rport}]{pguid}\t\t# "{desc[rdev]}" '
                f"lid {lid[rdev]} {r}"
            )
        out.append("")
    for c in fabric.cas:
        g = guid[c]
        out += [
            "vendid=0x2c9",
            "devid=0x1021",
            f"sysimgguid=0x{g:x}",
            f"caguid=0x{g:x}",
            f'Ca\t1 "{node_id(c)}"\t\t# "{desc[c]}"',
        ]
        for port in sorted(peers[c]):
            rdev, rport = peers[c][port]
            r = rates.get(frozenset(((c, port), (rdev, rport))), rate)
            out.append(
                f'[{port}]({g + port:x}) \t"{node_id(rdev)}"[{rport}]\t\t# lid {lid[c]} lmc 0 '
                f'"{desc[rdev]}" lid {lid[rdev]} {r}'
            )
        out.append("")
    switches = list(fabric.switches)
    return RealFabric(
        text="\n".join(out),
        guid=guid,
        name_map="# site hostname -> design name\n"
        + "".join(f"{h} {d}\n" for d, h in style.hostnames.items()),
        guid_map_nnm="".join(f'0x{guid[s]:016x} "{s}"\n' for s in switches),
        guid_map_csv="".join(f"0x{guid[s]:x},{s}\n" for s in style.unmanaged),
    )
