"""P_Key tables read back per compute HCA: the parser (untrusted input) and, under ibsim,
the dev plane's compute HCAs full members of the default partition at index 0, the index
NCCL (no NCCL_IB_PKEY) and the IPoIB parent interfaces use."""

from __future__ import annotations

import json
import os
import re

import pytest

from infra.cli import main
from infra.errors import InputError
from infra.fabric import sim
from infra.fabric.pkeys import ca_lids, check_table, parse_pkey_table
from infra.fabric.plane import plane_fabric

from .conftest import PROJECT_DIR


def _table(entries: list[str], capacity: int) -> str:
    """What smpquery prints (infiniband-diags 44): rows of 8 led by '%4d:', then capacity."""
    rows = [
        f"{i:4d}:" + "".join(f" {e}" for e in entries[i : i + 8]) for i in range(0, capacity, 8)
    ]
    return "\n".join(rows) + f"\n{capacity} pkeys capacity for this port\n"


# A ConnectX-7 port (128 entries) with the default partition full and storage full.
CX7 = _table(["0xffff", "0x8002"] + ["0x0000"] * 126, 128)


def test_table_is_parsed_by_index():
    table = parse_pkey_table(CX7, "cx7")
    assert len(table) == 128 and table[:3] == [0xFFFF, 0x8002, 0]
    full = check_table("n01 mlx5_0", 5, CX7)
    assert (full.ok, full.membership, full.pkey) == (True, "full", 0xFFFF)
    limited = check_table("n01 mlx5_0", 5, _table(["0x7fff"] + ["0x0000"] * 63, 64))
    assert (limited.ok, limited.membership) == (False, "limited")
    other = check_table("n01 mlx5_0", 5, _table(["0x8002"] + ["0x0000"] * 63, 64))
    assert (other.ok, other.membership) == (False, "full")  # full, but not the default P_Key
    empty = check_table("n01 mlx5_0", 5, _table(["0x0000"] * 64, 64))
    assert (empty.ok, empty.membership) == (False, "none")


@pytest.mark.parametrize(
    "text",
    [
        "",
        CX7.replace(" pkeys capacity", " keys capacity"),  # no capacity line
        CX7.replace("   8:", "   9:"),  # row out of order
        CX7.replace("0x8002", "0x80021"),  # not a 16-bit P_Key
        CX7.replace("0x8002", "0x80\x1b2"),  # control character
        CX7.replace("128 pkeys", "99999 pkeys"),  # impossible capacity
        _table(["0xffff"] * 64, 64).replace("64 pkeys", "8 pkeys"),  # more rows than capacity
    ],
)
def test_malformed_tables_are_refused(text):
    with pytest.raises(InputError):
        parse_pkey_table(text, "hostile")
    assert check_table("h", 1, text).ok is False


CA = (
    'Ca\t1 "H-5a50fe34d7fab490"\t\t# "{desc}"\n'
    '[1](5a50fe34d7fab491) \t"S-5c653e7c65846e40"[32]\t\t# lid {lid} lmc 0 '
    '"p0-leaf-su001-r7" lid 54 4xNDR\n\n'
)


def test_hca_lids_come_from_the_ca_records():
    text = CA.format(desc="n32 mlx5_7", lid=165) + CA.format(desc="n31 mlx5_7", lid=5)
    assert ca_lids(text) == {"n32 mlx5_7": 165, "n31 mlx5_7": 5}
    for bad in (
        CA.format(desc="n32 mlx5_7", lid=0),
        CA.format(desc="n32 mlx5_7", lid=0xC000),  # a multicast LID
        CA.format(desc="n32\x1b[2J", lid=5),
        CA.format(desc="x" * 65, lid=5),
        CA.format(desc="n32 mlx5_7", lid=5) * 2,  # one description twice
    ):
        with pytest.raises(InputError):
            ca_lids(bad)


@pytest.mark.integration
def test_dev_plane_compute_hcas_are_full_members_at_index_0(dev_design):
    r = sim.simulate_plane(dev_design, "p0", qos=False)
    compute = plane_fabric(dev_design, "p0").compute
    assert [p.hca for p in r.pkeys] == list(compute) and len(compute) == 256
    assert all(p.lid is not None and p.index == 0 for p in r.pkeys)
    assert {p.pkey for p in r.pkeys} == {0xFFFF}  # 0x7fff with the full-member bit
    assert r.pkeys_ok and r.ok
    assert sim.leftover_processes(r.sockname) == []
    for pid in r.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.integration
def test_limited_members_fail_the_simulation(dev_design, monkeypatch, capsys):
    """The partitions as they were (compute HCAs limited in the default partition): the
    read-back sees it and `fabric simulate` exits 1."""
    render = sim.render_plane

    def limited(*args, **kwargs):
        files = render(*args, **kwargs)
        files["partitions.conf"] = re.sub(r"(0x[0-9a-f]{16})=full", r"\1", files["partitions.conf"])
        return files

    monkeypatch.setattr(sim, "render_plane", limited)
    argv = ["fabric", "simulate", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]
    assert main([*argv, "--json"]) == 1
    (plane,) = json.loads(capsys.readouterr().out)["planes"]
    assert plane["subnet_up"] and plane["ftree"] and plane["faults_found"]
    assert not plane["pkeys_ok"] and not plane["ok"]
    bad = [p for p in plane["pkeys"] if not p["ok"]]
    # Every one, the SM's own HCA too (the dev plane has no UFM): its GUID listed without
    # =full after SELF=full makes it limited (OpenSM's later entry overwrites).
    assert len(bad) == 256
    assert {(p["pkey"], p["membership"]) for p in bad} == {("0x7fff", "limited")}
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "P_Key index 0 (NCCL, IPoIB): 0/256 compute HCAs full members (none); FAILED" in out
    assert "index 0 holds 0x7fff, limited" in out
