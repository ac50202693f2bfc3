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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from infra.errors import InputError
from infra.fabric.naming import FabricNames
from infra.text import has_control, printable

# [port] "peer node id"[peer port](peer port guid, HCAs only) ... # "peer desc" ... 4xNDR
PORT_LINE = re.compile(
    r'\[(\d+)\][^"\n]*"([^"\n]*)"\[(\d+)\][^#\n]*#[ \t]*"([^"\n]*)"[^\n]*[ \t](\d+)x(\w+)[ \t]*\n'
)
PortTuple = tuple[str, str, str, str, str]  # (port, peer port, peer name, width, speed)
RawPort = tuple[str, str, str, str, str, str]  # (port, peer id, peer port, peer desc, w, s)
DEFAULT_SOURCE = "discovered topology"
# IBA NodeDescription is 64 bytes; ibnetdiscover prints at most 63 printable characters.
MAX_DESC = 64

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

    def __init__(
        self,
        width: str,
        speed: str,
        descs: Iterable[str],
        printed: Mapping[str, str | None] | None = None,
    ):
        """`printed`: for a design name that the file prints otherwise (`MF0;host:...`,
        a renamed host's HCA), what it prints; None where that says nothing (a vendor
        string several switches share): those switches' neighbours are parsed."""
        self.line_end = f" {width}x{speed}\n"
        descs = list(descs)
        if printed:
            shown = [printed.get(d, d) for d in descs]
            descs = [d for d, s in zip(descs, shown, strict=True) if s is not None]
            shown = [s for s in shown if s is not None]
        else:
            shown = descs
        # A description holding a quote or '#' would need the regex: leave it out.
        joined = "".join(shown)
        if '"' in joined or "#" in joined or "\n" in joined:
            pairs = [(d, s) for d, s in zip(descs, shown, strict=True)]
            pairs = [(d, s) for d, s in pairs if not ('"' in s or "#" in s or "\n" in s)]
            descs, shown = [d for d, _ in pairs], [s for _, s in pairs]
        self.desc_at = {d: f'# "{s}"' for d, s in zip(descs, shown, strict=True)}
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
    """Switch records keyed by the design name each resolves to (`FabricNames`: an `MF0;`
    description's hostname through the name map, a GUID in the GUID map); a switch that
    resolves to nothing in the design keeps the name it printed."""

    text: str = ""  # the whole file, newline-terminated
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> port lines
    switch_ids: dict[str, str] = field(default_factory=dict)  # name -> node id (S-<guid>)
    source: str = DEFAULT_SOURCE  # what problems name: the file (or the tool) it came from
    names: FabricNames = field(default_factory=FabricNames)
    printed: dict[str, str] = field(default_factory=dict)  # name -> description, if differs
    shared: set[str] = field(default_factory=set)  # descriptions several switches print
    id_names: dict[str, str] = field(default_factory=dict)  # node id -> name
    headers: dict[str, int] = field(default_factory=dict)  # name -> header line offset
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
            raw = PORT_LINE.findall(self.text, span[0], span[1] + 1) if span else []
            if span and not _ports_sound(self.text, span, raw):
                raise InputError(_port_problems(self.text, span, self.source))
            peer = self._peer
            self._parsed[desc] = [(p, rp, peer(i, d), w, s) for p, i, rp, d, w, s in raw]
        return self._parsed[desc]

    def _peer(self, node_id: str, desc: str) -> str:
        """A peer's design name: a switch is known by its own record in this file (an
        unmanaged one prints only a vendor string), an HCA by its description."""
        if node_id[:2] in ("S-", "s-"):
            name = self.id_names.get("S-" + node_id[2:].lower())
            if name is not None:
                return name
            return self.names.switch(desc, -1)
        return self.names.hca(desc)

    def printed_names(self, hcas: Iterable[str]) -> dict[str, str | None]:
        """Design name -> the description this file prints for it, where that differs:
        a switch's `MF0;host:model/U1` (None for a vendor string several switches share,
        which proves nothing), an HCA whose host the name map renames. Looked up once per
        name here, so the fast check's lines are built with these descriptions and no
        port line is translated later."""
        out: dict[str, str | None] = {
            name: None if raw in self.shared else raw for name, raw in self.printed.items()
        }
        if self.names.host_of:
            as_printed = self.names.hca_as_printed
            for d in hcas:
                p = as_printed(d)
                if p != d:
                    out[d] = p
        return out

    def check_translation(self) -> dict[str, str | None] | None:
        """The fast check's `# "<name>"` -> `# "<printed>"` for switches printing another
        description (None: a shared vendor string, which proves nothing); None if none.
        For checks built from the design alone: one lookup per port line, where checks
        built with `printed_names` need none."""
        if not self.printed:
            return None
        return {
            f'# "{name}"': None if raw in self.shared else f'# "{raw}"'
            for name, raw in self.printed.items()
        }

    def line_of(self, name: str) -> int:
        """The line number of a switch's record header."""
        return self.text.count("\n", 0, self.headers.get(name, 0)) + 1

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


def parse_discovered(
    text: str, source: str = DEFAULT_SOURCE, names: FabricNames | None = None
) -> Discovered:
    """The switch records of ibnetdiscover output `text` (see the module docstring);
    InputError naming `source`:line for every malformed switch header and every switch
    description or GUID seen twice.

    HCA records are not read here, so not checked (a full pass over ~100,000 of them costs
    ~130 ms at memphis scale, past the 1 s target). No trust is lost: validation reads the
    cabling only from switch records, and an HCA that takes a switch's description cannot
    hide a link, since the real switch's own record (or its absence) still decides. Where
    HCA records are used, for their GUIDs (`node_guids`), every record is checked."""
    if not text.endswith("\n"):
        text += "\n"  # the last port line must end with a newline, as every other one
    names = names or FabricNames()
    found = Discovered(text, source=source, names=names)
    sound = True  # every switch header parsed, no duplicate: else the full scan says why
    ids: set[str] = set()
    seen: set[str] = set()  # descriptions as printed
    pos = 0 if text.startswith("Switch") else text.find("\nSwitch")
    while pos != -1:
        start = pos if pos == 0 and text.startswith("Switch") else pos + 1
        eol = text.find("\n", start)
        end = text.find("\n\n", eol)
        if end == -1:  # last record: it ends at the final newline
            end = len(text) - 1
        pos = text.find("\nSwitch", end)
        record = parse_header(text[start:eol])
        if isinstance(record, str) or record[1] in ids:
            sound = False
            continue
        _, node_id, desc = record
        name = names.switch(desc, int(node_id[2:], 16))
        if name in found.spans:
            sound = False
            continue
        ids.add(node_id)
        if desc in seen:
            found.shared.add(desc)
        seen.add(desc)
        if name != desc:
            found.printed[name] = desc
        found.spans[name] = (eol + 1, end)  # port lines, without the last one's newline
        found.switch_ids[name] = node_id
        found.id_names[node_id] = name
        found.headers[name] = start
    if not sound:
        _, bad = _scan_records(text, source, names)
        raise InputError(_at_lines(text, bad, source) or [f"{source}: malformed records"])
    return found


def read_discovered(path: Path, names: FabricNames | None = None) -> Discovered:
    source = f"--discovered {path}"
    text = read_untrusted(path, source)
    found = parse_discovered(text, source, names)
    if not found.spans:
        raise InputError([f"{source}: no switch records (expected ibnetdiscover output)"])
    return found


def read_untrusted(path: Path, source: str) -> str:
    """The file as text: UTF-8 or refused (naming the line of the first bad byte), CR LF
    and lone CR made newlines as read_text's universal newlines would."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([f"{source}: {exc.strerror or exc}"]) from exc
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            [f"{source}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}): not ibnetdiscover output"]
        ) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


# --- record headers: typed and checked ---------------------------------------------------

NODE_ID_PREFIX = {"Switch": "S", "Ca": "H", "Rt": "R"}  # record type -> node id's letter
_HEADER_LINE = re.compile(
    r'(Switch|Ca|Rt)\t(\d{1,3}) "([A-Za-z])-([0-9a-fA-F]*)"[ \t]+#[ \t]*"([^"\n]*)"'
)
_CLIP = 80  # characters of a hostile value quoted in a message
Header = tuple[str, str, str]  # (record type, node id "S-<16 hex>", description)


def parse_header(line: str) -> Header | str:
    """A record header line typed and checked, or the problem with it (one line)."""
    m = _HEADER_LINE.match(line)
    if m is None:
        return f"malformed record header: {clip(line)}"
    kind, _nports, letter, digits, desc = m.groups()
    node_id = f"{letter}-{digits}"
    if letter != NODE_ID_PREFIX[kind]:
        return (
            f"a {kind} record with node id {node_id!r} (a {kind} id starts {NODE_ID_PREFIX[kind]}-)"
        )
    if len(digits) != 16 or int(digits, 16) == 0:
        return f"node id {clip(node_id)}: a GUID is 16 hex digits, not zero"
    if len(desc) > MAX_DESC:
        return f"node description of {len(desc)} characters (at most {MAX_DESC}): {clip(desc)}"
    if has_control(desc):
        return f"node description holds control characters: {clip(desc)}"
    return kind, f"{letter}-{digits.lower()}", desc


def clip(value: str) -> str:
    """A hostile value for a message: quoted with repr (which escapes every control and
    other non-printable character) and cut: a 10 MB description is not shown."""
    more = f"... ({len(value)} characters)" if len(value) > _CLIP else ""
    return printable(repr(value[:_CLIP])) + more


def _duplicate(what: str, key: str, text: str, first_at: int, source: str) -> str:
    line = text.count("\n", 0, first_at) + 1
    first = text[first_at : text.find("\n", first_at)]
    return f"duplicate node {what} {clip(key)}: also at {source}:{line} ({clip(first)})"


def _at_lines(text: str, bad: list[tuple[int, str]], source: str) -> list[str]:
    """Each (offset, problem) as `source:line: problem`, lines counted in one pass."""
    out, line, last = [], 1, 0
    for offset, problem in sorted(bad, key=lambda b: b[0]):
        line += text.count("\n", last, offset)
        last = offset
        out.append(f"{source}:{line}: {problem}")
    return out


# --- port lines of a parsed switch ---------------------------------------------------------


def _ports_sound(text: str, span: tuple[int, int], ports: list[RawPort]) -> bool:
    """Every line of the record parsed (count agrees), no description too long or holding
    control characters. Cheap: only switches the fast check did not pass get here."""
    if span[0] > span[1]:  # a switch record with no port lines
        return not ports
    if text.count("\n", span[0], span[1]) + 1 != len(ports):
        return False
    descs = [p[3] for p in ports]
    return not descs or (max(map(len, descs)) <= MAX_DESC and not has_control("".join(descs)))


def _port_problems(text: str, span: tuple[int, int], source: str) -> list[str]:
    """file:line for each port line of a switch record that is not a sound one."""
    first_line = text.count("\n", 0, span[0]) + 1
    problems = []
    for i, line in enumerate(text[span[0] : span[1]].split("\n")):
        m = PORT_LINE.fullmatch(line + "\n")
        if m is None:
            problem = f"malformed port line: {clip(line)}"
        elif len(m.group(4)) > MAX_DESC or has_control(m.group(4)):
            problem = f"peer node description not allowed: {clip(m.group(4))}"
        else:
            continue
        problems.append(f"{source}:{first_line + i}: {problem}")
    return problems or [f"{source}:{first_line}: switch record does not parse"]


# --- every record's GUID, typed: `fabric render --guids-from` ---------------------------


@dataclass
class NodeGuids(Mapping[str, int]):
    """Node GUIDs by description, kept apart by type: a switch GUID comes only from a
    Switch record, an HCA's only from a Ca record. Also a read-only mapping over both
    (descriptions are unique across types, `read_node_guids` refuses any other file)."""

    switches: dict[str, int] = field(default_factory=dict)
    cas: dict[str, int] = field(default_factory=dict)
    source: str = DEFAULT_SOURCE

    def __getitem__(self, desc: str) -> int:
        return self.switches[desc] if desc in self.switches else self.cas[desc]

    def __iter__(self) -> Iterator[str]:
        yield from self.switches
        yield from self.cas

    def __len__(self) -> int:
        return len(self.switches) + len(self.cas)


_RECORD_LINE = re.compile(r"^(?:Switch|Ca|Rt)[^\n]*", re.MULTILINE)  # as strict as the fast path
_GUID_LINE = re.compile(r"^(switchguid|caguid)=([^\n(\t ]*)[^\n]*\n([^\n]*)", re.MULTILINE)
_GUID_VALUE = re.compile(r"0x[0-9a-fA-F]{1,16}")  # ibnetdiscover: 0x%llx, not zero-padded


def node_guids(text: str, source: str = DEFAULT_SOURCE) -> NodeGuids:
    """Every record's node GUID by type and description; InputError naming `source`:line
    for every malformed header, every `switchguid=`/`caguid=` line that is malformed or
    disagrees with its record, and every duplicate description or GUID (both entries)."""
    guids, bad = _scan_records(text, source)
    bad += _guid_line_problems(text)
    if bad:
        raise InputError(_at_lines(text, bad, source))
    return guids


def _scan_records(
    text: str, source: str, names: FabricNames | None = None
) -> tuple[NodeGuids, list[tuple[int, str]]]:
    """Every record header, typed and checked, and each problem at its offset. With
    `names`, a switch is keyed by the design name it resolves to (two unmanaged switches
    printing one vendor string are two switches when the GUID map names them)."""
    guids = NodeGuids(source=source)
    bad: list[tuple[int, str]] = []
    by_desc: dict[str, int] = {}
    by_guid: dict[str, int] = {}
    for m in _RECORD_LINE.finditer(text):
        record = parse_header(m.group())
        if isinstance(record, str):
            bad.append((m.start(), record))
            continue
        kind, node_id, desc = record
        key_desc = desc
        if names is not None and kind == "Switch":
            key_desc = names.switch(desc, int(node_id[2:], 16))
        # a GUID names one node whatever its type: compare without the S-/H- letter
        pairs = ((by_desc, key_desc, "description"), (by_guid, node_id[2:], "GUID"))
        for seen, key, what in pairs:
            if key in seen:
                problem = _duplicate(what, key, text, seen[key], source)
                if what == "description" and key != desc:
                    problem += f" (this record prints {clip(desc)})"
                elif what == "description" and names is not None and " " in desc:
                    problem += (
                        "; unmanaged switches print one vendor string: "
                        "name each by GUID with --guid-map"
                    )
                bad.append((m.start(), problem))
            seen.setdefault(key, m.start())
        table = guids.switches if kind == "Switch" else guids.cas if kind == "Ca" else None
        if table is not None:
            table.setdefault(desc, int(node_id[2:], 16))
    return guids, bad


def _guid_line_problems(text: str) -> list[tuple[int, str]]:
    """`switchguid=0x..`/`caguid=0x..` lines: the syntax, and the record header that must
    follow with the same GUID (a file whose two GUIDs for one node differ is not trusted)."""
    bad = []
    for m in _GUID_LINE.finditer(text):
        name, value, header = m.groups()
        if not _GUID_VALUE.fullmatch(value) or int(value, 16) == 0:
            bad.append((m.start(), f"{name}: {clip(value)} is not a GUID (0x and 1-16 hex digits)"))
            continue
        kind = "Switch" if name == "switchguid" else "Ca"
        record = parse_header(header)
        if isinstance(record, str) and header.startswith(kind):
            continue  # the header's own problem is reported on its line
        if isinstance(record, str) or record[0] != kind:
            bad.append((m.start(), f"{name}= is not followed by a {kind} record header"))
        elif int(record[1][2:], 16) != int(value, 16):
            bad.append((m.start(), f"{name}={value} but the record's node id is {record[1]}"))
    return bad


def read_node_guids(path: Path, source: str | None = None) -> NodeGuids:
    source = source or f"--guids-from {path}"
    guids = node_guids(read_untrusted(path, source), source)
    if not guids:
        raise InputError([f"{source}: no Switch or Ca records (expected ibnetdiscover output)"])
    return guids


def guids_by_desc(text: str) -> NodeGuids:
    """Node descriptions to node GUIDs (typed: see `NodeGuids`), from the record headers
    and the `switchguid=`/`caguid=` lines: how a real fabric's burned-in GUIDs are learned."""
    return node_guids(text)
