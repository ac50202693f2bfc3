"""One stack resolution for every subcommand: a hall stack (`supercluster:specStack` +
`supercluster:layer`) is that hall's part of its site in design, validate, export,
inventory, plan, the fleet's host list and `sim up`; the fabric (site-wide planes) refuses
it naming the site stack. The site here is small and hand-checkable: two halls of one SU
(32 nodes) each, hall1 on a rack type whose PDUs are too small (4 rule errors, all in
hall1), addresses in the tests' loopback range 127.0.44.0/24."""

from __future__ import annotations

import copy
import csv
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from infra.commands import stack_name
from infra.errors import InputError
from infra.spec import read_stack_config
from tests.design.specs import BASE, hall, spec_dict


def two_hall_spec() -> dict:
    weak = {**copy.deepcopy(BASE["rack_types"][0]), "name": "weak", "pdus_per_feed": 1}
    h1, h2 = hall("hall1", 1, 4), hall("hall2", 1, 4)
    h1["rows"][0]["rack_type"] = "weak"  # nameplate over one feed: power.pdu_overload x4
    h2["rows"][0]["x_m"] = h2["spine_area"]["x_m"] = 20.0
    return spec_dict(
        rack_types=[*BASE["rack_types"], weak],
        halls=[h1, h2],
        power={"utility_contract_mw": 5.0},
        addressing={"mgmt_cidr": "127.0.44.0/25", "bmc_cidr": "127.0.44.128/25"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory, project_dir) -> Path:
    """A git repository holding the site stack `t` and its hall stacks `t-h1`, `t-h2`."""
    root = tmp_path_factory.mktemp("site")
    (root / "Pulumi.yaml").write_bytes((project_dir / "Pulumi.yaml").read_bytes())
    spec = {"config": {"supercluster:cluster": two_hall_spec()}}
    (root / "Pulumi.t.yaml").write_text(yaml.safe_dump(spec))
    for n in (1, 2):
        (root / f"Pulumi.t-h{n}.yaml").write_text(
            f"config:\n  supercluster:specStack: t\n  supercluster:layer: hall{n}\n"
        )
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "site"], check=True)
    return root


def run(capsys, site: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--project-dir", str(site)])
    out, err = capsys.readouterr()
    return code, out, err


def design_json(capsys, site: Path, stack: str) -> dict:
    code, out, err = run(capsys, site, "design", "--stack", stack, "--json")
    assert code == 0, err
    return json.loads(out)


def test_design_of_a_hall_stack_is_that_halls_part(capsys, site):
    whole, h1, h2 = (design_json(capsys, site, s) for s in ("t", "t-h1", "t-h2"))
    assert (whole["nodes"], h1["nodes"], h2["nodes"]) == (64, 32, 32)
    assert (whole["gpus"], h2["gpus"]) == (512, 256)
    assert (h1["racks"], h2["racks"], h2["scalable_units"]) == (4, 4, 1)
    assert h2["stack"] == "t-h2" and h2["site"] == "t"
    # Per-hall loads add up to the site's; the contract and the phases stay the site's.
    assert h1["power"]["it_kw"] + h2["power"]["it_kw"] == pytest.approx(whole["power"]["it_kw"])
    assert h2["power"]["halls_it_kw"].keys() == {"hall2"}
    assert h2["power"]["contract_kw"] == whole["power"]["contract_kw"] == 5000
    assert h2["power"]["phases"] == whole["power"]["phases"]
    assert h1["cooling"]["liquid_kw"] + h2["cooling"]["liquid_kw"] == pytest.approx(
        whole["cooling"]["liquid_kw"]
    )
    # Node-leaf cables are the hall's own; the planes stay site-wide.
    assert h2["links"]["node_leaf"] == 256 and whole["links"]["node_leaf"] == 512
    assert h2["planes"] == whole["planes"] == 1


def test_validate_reports_the_halls_findings_and_the_site_wide_ones(capsys, site):
    code, out, _ = run(capsys, site, "validate", "--stack", "t-h1", "--json")
    objects = {v["object"] for v in json.loads(out)["violations"]}
    assert code == 1 and objects == {f"hall1-r01-0{i}" for i in range(1, 5)}
    code, out, _ = run(capsys, site, "validate", "--stack", "t-h2", "--json")
    assert code == 0 and json.loads(out)["violations"] == []
    assert run(capsys, site, "validate", "--stack", "t")[0] == 1


def test_a_site_wide_finding_reaches_every_hall(capsys, tmp_path, site):
    """The power contract is the site's: a hall whose own racks are fine still fails."""
    for name in ("Pulumi.yaml", "Pulumi.t-h2.yaml"):
        (tmp_path / name).write_bytes((site / name).read_bytes())
    spec = two_hall_spec()
    spec["power"]["utility_contract_mw"] = 0.1
    (tmp_path / "Pulumi.t.yaml").write_text(
        yaml.safe_dump({"config": {"supercluster:cluster": spec}})
    )
    code, out, _ = run(capsys, tmp_path, "validate", "--stack", "t-h2", "--json")
    rules = {v["rule"] for v in json.loads(out)["violations"]}
    assert code == 1 and rules == {"power.contract_exceeded"}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_export_of_a_hall_stack_writes_that_halls_files(capsys, site, tmp_path):
    code, _, err = run(capsys, site, "export", "--stack", "t-h2", "--out", str(tmp_path / "h2"))
    assert code == 0, err
    code, _, err = run(capsys, site, "export", "--stack", "t", "--out", str(tmp_path / "all"))
    assert code == 0, err
    cables = read_csv(tmp_path / "h2" / "cabling.csv")
    assert len(cables) == 256
    assert {(c["a_hall"], c["b_hall"]) for c in cables} == {("hall2", "hall2")}
    # The same cable carries the same id in the hall's plan and the site's.
    site_ids = {
        (c["a_device"], c["a_port"]): c["cable_id"]
        for c in read_csv(tmp_path / "all" / "cabling.csv")
    }
    assert all(site_ids[(c["a_device"], c["a_port"])] == c["cable_id"] for c in cables)
    assert {c["cable_id"] for c in cables} != {f"C{i:06d}" for i in range(1, 257)}
    ports = read_csv(tmp_path / "h2" / "node_ports.csv")
    assert len({p["node"] for p in ports}) == 32
    assert all(p["node"].startswith("hall2-") for p in ports)
    racks = {r["rack"] for r in read_csv(tmp_path / "h2" / "rack_elevations.csv")}
    assert racks and all(r.startswith("hall2-") for r in racks)
    marker = (tmp_path / "h2" / ".supercluster-output").read_text()
    assert "export --stack t-h2" in marker


def test_inventory_of_a_hall_stack_holds_that_halls_nodes(capsys, site, tmp_path):
    out_dir = tmp_path / "inv"
    code, _, err = run(capsys, site, "inventory", "--stack", "t-h1", "--out", str(out_dir))
    assert code == 0, err
    hosts = yaml.safe_load((out_dir / "hosts.yml").read_text())
    names: set[str] = set()

    def walk(group: dict) -> None:
        names.update((group.get("hosts") or {}).keys())
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(hosts["all"])
    assert len(names) == 32 and all(n.startswith("hall1-") for n in names)
    assert "using the simulated site" not in err


def test_plan_of_a_hall_stack_reviews_that_halls_part(capsys, site, tmp_path):
    out_dir = tmp_path / "review"
    code, _, err = run(capsys, site, "plan", "--stack", "t-h2", "--out", str(out_dir))
    assert code == 0, err
    review = json.loads((out_dir / "review.json").read_text())
    items = {row["item"]: row for row in review["inventory"]}
    assert review["stack"] == "t-h2" and review["base_present"] is True
    assert (items["nodes"]["before"], items["nodes"]["after"]) == (32, 32)
    assert [h["hall"] for h in review["halls"]] == ["hall2"]
    # hall1's PDU errors are not hall2's to block on.
    assert review["blocking"] == 0 and review["exit_code"] == 0
    code, _, _ = run(capsys, site, "plan", "--stack", "t-h1", "--out", str(tmp_path / "r1"))
    assert code == 1


@pytest.mark.parametrize("action", ["render", "simulate"])
def test_fabric_refuses_a_hall_stack_naming_its_site_stack(capsys, site, action):
    code, _, err = run(capsys, site, "fabric", action, "--stack", "t-h2")
    assert code == 2
    assert "hall hall2 of site stack t" in err
    assert f"`supercluster fabric {action} --stack t`" in err


def test_fabric_render_of_the_site_stack_covers_its_planes(capsys, site, tmp_path):
    code, _, err = run(
        capsys, site, "fabric", "render", "--stack", "t", "--out", str(tmp_path / "f")
    )
    assert code == 0, err
    assert (tmp_path / "f" / "p0" / "opensm.conf").is_file()


def test_fleet_hosts_of_a_hall_stack_are_that_halls_nodes(site):
    from infra.cli import build_parser

    args = build_parser().parse_args(["facts", "--stack", "t-h2", "--project-dir", str(site)])
    from infra.commands import fleetargs

    hosts = fleetargs.hosts(args)
    assert len(hosts) == 32 and all(h.name.startswith("hall2-") for h in hosts)
    assert all(h.address.startswith("127.0.44.") for h in hosts)


def test_a_bad_layer_is_one_error_line_in_every_command(capsys, tmp_path, site):
    for name in ("Pulumi.yaml", "Pulumi.t.yaml"):
        (tmp_path / name).write_bytes((site / name).read_bytes())
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  supercluster:specStack: t\n  supercluster:layer: hall9\n"
    )
    for argv in (["design"], ["export"], ["inventory"], ["fabric", "render"], ["plan"]):
        code, _, err = run(capsys, tmp_path, *argv, "--stack", "x")
        assert code == 2, (argv, err)
        assert "layer must name a hall of stack 't'" in err, (argv, err)


# -- one stack-name check ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["a..b", "../x", ".hidden", "a/b", "", "x" * 101])
def test_one_stack_name_rule_for_flags_and_files(tmp_path, name):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="a stack name is") as flag:
        stack_name(name)
    with pytest.raises(InputError, match="a stack name is") as file:
        read_stack_config(name, tmp_path)
    assert str(flag.value) in file.value.problems[0]  # the same words from the same check


@pytest.mark.parametrize("name", ["dev", "memphis-hall1", "a.b_c-9"])
def test_stack_names_that_are_fine(name):
    assert stack_name(name) == name
