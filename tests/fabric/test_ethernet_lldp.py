"""LLDP cabling validation of a Spectrum-X fabric (infra/fabric/lldp.py): lldpd's JSON
(`lldpcli -f json show neighbors`, the shape lldpd 1.0.x prints on Cumulus Linux and
Debian, with its one-interface-is-an-object quirk) against a dev-size design, with the
InfiniBand validator's findings, places and exit codes. The fixtures are built from the
design in that shape; the simulation test (test_ethernet_sim.py) feeds real lldpd output
through the same code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.cli import main
from infra.design.ethernet import port_name
from infra.errors import InputError
from infra.fabric.lldp import parse_neighbors, read_lldp, validate_lldp
from tests.fabric.ethernet_design import spectrum_x_design, write_stack


def entry(chassis: str, port: str, mac_port: bool = False) -> dict:
    """One neighbor as lldpd prints it (system name as the chassis key)."""
    return {
        "via": "LLDP",
        "rid": "1",
        "age": "0 day, 00:00:07",
        "chassis": {
            chassis: {
                "id": {"type": "mac", "value": "02:00:00:00:00:01"},
                "descr": "Cumulus Linux version 5.14.0 running on Nvidia SN5600",
                "capability": [
                    {"type": "Bridge", "enabled": False},
                    {"type": "Router", "enabled": True},
                ],
            }
        },
        "port": (
            {"id": {"type": "mac", "value": "02:00:00:00:00:02"}, "descr": port, "ttl": "120"}
            if mac_port
            else {"id": {"type": "ifname", "value": port}, "descr": port, "ttl": "120"}
        ),
    }


def lldp_output(neighbors: list[tuple[str, dict]]) -> dict:
    """lldpd's quirk: one neighbor -> `interface` is an object, more -> a list."""
    if len(neighbors) == 1:
        local, e = neighbors[0]
        return {"lldp": {"interface": {local: e}}}
    return {"lldp": {"interface": [{local: e} for local, e in neighbors]}}


def switch_views(design, links=None) -> dict[str, dict]:
    """What each switch's lldpd reports for the cabling `links` (default: as designed)."""
    tier = {s.name: s.tier for s in design.switches}
    dev = {(n.node, n.rail): n.device for n in design.nics_l3}
    per: dict[str, list] = {s.name: [] for s in design.switches}
    for k in design.links if links is None else links:
        b_if = port_name(tier[k.b_dev], k.b_port)
        if k.tier == "node_leaf":
            per[k.b_dev].append((b_if, entry(k.a_dev, dev[(k.a_dev, k.a_port)], mac_port=True)))
            continue
        a_if = port_name(tier[k.a_dev], k.a_port)
        per[k.a_dev].append((a_if, entry(k.b_dev, b_if)))
        per[k.b_dev].append((b_if, entry(k.a_dev, a_if)))
    return {sw: lldp_output(n) for sw, n in per.items()}


@pytest.fixture(scope="module")
def design():
    return spectrum_x_design()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return write_stack(tmp_path_factory.mktemp("proj"))


def write_dir(root: Path, views: dict[str, dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for sw, out in views.items():
        (root / f"{sw}.json").write_text(json.dumps(out, indent=2))
    return root


def test_parser_reads_lldpds_shapes():
    one = lldp_output([("swp33", entry("spine01", "swp1"))])
    assert isinstance(one["lldp"]["interface"], dict)
    (nb,) = parse_neighbors(one, "leaf01", "f")
    assert (nb.device, nb.local_port, nb.chassis, nb.port) == ("leaf01", "swp33", "spine01", "swp1")
    two = lldp_output([("swp1s0", entry("n1", "mlx5_0", mac_port=True)),
                       ("swp1s0", entry("n2", "mlx5_1"))])  # fmt: skip
    got = [(n.local_port, n.chassis, n.port) for n in parse_neighbors(two, "leaf01", "f")]
    assert got == [("swp1s0", "n1", "mlx5_0"), ("swp1s0", "n2", "mlx5_1")]
    unnamed = {"lldp": {"interface": {"swp2": {
        "chassis": {"id": {"type": "mac", "value": "02:aa:00:00:00:01"}},
        "port": {"id": {"type": "ifname", "value": "eth1"}}}}}}  # fmt: skip
    (nb,) = parse_neighbors(unnamed, "leaf01", "f")
    assert (nb.chassis, nb.port) == ("02:aa:00:00:00:01", "eth1")
    assert parse_neighbors({"lldp": {}}, "leaf01", "f") == []
    with pytest.raises(InputError):
        parse_neighbors({"interfaces": []}, "leaf01", "f")


def test_clean_fabric_has_no_findings(design, project, tmp_path):
    d = write_dir(tmp_path / "lldp", switch_views(design))
    assert validate_lldp(design, read_lldp(d)) == []
    assert main(["fabric", "validate", "--stack", "sx", "--project-dir", str(project),
                 "--lldp", str(d)]) == 0  # fmt: skip


def test_swapped_and_missing_cables_found_with_places_and_nothing_else(
    design, project, tmp_path, capsys
):
    links = list(design.links)
    nic = [i for i, k in enumerate(links) if k.tier == "node_leaf"]
    i, j = nic[5], nic[200]  # two NIC cables on different leaves, crossed
    a, b = links[i], links[j]
    links[i] = a._replace(b_dev=b.b_dev, b_port=b.b_port)
    links[j] = b._replace(b_dev=a.b_dev, b_port=a.b_port)
    up = next(k for k in links if k.tier == "leaf_spine" and k.a_port == 70)
    links.remove(up)  # a missing leaf-spine cable: neither end sees a neighbor
    d = write_dir(tmp_path / "lldp", switch_views(design, links))
    findings = validate_lldp(design, read_lldp(d))
    assert sorted(f.kind for f in findings) == ["missing", "miswired"]
    swap = next(f for f in findings if f.kind == "miswired")
    assert swap.summary.startswith("swapped:")
    nodes = {a.a_dev, b.a_dev}
    assert all(any(n in p for n in nodes) or " switch " in p for p in swap.places)
    assert any("rack" in p and " U" in p and "port swp" in p for p in swap.places)
    missing = next(f for f in findings if f.kind == "missing")
    assert missing.places == [
        f"hall hall1 row r01 rack {_rack(design, up.a_dev)} U{_u(design, up.a_dev)} switch "
        f"{up.a_dev} port swp38",
        f"hall hall1 row spine rack {_rack(design, up.b_dev)} U{_u(design, up.b_dev)} switch "
        f"{up.b_dev} port {port_name('spine', up.b_port)}",
    ]
    rc = main(["fabric", "validate", "--stack", "sx", "--project-dir", str(project),
               "--lldp", str(d), "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["ok"] is False and out["counts"] == {"miswired": 1, "missing": 1}


def test_unexpected_device_and_one_file_of_all_switches(design, tmp_path):
    views = switch_views(design)
    leaf = design.switches[0].name
    ifaces = views[leaf]["lldp"]["interface"]
    ifaces.append({"swp40": entry("rogue-switch", "swp7")})
    f = tmp_path / "all.json"
    f.write_text(json.dumps(views))
    findings = validate_lldp(design, read_lldp(f))
    assert [x.kind for x in findings] == ["unexpected"]
    assert "location not in the design: rogue-switch port swp7" in findings[0].places


def test_unreadable_input_is_exit_2(project, tmp_path, capsys):
    bad = tmp_path / "leaf.json"
    bad.write_text('{"lldp": {"interface": \n oops')
    rc = main(["fabric", "validate", "--stack", "sx", "--project-dir", str(project),
               "--lldp", str(bad)])  # fmt: skip
    assert rc == 2
    assert f"{bad}:2: not JSON" in capsys.readouterr().err


def _rack(design, switch):
    return next(s.rack for s in design.switches if s.name == switch)


def _u(design, switch):
    return next(s.u for s in design.switches if s.name == switch)
