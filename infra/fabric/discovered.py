"""Parser for ibnetdiscover's default output, built for a memphis-scale file (~300,000
links, ~75 MB) in well under a second.

Every link of a fat tree has a switch at one end at least, and ibnetdiscover lists each
switch's connected ports with the peer's node description and the active width/speed in
the trailing comment. So only switch records are parsed: the headers are found with
str.find (C speed) and each record's port lines with one compiled regex whose groups are
exactly the tuples the expected side builds. The regex has no `^` anchor: port lines
follow each other, so each match starts where the last ended and the engine never tries
a match in mid-line - comparing a switch is then one set
equality. HCA records are skipped without being looked at (their one port line repeats
what the switch line says). Direct HCA-to-HCA cables are therefore not seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from infra.errors import InputError

# [port] "peer node id"[peer port](peer port guid, HCAs only) ... # "peer desc" ... 4xNDR
PORT_LINE = re.compile(
    r'\[(\d+)\][^"\n]*"[^"\n]*"\[(\d+)\][^#\n]*#[ \t]*"([^"\n]*)"[^\n]*[ \t](\d+)x(\w+)[ \t]*\n'
)
SWITCH_DESC = re.compile(r'#\s*"([^"\n]*)"')
PortTuple = tuple[str, str, str, str, str]  # (port, peer port, peer desc, width, speed)


@dataclass
class Discovered:
    switches: dict[str, list[PortTuple]] = field(default_factory=dict)  # desc -> ports
    switch_ids: dict[str, str] = field(default_factory=dict)  # desc -> node id (S-<guid>)


def parse_discovered(text: str) -> Discovered:
    found = Discovered()
    findall = PORT_LINE.findall
    pos = 0 if text.startswith("Switch") else text.find("\nSwitch")
    while pos != -1:
        start = pos if pos == 0 and text.startswith("Switch") else pos + 1
        eol = text.find("\n", start)
        eol = len(text) if eol == -1 else eol
        header = text[start:eol]
        desc_match = SWITCH_DESC.search(header)
        quote = header.find('"')
        if desc_match is None or quote == -1:
            raise InputError([f"discovered topology: unreadable switch header: {header[:120]!r}"])
        desc = desc_match.group(1)
        node_id = header[quote + 1 : header.find('"', quote + 1)]
        end = text.find("\n\n", eol)
        if end == -1:  # last record: make sure its last line ends with a newline
            text += "\n"
            end = len(text) - 1
        if desc in found.switches:  # two switches answering to one name: keep both apart
            desc = f"{desc} (duplicate {node_id})"
        found.switches[desc] = findall(text, eol, end + 1)  # + the last line's newline
        found.switch_ids[desc] = node_id
        pos = text.find("\nSwitch", end)
    return found


def read_discovered(path: Path) -> Discovered:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError([f"--discovered {path}: {exc.strerror or exc}"]) from exc
    found = parse_discovered(text)
    if not found.switches:
        raise InputError(
            [f"--discovered {path}: no switch records (expected ibnetdiscover output)"]
        )
    return found


def guids_by_desc(text: str) -> dict[str, int]:
    """Node descriptions to node GUIDs, from `switchguid=`/`caguid=` lines and the record
    header that follows each: how a real fabric's burned-in GUIDs are learned."""
    guids: dict[str, int] = {}
    for match in re.finditer(
        r'^(?:switchguid|caguid)=0x([0-9a-fA-F]+)[^\n]*\n(?:Switch|Ca)\s[^\n]*#\s*"([^"\n]*)"',
        text,
        re.MULTILINE,
    ):
        guids[match.group(2)] = int(match.group(1), 16)
    return guids
