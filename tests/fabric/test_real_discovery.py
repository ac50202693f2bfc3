"""`fabric validate` on discovery files written the way real Quantum-2 fabrics print them
(tests/fabric/real_format.py): `MF0;<hostname>:MQM9700/U1` switches, some with site
hostnames (resolved by --name-map), two unmanaged switches that print one vendor string
(resolved by GUID, --guid-map), hosts on `mlx5_<n>` and on `HCA-<n>`, vendor GUIDs and SM
LIDs. A clean fabric passes with nothing reported; each injected fault is reported with
its physical place and nothing else is; a switch nobody mapped is named."""

from __future__ import annotations

import json

import pytest

from infra.cli import main
from infra.errors import InputError
from infra.fabric.discovered import parse_discovered
from infra.fabric.naming import FabricNames, read_guid_map, read_name_map
from infra.fabric.plane import plane_fabric
from infra.fabric.validate import validate

from .conftest import PROJECT_DIR
from .real_format import RealStyle, write_real

STYLE = RealStyle(
    hostnames={
        "p0-spine-001": "ib-core-a01",
        "p0-spine-002": "ib-core-a02",
        "p0-leaf-su001-r3": "qm97-su1-r3",
    },
    old_hca_hosts={"hall1-su001-n02", "hall1-su001-n05"},
    unmanaged={
        "p0-spine-003": "Quantum-2 Mellanox Technologies",
        "p0-spine-004": "Quantum-2 Mellanox Technologies",
    },
)
ARGS = ["fabric", "validate", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]


@pytest.fixture(scope="module")
def fabric(dev_design):
    return plane_fabric(dev_design, "p0")


def _names(real) -> FabricNames:
    hosts = {h: d for d, h in STYLE.hostnames.items()}
    guids = {real.guid[s]: s for s in STYLE.unmanaged}
    return FabricNames(hosts=hosts, guids=guids)


def _files(tmp_path, real, name="real.topo"):
    topo = tmp_path / name
    topo.write_text(real.text)
    names = tmp_path / "name-map"
    names.write_text(real.name_map)
    guids = tmp_path / "guid-map.csv"
    guids.write_text(real.guid_map_csv)
    return ["--discovered", str(topo), "--name-map", str(names), "--guid-map", str(guids)]


def test_the_fixture_is_in_the_real_format(fabric):
    """What the tests feed validate is not our own format with other names: check it."""
    text = write_real(fabric, STYLE).text
    assert "# Initiated from node " in text
    assert '# "MF0;ib-core-a01:MQM9700/U1" enhanced port 0 lid ' in text
    assert text.count('# "Quantum-2 Mellanox Technologies" enhanced port 0') == 2
    assert '# "hall1-su001-n02 HCA-1" lid ' in text and '"hall1-su001-n01 mlx5_0"' in text
    assert "Switch\t129 " in text
    assert '# "p0-' not in text.replace('"MF0;p0-', "")  # no design name printed bare
    # vendor GUIDs, not our plan's (0x5c.. switches, 0x5a.. HCAs)
    assert "switchguid=0x5c" not in text and "caguid=0x5a" not in text


def test_clean_real_fabric_passes(fabric, dev_design):
    real = write_real(fabric, STYLE)
    found = parse_discovered(real.text, names=_names(real))
    assert sorted(found.spans) == sorted(fabric.switches)
    assert validate(dev_design, found) == []


def test_clean_real_fabric_cli(tmp_path, capsys, fabric):
    real = write_real(fabric, STYLE)
    assert main([*ARGS, *_files(tmp_path, real)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "0 finding(s)" in err and "not in the design" not in err
    # the GUID map as `fabric render --guids-from` writes it (OpenSM node-name-map) works too
    nnm = tmp_path / "node-name-map"
    nnm.write_text(real.guid_map_nnm)
    files = _files(tmp_path, real)
    files[files.index("--guid-map") + 1] = str(nnm)
    assert main([*ARGS, *files, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["findings"] == [] and not report["unmatched_switches"]


def _link(fabric, a: tuple[str, int]):
    return next(i for i, (x, y, _t) in enumerate(fabric.links) if a in (x, y))


def test_each_injected_fault_found_with_its_place(tmp_path, capsys, fabric, dev_design):
    links = list(fabric.links)
    # swap: the upper ends of two uplinks, one on an unmanaged spine (known only by GUID),
    # one on a renamed spine
    i = _link(fabric, ("p0-leaf-su001-r0", 49))  # -> p0-spine-003
    j = _link(fabric, ("p0-leaf-su001-r1", 33))  # -> p0-spine-001 (ib-core-a01)
    (la, ua, t), (lb, ub, _) = links[i], links[j]
    assert {ua[0], ub[0]} == {"p0-spine-003", "p0-spine-001"}
    links[i], links[j] = (la, ub, t), (lb, ua, t)
    # down: the cable of an `HCA-<n>` host
    k = _link(fabric, ("hall1-su001-n05 mlx5_3", 1))
    down = links[k]
    del links[k]
    # degraded: a renamed leaf's uplink trained at HDR (both ends say so)
    d = _link(fabric, ("p0-leaf-su001-r3", 40))
    slow = fabric.links[d]
    rates = {frozenset(slow[:2]): "4xHDR"}
    real = write_real(fabric, STYLE, links, rates)

    findings = validate(dev_design, parse_discovered(real.text, names=_names(real)))
    got = sorted((f.kind, tuple(sorted(f.designed))) for f in findings)

    def key(a, b):
        return tuple(sorted((a, b)))

    assert got == sorted(
        [
            ("miswired", tuple(sorted([key(la, ua), key(lb, ub)]))),
            ("missing", (key(*down[:2]),)),
            ("degraded", (key(*slow[:2]),)),
        ]
    )
    for f in findings:  # both ends of every cable, on the floor
        assert len(f.places) == 2 * len(f.designed)
        assert all(p.startswith("hall hall1 row ") and " U" in p for p in f.places)
    degraded = next(f for f in findings if f.kind == "degraded")
    assert degraded.rate == "4xHDR"
    assert any("switch p0-leaf-su001-r3 port 40" in p for p in degraded.places)
    missing = next(f for f in findings if f.kind == "missing")
    assert any("node hall1-su001-n05 mlx5_3 (HCA port 1)" in p for p in missing.places)

    # the CLI says the same, exit 1, and nothing else
    assert main([*ARGS, *_files(tmp_path, real), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"miswired": 1, "missing": 1, "degraded": 1}
    assert not report["unmatched_switches"]


def test_real_rates(fabric, dev_design):
    """2xNDR (an NDR200 split port) validates against --rate 2xNDR; against 4xNDR every
    link is degraded, each named with the rate it runs at."""
    real = write_real(fabric, STYLE, rate="2xNDR")
    assert validate(dev_design, parse_discovered(real.text, names=_names(real)), rate="2xNDR") == []
    found = parse_discovered(real.text, names=_names(real))
    findings = validate(dev_design, found, rate="4xNDR")
    assert len(findings) == len(fabric.links) and {f.rate for f in findings} == {"2xNDR"}


def test_renamed_switches_without_a_map_are_named(tmp_path, capsys, fabric):
    # every switch under a site hostname, no map: exit 2 naming the first one, its line
    style = RealStyle(hostnames={s: f"site-sw{i:02d}" for i, s in enumerate(fabric.switches)})
    real = write_real(fabric, style)
    topo = tmp_path / "renamed.topo"
    topo.write_text(real.text)
    assert main([*ARGS, "--discovered", str(topo)]) == 2
    err = capsys.readouterr().err
    line = real.text.splitlines().index(
        next(x for x in real.text.splitlines() if "MF0;site-sw00:" in x)
    )
    assert f"renamed.topo:{line + 1}: switch 'MF0;site-sw00:MQM9700/U1'" in err
    assert "(resolved to 'site-sw00') is not a switch of the design" in err
    assert "--name-map" in err
    # with the map it is clean
    names = tmp_path / "names"
    names.write_text(real.name_map)
    assert main([*ARGS, "--discovered", str(topo), "--name-map", str(names)]) == 0

    # one renamed switch left out of the map: its links are findings, and it is named
    partial = tmp_path / "partial"
    partial.write_text("".join(x + "\n" for x in real.name_map.splitlines() if "sw05" not in x))
    capsys.readouterr()
    assert main([*ARGS, "--discovered", str(topo), "--name-map", str(partial)]) == 1
    err = capsys.readouterr().err
    assert "1 switch(es) in the file are not in the design, first" in err
    assert "switch 'MF0;site-sw05:MQM9700/U1' (resolved to 'site-sw05')" in err


def test_unmanaged_switches_need_the_guid_map(tmp_path, capsys, fabric):
    real = write_real(fabric, STYLE)
    files = _files(tmp_path, real)
    del files[files.index("--guid-map") : files.index("--guid-map") + 2]
    assert main([*ARGS, *files]) == 2
    err = capsys.readouterr().err
    assert "duplicate node description 'Quantum-2 Mellanox Technologies'" in err
    assert "name each by GUID with --guid-map" in err


def test_maps_are_typed(tmp_path, capsys, fabric):
    bad = tmp_path / "bad-names"
    bad.write_text("leaf01 p0-leaf-su001-r0\nleaf01 p0-leaf-su001-r1\nonly-one-field\n")
    with pytest.raises(InputError) as exc:
        read_name_map(bad)
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in exc.value.problems] == ["2", "3"]
    badg = tmp_path / "bad-guids"
    badg.write_text('0x0 "p0-spine-001"\nnot-a-guid,p0-spine-002\n0xb83fd20300000001,x y\n')
    with pytest.raises(InputError) as exc:
        read_guid_map(badg)
    assert len(exc.value.problems) == 3
    good = tmp_path / "guids"
    good.write_text('# comment\n0xB83FD20300000001 "p0-spine-001"\nb83fd20300000002,p0-spine-002\n')
    assert read_guid_map(good) == {
        0xB83FD20300000001: "p0-spine-001",
        0xB83FD20300000002: "p0-spine-002",
    }
    # a map naming what the design does not hold is bad input, not findings
    real = write_real(fabric, STYLE)
    typo = tmp_path / "typo"
    typo.write_text(real.name_map.replace("p0-spine-001", "p0-spine-0001"))
    files = _files(tmp_path, real)
    files[files.index("--name-map") + 1] = str(typo)
    assert main([*ARGS, *files]) == 2
    assert "'p0-spine-0001': not a switch or node of the design" in capsys.readouterr().err


def test_description_resolution():
    names = FabricNames(hosts={"leaf01": "p0-leaf-su001-r0", "gpu7": "hall1-su001-n07"})
    assert names.switch("MF0;leaf01:MQM9700/U1", 1) == "p0-leaf-su001-r0"
    assert names.switch("MF0;p0-spine-001:MQM9790/U1", 1) == "p0-spine-001"
    assert names.switch("p0-spine-002", 1) == "p0-spine-002"  # ibnetdiscover --node-name-map
    assert names.switch("Quantum-2 Mellanox Technologies", 1) == "Quantum-2 Mellanox Technologies"
    assert names.hca("gpu7 HCA-1") == "hall1-su001-n07 mlx5_0"
    assert names.hca("gpu7 mlx5_7") == "hall1-su001-n07 mlx5_7"
    assert names.hca("n01 HCA-8") == "n01 mlx5_7"
    assert names.hca("n01 HCA-0") == "n01 HCA-0"  # HCA-<n> counts from 1
    assert names.hca_as_printed("hall1-su001-n07 mlx5_2") == "gpu7 mlx5_2"
