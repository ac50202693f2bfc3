"""Writes a plane as an ibnetdiscover-format topology: the fabric as designed, which is
also the input ibsim reads (ibsim takes ibnetdiscover output as its network file, and its
`switchguid=`/`caguid=` lines set the GUIDs it hands out, so the simulated fabric carries
the GUID plan).

Node IDs follow ibnetdiscover ("S-<guid>", "H-<guid>"); node descriptions are the design's
names. Per-port ibsim options (e.g. "w=1" for a 1x link) end their line: ibsim 0.10 ignores an
option that a comment follows (found by experiment), and comments are only for people.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.fabric.guids import ca_guid, port_guid, switch_guid
from infra.fabric.plane import End, PlaneFabric

SWITCH_DEVID = 0xD2F2  # Quantum-2 (QM9700/QM9790)
CA_DEVID = 0x1021  # ConnectX-7
MELLANOX_VENDID = 0x2C9


def _node_id(device: str, fabric: PlaneFabric) -> str:
    if device in fabric.switches:
        return f"S-{switch_guid(device):016x}"
    return f"H-{ca_guid(device):016x}"


def write_topology(
    fabric: PlaneFabric,
    links: Iterable[tuple[End, End, str]] | None = None,
    port_opts: dict[End, str] | None = None,
    rate: str = "4xNDR",
    title: str = "",
) -> str:
    """The topology text. `links` defaults to the designed cables; fault injection passes
    its own list (and `port_opts`) to describe the fabric as miswired."""
    links = fabric.links if links is None else links
    port_opts = port_opts or {}
    peers: dict[str, dict[int, End]] = {name: {} for name in fabric.switches}
    peers.update({desc: {} for desc in fabric.cas})
    for a, b, _tier in links:
        peers[a[0]][a[1]] = b
        peers[b[0]][b[1]] = a

    out: list[str] = ["#", f"# Topology file: {title or 'plane ' + fabric.name}", "#", ""]
    for name, nports in fabric.switches.items():
        guid = switch_guid(name)
        out += [
            f"vendid=0x{MELLANOX_VENDID:x}",
            f"devid=0x{SWITCH_DEVID:x}",
            f"sysimgguid=0x{guid:x}",
            f"switchguid=0x{guid:x}({guid:x})",
            f'Switch\t{nports} "S-{guid:016x}"\t\t# "{name}" enhanced port 0 lid 0 lmc 0',
        ]
        for port in sorted(peers[name]):
            rdev, rport = peers[name][port]
            rid = _node_id(rdev, fabric)
            rguid = "" if rid[0] == "S" else f"({port_guid(ca_guid(rdev), rport):x})"
            line = f'[{port}]\t"{rid}"[{rport}]{rguid}'
            opts = port_opts.get((name, port))
            out.append(f"{line}\t{opts}" if opts else f'{line}\t\t# "{rdev}" lid 0 {rate}')
        out.append("")
    for desc in fabric.cas:
        guid = ca_guid(desc)
        out += [
            f"vendid=0x{MELLANOX_VENDID:x}",
            f"devid=0x{CA_DEVID:x}",
            f"sysimgguid=0x{guid:x}",
            f"caguid=0x{guid:x}",
            f'Ca\t1 "H-{guid:016x}"\t\t# "{desc}"',
        ]
        for port in sorted(peers[desc]):
            rdev, rport = peers[desc][port]
            line = f'[{port}]({port_guid(guid, port):x}) \t"{_node_id(rdev, fabric)}"[{rport}]'
            opts = port_opts.get((desc, port))
            out.append(f"{line}\t{opts}" if opts else f'{line}\t\t# lid 0 lmc 0 "{rdev}" {rate}')
        out.append("")
    return "\n".join(out)
