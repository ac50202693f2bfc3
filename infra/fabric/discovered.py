"""Parser for ibnetdiscover's default output, built for a memphis-scale file (~300,000
links, ~60 MB) in well under a second.

Every link of a fat tree has a switch at one end at least, and ibnetdiscover lists each
switch's connected ports with the peer's node description and the active width/speed in
the trailing comment. So only switch records are looked at: the headers are found with
str.find (C speed) and each record's port lines are kept as a span of the text, parsed
only when asked for (`ports`, `switches`). HCA records are skipped without being looked at
(their one port line repeats what the switch line says). Direct HCA-to-HCA cables are
therefore not seen.

Parsing a port line is one regex whose groups are exactly the tuples the expected side
builds. The regex has no `^` anchor: port lines follow each other, so each match starts
where the last ended and the engine never tries a match in mid-line. At 500,000 lines that
regex (and the five strings and a tuple it makes per line) is most of the cost, so a switch
is first checked against what the design says it should hold (`matches`): its lines are
split once (one string per line, nothing else is built) and every check is a C-level str
method mapped over them. A switch passes only if the regex would have returned exactly the
expected tuples; the few that do not are parsed. A real fabric's lids and GUIDs differ from
the design's and pass: the checks never look at them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from infra.errors import InputError

# [port] "peer node id"[peer port](peer port guid, HCAs only) ... # "peer desc" ... 4xNDR
PORT_LINE = re.compile(
    r'\[(\d+)\][^"\n]*"[^"\n]*"\[(\d+)\][^#\n]*#[ \t]*"([^"\n]*)"[^\n]*[ \t](\d+)x(\w+)[ \t]*\n'
)
SWITCH_DESC = re.compile(r'#\s*"([^"\n]*)"')
PortTuple = tuple[str, str, str, str, str]  # (port, peer port, peer desc, width, speed)

# ibnetdiscover prints a peer's node id as "S-%016llx" / "H-%016llx": 18 characters, so the
# peer port always sits at a fixed offset from the line start.
NODE_ID_LEN = 18
_PORTS = [str(p) for p in range(257)]  # IB port numbers are 8-bit
_HEAD = {p: f'[{p}]\t"' for p in _PORTS}  # line start up to the node id's opening quote
_PEER_AT = {p: len(p) + 4 + NODE_ID_LEN for p in _PORTS}  # offset of the id's closing quote
_PEER_PORT = {p: f'"[{p}]' for p in _PORTS}


@dataclass
class LineChecks:
    """What each port line of one switch must hold, in port order (see `CheckBuilder`)."""

    heads: list[str]  # '[<port>]\t"'  at the line start
    peer_at: list[int]  # where the peer node id's closing quote is
    peer_ports: list[str]  # '"[<peer port>]' there
    descs: list[str]  # '# "<peer desc>"' after it
    line_end: str  # ' <width>x<speed>\n' ends every line


class CheckBuilder:
    """Builds the `LineChecks` of the switches of one design, all expected at one rate.
    Nothing is formatted per line: the port columns repeat from switch to switch (so their
    lists are shared) and each peer description is formatted once, up front."""

    def __init__(self, width: str, speed: str, descs: Iterable[str]):
        self.line_end = f" {width}x{speed}\n"
        # A description holding a quote or '#' would need the regex: leave it out.
        descs = list(descs)
        joined = "".join(descs)
        if '"' in joined or "#" in joined or "\n" in joined:
            descs = [d for d in descs if not ('"' in d or "#" in d or "\n" in d)]
        self.desc_at = {d: f'# "{d}"' for d in descs}
        self._ports: dict[tuple[str, ...], tuple[list[str], list[int]]] = {}
        self._peer_ports: dict[tuple[str, ...], list[str]] = {}

    def __call__(self, ports: list[PortTuple]) -> LineChecks | None:
        """The checks for a switch expected to hold `ports` (every one at this builder's
        rate), or None where they cannot decide (the switch is then parsed)."""
        if not ports:
            return None
        try:
            descs = list(map(self.desc_at.__getitem__, map(itemgetter(2), ports)))
            key = tuple(map(itemgetter(0), ports))
            at = self._ports.get(key)
            if at is None:
                heads = list(map(_HEAD.__getitem__, key))
                at = self._ports[key] = (heads, list(map(_PEER_AT.__getitem__, key)))
            key = tuple(map(itemgetter(1), ports))
            peer_ports = self._peer_ports.get(key)
            if peer_ports is None:
                peer_ports = self._peer_ports[key] = list(map(_PEER_PORT.__getitem__, key))
        except KeyError:  # a description left out, or a port number outside 0..256
            return None
        return LineChecks(at[0], at[1], peer_ports, descs, self.line_end)


@dataclass
class Discovered:
    text: str = ""  # the whole file, newline-terminated
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # desc -> port lines
    switch_ids: dict[str, str] = field(default_factory=dict)  # desc -> node id (S-<guid>)
    _parsed: dict[str, list[PortTuple]] = field(default_factory=dict, repr=False)

    @property
    def switches(self) -> dict[str, list[PortTuple]]:
        """Every switch's port tuples, in port order (parses every record)."""
        return {desc: self.ports(desc) for desc in self.spans}

    def ports(self, desc: str) -> list[PortTuple]:
        """One switch's port tuples, in port order; [] for a switch not in the file."""
        if desc not in self._parsed:
            span = self.spans.get(desc)
            # + 1: the last port line's newline, which the regex ends on
            self._parsed[desc] = PORT_LINE.findall(self.text, span[0], span[1] + 1) if span else []
        return self._parsed[desc]

    def matches(self, desc: str, checks: LineChecks) -> bool:
        """True only if parsing this switch's record would give exactly the tuples
        `checks` was built from, in that order. Every line must be
        `[port]\\t"<18-char id>"[peer port]...# "<peer desc>"... <rate>` with no other
        quote or '#': then the regex's groups are the expected ones."""
        span = self.spans.get(desc)
        if span is None:
            return False
        start, end = span
        text, n = self.text, len(checks.heads)
        if start >= end:
            return False
        lines = text[start:end].split("\n")
        # Each line's checks locate 4 quotes (end of head, peer_at, around the description)
        # and 1 '#'; the counts leave no others, so the regex's node id, peer port and
        # description groups land exactly there, and its width/speed on the line end.
        return (
            len(lines) == n
            and text.count('"', start, end) == 4 * n
            and text.count("#", start, end) == n
            and text.count(checks.line_end, start, end + 1) == n
            and all(map(str.startswith, lines, checks.heads))
            and all(map(str.startswith, lines, checks.peer_ports, checks.peer_at))
            and all(map(str.count, lines, checks.descs, checks.peer_at))
        )


def parse_discovered(text: str) -> Discovered:
    if not text.endswith("\n"):
        text += "\n"  # the last port line must end with a newline, as every other one
    found = Discovered(text)
    pos = 0 if text.startswith("Switch") else text.find("\nSwitch")
    while pos != -1:
        start = pos if pos == 0 and text.startswith("Switch") else pos + 1
        eol = text.find("\n", start)
        header = text[start:eol]
        desc_match = SWITCH_DESC.search(header)
        quote = header.find('"')
        if desc_match is None or quote == -1:
            raise InputError([f"discovered topology: unreadable switch header: {header[:120]!r}"])
        desc = desc_match.group(1)
        node_id = header[quote + 1 : header.find('"', quote + 1)]
        end = text.find("\n\n", eol)
        if end == -1:  # last record: it ends at the final newline
            end = len(text) - 1
        if desc in found.spans:  # two switches answering to one name: keep both apart
            desc = f"{desc} (duplicate {node_id})"
        found.spans[desc] = (eol + 1, end)  # port lines, without the last one's newline
        found.switch_ids[desc] = node_id
        pos = text.find("\nSwitch", end)
    return found


def read_discovered(path: Path) -> Discovered:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([f"--discovered {path}: {exc.strerror or exc}"]) from exc
    text = data.decode(errors="replace")
    if "\r" in text:  # what read_text's universal newlines would do
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    found = parse_discovered(text)
    if not found.spans:
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
