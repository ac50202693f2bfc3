"""Cabling validation on ibnetdiscover-format text: exact findings, physical places, CLI
exit codes. Property: for random swaps and downed cables, validation reports each injected
fault and nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.cli import main
from infra.errors import InputError
from infra.fabric.discovered import parse_discovered
from infra.fabric.faults import inject, parse_fault_args
from infra.fabric.plane import plane_fabric
from infra.fabric.topology import write_topology
from infra.fabric.validate import validate

from .conftest import PROJECT_DIR

# What a real ibnetdiscover prints for one switch and one HCA (lids, port GUIDs, widths).
REAL_STYLE = """#
# Topology file: generated on Tue Jan  7 10:00:00 2025
#
vendid=0x2c9
devid=0xd2f2
sysimgguid=0xb83fd203004a1b2c
switchguid=0xb83fd203004a1b2c(b83fd203004a1b2c)
Switch\t64 "S-b83fd203004a1b2c"\t\t# "p0-leaf-su001-r0" enhanced port 0 lid 12 lmc 0
[1]\t"H-946dae03006a0b10"[1](946dae03006a0b11) \t\t# "hall1-su001-n01 mlx5_0" lid 40 4xNDR
[33]\t"S-b83fd203004a9999"[1]\t\t# "p0-spine-001" lid 3 4xHDR

vendid=0x2c9
devid=0x1021
sysimgguid=0x946dae03006a0b10
caguid=0x946dae03006a0b10
Ca\t1 "H-946dae03006a0b10"\t\t# "hall1-su001-n01 mlx5_0"
[1](946dae03006a0b11) \t"S-b83fd203004a1b2c"[1]\t\t# lid 40 lmc 0 "p0-leaf-su001-r0" lid 12 4xNDR
"""


def _text(fabric, links=None, rate="4xNDR"):
    return write_topology(fabric, links=links, rate=rate)


def test_designed_fabric_validates_clean(dev_design):
    fabric = plane_fabric(dev_design, "p0")
    assert validate(dev_design, parse_discovered(_text(fabric))) == []


def test_real_ibnetdiscover_lines_parse():
    found = parse_discovered(REAL_STYLE)
    assert found.switches == {
        "p0-leaf-su001-r0": [
            ("1", "1", "hall1-su001-n01 mlx5_0", "4", "NDR"),
            ("33", "1", "p0-spine-001", "4", "HDR"),
        ]
    }
    assert found.switch_ids["p0-leaf-su001-r0"] == "S-b83fd203004a1b2c"


def test_degraded_link_names_both_physical_ends(dev_design):
    fabric = plane_fabric(dev_design, "p0")
    lines = _text(fabric).splitlines()
    # leaf r0 port 33 -> spine 001 port 1, seen from both switches: slow it on both sides
    for i, line in enumerate(lines):
        if line.startswith('[33]\t"S-') and "p0-spine-001" in line:
            lines[i] = line.replace("4xNDR", "4xHDR")
    spine_at = next(i for i, x in enumerate(lines) if '# "p0-spine-001" enhanced' in x)
    lines[spine_at + 1] = lines[spine_at + 1].replace("4xNDR", "4xHDR")
    findings = validate(dev_design, parse_discovered("\n".join(lines)))
    assert [(f.kind, f.rate) for f in findings] == [("degraded", "4xHDR")]
    (a, b) = findings[0].designed[0]
    assert {a, b} == {("p0-leaf-su001-r0", 33), ("p0-spine-001", 1)}
    places = findings[0].places
    assert len(places) == 2 and all(p.startswith("hall hall1 row ") for p in places)
    assert any("rack hall1-r01-05 U1 switch p0-leaf-su001-r0 port 33" in p for p in places)


def test_moved_cable_and_unknown_gear(dev_design):
    fabric = plane_fabric(dev_design, "p0")
    links = list(fabric.links)
    a3 = next(i for i, (a, b, _t) in enumerate(links) if b == ("p0-leaf-su001-r0", 3))
    a5 = next(i for i, (a, b, _t) in enumerate(links) if b == ("p0-leaf-su001-r0", 5))
    host_a = links[a3][0]
    links[a3] = (host_a, ("p0-leaf-su001-r0", 5), "node_leaf")  # n03's cable on port 5 ...
    del links[a5]  # ... where n05's cable should be
    rogue = (
        'switchguid=0x1(1)\nSwitch\t36 "S-0000000000000001"\t\t# "lab-switch" enhanced port 0'
        ' lid 99 lmc 0\n[1]\t"H-0000000000000010"[1](11) \t\t# "lab-node mlx5_0" lid 98 4xNDR\n'
    )
    findings = validate(dev_design, parse_discovered(_text(fabric, links) + "\n" + rogue))
    kinds = sorted((f.kind, f.summary.split(":")[0]) for f in findings)
    assert kinds == [("missing", "missing"), ("miswired", "moved"), ("unexpected", "unexpected")]
    unexpected = next(f for f in findings if f.kind == "unexpected")
    assert all("not in the design" in p for p in unexpected.places)
    moved = next(f for f in findings if f.kind == "miswired")
    assert moved.designed == [((host_a[0], 1), ("p0-leaf-su001-r0", 3))]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    swaps=st.integers(0, 6),
    downs=st.integers(0, 6),
)
def test_random_swaps_and_downs_are_found_exactly(superpod_design, seed, swaps, downs):
    fabric = plane_fabric(superpod_design, "p0")
    counts = {k: n for k, n in (("swap", swaps), ("down", downs)) if n}
    faulted = inject(fabric, counts, seed)
    findings = validate(superpod_design, parse_discovered(_text(fabric, faulted.links)))
    want = sorted((f.finding_kind, f.designed) for f in faulted.faults)
    assert sorted((f.kind, tuple(f.designed)) for f in findings) == want
    assert len(findings) == swaps + downs


def test_fault_arguments():
    assert parse_fault_args(["swap:2", "down:1", "swap:1"]) == {"swap": 3, "down": 1}
    with pytest.raises(InputError):
        parse_fault_args(["swap", "melt:1", "down:0"])


def test_validate_cli_exit_codes(tmp_path, capsys, dev_design):
    fabric = plane_fabric(dev_design, "p0")
    clean = tmp_path / "clean.topo"
    clean.write_text(_text(fabric))
    args = ["fabric", "validate", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]
    assert main([*args, "--discovered", str(clean)]) == 0
    faulted = inject(fabric, {"swap": 1, "down": 1}, seed=7)
    bad = tmp_path / "bad.topo"
    bad.write_text(_text(fabric, faulted.links))
    capsys.readouterr()
    assert main([*args, "--discovered", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["counts"] == {"miswired": 1, "missing": 1}
    assert all("rack" in p for f in report["findings"] for p in f["places"])
    empty = tmp_path / "empty.topo"
    empty.write_text("# nothing here\n")
    assert main([*args, "--discovered", str(empty)]) == 2
    assert main([*args, "--discovered", str(tmp_path / "absent")]) == 2
    assert main([*args, "--discovered", str(clean), "--rate", "4xWARP"]) == 2
    assert "error:" in capsys.readouterr().err
