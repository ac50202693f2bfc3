"""P_Key tables read back from a fabric: does every compute HCA hold full membership of the
partition NCCL and IPoIB use, at the index they use (`opensm.COMPUTE_PKEY_INDEX`)?

The LIDs come from ibnetdiscover's HCA records, the tables from `smpquery pkeys <lid>`
(one per HCA port, LID-routed after OpenSM's sweep). Both are untrusted input, as in
`discovered.py`: every line is matched whole, numbers are range-checked, and anything
unexpected is refused with the source named.

smpquery prints the table 8 entries a line, each line led by the index of its first entry,
then the table's capacity:

       0: 0xffff 0x8002 0x0000 0x0000 0x0000 0x0000 0x0000 0x0000
       ...
    64 pkeys capacity for this port
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra import procs
from infra.errors import InputError
from infra.fabric.discovered import MAX_DESC
from infra.fabric.opensm import COMPUTE_PKEY_INDEX, DEFAULT_PARTITION
from infra.text import has_control, printable

FULL_MEMBER = 0x8000  # P_Key bit 15: full membership (clear: limited)
MAX_UNICAST_LID = 0xBFFF
MAX_PKEYS = 32768  # PortInfo/NodeInfo PartitionCap is 16-bit; 65535 blocks of 8 at most
_ROW = re.compile(r"[ \t]*(\d{1,5}):((?:[ \t]+0x[0-9a-fA-F]{4}){1,8})[ \t]*")
_CAP = re.compile(r"(\d{1,5}) pkeys capacity for this port")
# Ca\t1 "H-<guid>"\t\t# "<desc>"   then   [1](<port guid>) \t"S-<guid>"[p]\t\t# lid N lmc M ...
_CA = re.compile(r'Ca\t\d+ "H-([0-9a-f]{16})"\t\t# "([^"\n]*)"[^\n]*\n\[1\]\(([0-9a-f]{1,16})\)'
                 r'[^\n#]*#[ \t]*lid (\d+) lmc (\d)[ \t]')  # fmt: skip


def parse_pkey_table(text: str, source: str) -> list[int]:
    """The P_Keys of one port, by index, from smpquery's `pkeys` output."""
    table: list[int] = []
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InputError([f"{source}: empty P_Key table"])
    cap = _CAP.fullmatch(lines[-1].strip())
    if cap is None:
        raise InputError([f"{source}: no capacity line: {printable(lines[-1])[:80]!r}"])
    for n, line in enumerate(lines[:-1], 1):
        row = _ROW.fullmatch(line)
        if row is None or int(row.group(1)) != len(table):
            raise InputError([f"{source}: line {n} is not P_Key row {len(table)}: "
                              f"{printable(line)[:80]!r}"])  # fmt: skip
        table += [int(v, 16) for v in row.group(2).split()]
    capacity = int(cap.group(1))
    if not table or capacity > MAX_PKEYS or len(table) > max(capacity, 8) + 7:
        raise InputError([f"{source}: {len(table)} P_Keys for a capacity of {capacity}"])
    return table


def ca_lids(discovered: str, source: str = "ibnetdiscover") -> dict[str, int]:
    """HCA node description -> LID of its port 1, from ibnetdiscover's HCA records."""
    lids: dict[str, int] = {}
    for m in _CA.finditer(discovered):
        desc, lid = m.group(2), int(m.group(4))
        if len(desc) > MAX_DESC or has_control(desc):
            raise InputError([f"{source}: HCA {m.group(1)} has an invalid node description "
                              f"{printable(desc)[:80]!r}"])  # fmt: skip
        if not 0 < lid <= MAX_UNICAST_LID:
            raise InputError([f"{source}: HCA {printable(desc)!r} has LID {lid}"])
        if desc in lids:
            raise InputError([f"{source}: two HCAs describe themselves {printable(desc)!r}"])
        lids[desc] = lid
    return lids


@dataclass(frozen=True)
class HcaPkey:
    """What one compute HCA port holds at the index NCCL and IPoIB use."""

    hca: str  # node description, e.g. "hall1-su001-n01 mlx5_0"
    lid: int | None  # None: the HCA was not reached (not in the discovery)
    index: int = COMPUTE_PKEY_INDEX
    pkey: int | None = None  # the raw entry at `index`, full-member bit included
    error: str = ""

    @property
    def full(self) -> bool:
        return self.pkey is not None and bool(self.pkey & FULL_MEMBER)

    @property
    def membership(self) -> str:
        if self.pkey is None or self.pkey & 0x7FFF == 0:
            return "none"
        return "full" if self.full else "limited"

    @property
    def ok(self) -> bool:
        """Full member of the compute partition at the index used."""
        return (
            self.full and self.pkey is not None and self.pkey & 0x7FFF == DEFAULT_PARTITION.pkey_int
        )

    def to_json(self) -> dict:
        return {
            "hca": self.hca,
            "lid": self.lid,
            "index": self.index,
            "pkey": None if self.pkey is None else f"0x{self.pkey:04x}",
            "membership": self.membership,
            "ok": self.ok,
            "error": self.error,
        }


def check_table(hca: str, lid: int, text: str, index: int = COMPUTE_PKEY_INDEX) -> HcaPkey:
    try:
        table = parse_pkey_table(text, f"smpquery pkeys {lid} ({hca})")
    except InputError as exc:
        return HcaPkey(hca, lid, index, None, "; ".join(exc.problems))
    if index >= len(table):
        return HcaPkey(hca, lid, index, None, f"table has {len(table)} entries")
    return HcaPkey(hca, lid, index, table[index])


def read_pkeys(
    smpquery: str,
    hcas: list[str],
    discovered: str,
    env: dict,
    cwd: Path,
    timeout: float,
    pids: list[int],
) -> list[HcaPkey]:
    """Queries every HCA of `hcas` (node descriptions) that the discovery reached."""
    lids = ca_lids(discovered)
    out = []
    for hca in hcas:
        lid = lids.get(hca)
        if lid is None:
            out.append(HcaPkey(hca, None, error="not reached"))
            continue
        proc = subprocess.Popen(
            [smpquery, "pkeys", str(lid), "1"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        pids.append(proc.pid)
        try:
            text, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            text = ""
        finally:
            procs.stop_group(proc)
        if proc.returncode != 0:
            err = printable(text.strip().splitlines()[-1] if text.strip() else "no output")
            out.append(HcaPkey(hca, lid, error=f"smpquery exit {proc.returncode}: {err[:120]}"))
            continue
        out.append(check_table(hca, lid, text))
    return out
