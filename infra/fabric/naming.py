"""Node descriptions as real fabrics print them, resolved to the design's names.

A real fabric does not describe itself with the design's names:
- a managed NVIDIA switch sets its NodeDescription to `MF0;<hostname>:<model>/U<n>`
  (`MF0;leaf01:MQM9700/U1`); the hostname is the switch's, which may differ from the design
  name (a `--name-map` of `hostname design-name` lines then says which is which);
- an unmanaged switch carries a vendor string (`Quantum-2 Mellanox Technologies`,
  `Mellanox Technologies Aggregation Node`), the same on every such switch: only its GUID
  tells it apart, through a GUID map the site keeps (`--guid-map`: OpenSM's node-name-map,
  which `fabric render --guids-from` writes with the fabric's GUIDs, or `guid,name` CSV);
- an HCA is `<host> mlx5_<n>` (rdma-ndd's default `%h %d`) or, from older stacks,
  `<host> HCA-<n>` with n counted from 1 (`HCA-1` is mlx5_0).

`FabricNames` holds the two maps and resolves a description (and, for switches, the node
GUID) to the design's name. Names that resolve to nothing in the design stay as printed
and are reported as such. The map files are the site's own but still typed: every
malformed or repeated entry is refused naming file:line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from infra.errors import InputError

# MF0;<hostname>:<model>/U<unit>: NVIDIA's managed switch systems (MLNX-OS / Onyx, Quantum).
MANAGED = re.compile(r"MF0;([^:;\s]+):([^/\s]+)/U(\d+)")
HCA_OLD = re.compile(r"(\S+) HCA-(\d+)")  # `<host> HCA-<n>`, n from 1
HCA_LINUX = re.compile(r"(\S+) (mlx\d+_\d+)")  # `<host> mlx5_<n>`
_GUID = re.compile(r"(?:0x)?([0-9a-fA-F]{1,16})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # a hostname or design name


@dataclass
class FabricNames:
    """hostname -> design name (`--name-map`), node GUID -> design name (`--guid-map`)."""

    hosts: dict[str, str] = field(default_factory=dict)
    guids: dict[int, str] = field(default_factory=dict)
    _hca: dict[str, str] = field(default_factory=dict, repr=False)  # resolved HCA descs

    def switch(self, desc: str, guid: int) -> str:
        """The design name of a switch record: its GUID in the GUID map first (an
        unmanaged switch has nothing else), else the hostname of an `MF0;` description
        (or the description itself), through the name map."""
        name = self.guids.get(guid)
        if name is not None:
            return name
        m = MANAGED.fullmatch(desc)
        host = m.group(1) if m else desc
        return self.hosts.get(host, host)

    def hca(self, desc: str) -> str:
        """The design's `<node> mlx5_<n>` for an HCA description as printed."""
        name = self._hca.get(desc)
        if name is None:
            name = desc
            m = HCA_LINUX.fullmatch(desc)
            if m:
                name = f"{self.hosts.get(m.group(1), m.group(1))} {m.group(2)}"
            else:
                m = HCA_OLD.fullmatch(desc)
                if m and int(m.group(2)) >= 1:
                    host = self.hosts.get(m.group(1), m.group(1))
                    name = f"{host} mlx5_{int(m.group(2)) - 1}"
            self._hca[desc] = name
        return name

    def hca_as_printed(self, name: str) -> str:
        """The description a design HCA `<node> mlx5_<n>` prints when its host is renamed
        by the name map (the host's own name); `name` itself otherwise."""
        host, sep, dev = name.rpartition(" ")
        printed = self.host_of.get(host) if sep else None
        return f"{printed} {dev}" if printed else name

    @property
    def host_of(self) -> dict[str, str]:
        """design name -> hostname, for the renamed ones."""
        rev = self.__dict__.get("_host_of")
        if rev is None:
            rev = self.__dict__["_host_of"] = {d: h for h, d in self.hosts.items() if h != d}
        return rev


def read_name_map(path: Path) -> dict[str, str]:
    """`hostname design-name` lines (whitespace-separated; `#` comments, blank lines)."""
    source = f"--name-map {path}"
    out: dict[str, str] = {}
    bad: list[str] = []
    for n, line in enumerate(_lines(path, source), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2 or not all(_NAME.fullmatch(f) for f in fields):
            bad.append(f"{source}:{n}: expected `hostname design-name`, got {line.strip()[:80]!r}")
        elif fields[0] in out:
            bad.append(f"{source}:{n}: hostname {fields[0]!r} mapped twice")
        else:
            out[fields[0]] = fields[1]
    if bad:
        raise InputError(bad[:50])
    return out


def read_guid_map(path: Path) -> dict[int, str]:
    """Node GUID -> design name, from OpenSM's node-name-map format (`0x<guid> "name"`,
    what `fabric render` writes) or `guid,name` CSV lines; `#` comments, blank lines."""
    source = f"--guid-map {path}"
    out: dict[int, str] = {}
    bad: list[str] = []
    for n, line in enumerate(_lines(path, source), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if "," in text:
            guid, _, name = (f.strip() for f in text.partition(","))
        else:
            guid, _, name = text.partition(" ")
            name = name.strip()
            if len(name) >= 2 and name[0] == name[-1] == '"':
                name = name[1:-1]
        m = _GUID.fullmatch(guid)
        if m is None or int(m.group(1), 16) == 0 or not _NAME.fullmatch(name):
            bad.append(
                f'{source}:{n}: expected `0x<guid> "name"` or `guid,name`, got {text[:80]!r}'
            )
            continue
        value = int(m.group(1), 16)
        if value in out:
            bad.append(f"{source}:{n}: GUID 0x{value:016x} mapped twice")
        out[value] = name
    if bad:
        raise InputError(bad[:50])
    return out


def _lines(path: Path, source: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError([f"{source}: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError:
        raise InputError([f"{source}: not UTF-8 text"]) from None
