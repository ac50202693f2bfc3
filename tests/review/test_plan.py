"""`supercluster plan` on a stack changed in a git repository: deltas and exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from infra.deploy import automation
from tests.review.helpers import STACK, base_spec


def _add_row(spec: dict, hall: int = 0, name: str = "r02", y_m: float = 2.4) -> None:
    spec["halls"][hall]["rows"].append(
        {
            "name": name,
            "x_m": 0.0,
            "y_m": y_m,
            "racks": 4,
            "rack_type": "hgx-lc",
            "network_racks": 1,
        }
    )


def test_unchanged_stack_reports_no_change(repo, capsys):
    repo.write(base_spec())
    repo.commit()
    run = repo.plan(capsys)
    assert run.rc == 0
    assert run.json["changed"] is False
    assert all(d["delta"] == 0 for d in run.json["inventory"])
    assert run.json["cabling"] == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "rows": [],
        "rows_left_out": 0,
    }
    assert "No inventory change." in run.md
    assert "verdict: nothing blocking" in run.stdout


def test_add_su(repo, capsys):
    repo.write(base_spec())
    repo.commit()
    spec = base_spec()
    _add_row(spec)
    repo.write(spec)
    run = repo.plan(capsys)
    assert run.rc == 0, run.stdout
    assert run.delta("inventory", "scalable units") == 1
    assert run.delta("inventory", "nodes") == 32
    assert run.delta("inventory", "GPUs") == 256
    assert run.delta("inventory", "compute racks") == 4
    assert run.delta("inventory", "network racks") == 1
    assert run.delta("inventory", "leaf switches") == 8  # one leaf per rail in the new SU
    assert run.delta("inventory", "CDUs") == 4
    names = {n["kind"]: n for n in run.json["names"]}
    assert names["scalable units"]["added"] == ["su002"]
    assert names["halls"] == {"kind": "halls", "added": [], "removed": []}
    # 32 nodes x 8 rails of new node-to-leaf cables, all listed in the cabling plan rows.
    added = [r for r in run.json["cabling"]["rows"] if r["change"] == "added"]
    assert sum(r["tier"] == "node_leaf" for r in added) == 256
    assert {r["a_hall"] for r in added} == {"hall1"}
    power = {d["item"]: d for d in run.json["power"]}
    assert 250 < power["IT kW"]["delta"] < 320  # 32 HGX nodes plus 8 leaves and 4 CDUs
    assert run.json["phases"][0]["headroom_after_kw"] > 0
    assert "| GPUs | 256 | 512 | +256 |" in run.md
    assert "su002" in run.md
    csv = (run.out / "cabling-changes.csv").read_text().splitlines()
    assert csv[0].startswith("change,cable_id,plane,tier,a_hall")
    cabling = run.json["cabling"]
    assert len(csv) - 1 == len(cabling["rows"]) + cabling["rows_left_out"]
    assert len(csv) - 1 == cabling["added"] + cabling["removed"] + cabling["changed"]


def test_add_hall_beyond_power_contract_blocks(repo, capsys):
    repo.write(base_spec())
    repo.commit()
    spec = base_spec()
    hall2 = {
        "name": "hall2",
        "x_m": 40.0,
        "spine_area": {"x_m": 0.0, "y_m": 8.0},
        "rows": [
            {
                "name": "r01",
                "x_m": 0.0,
                "y_m": 0.0,
                "racks": 4,
                "rack_type": "hgx-lc",
                "network_racks": 1,
            },
            {
                "name": "r02",
                "x_m": 0.0,
                "y_m": 2.4,
                "racks": 4,
                "rack_type": "hgx-lc",
                "network_racks": 1,
            },
        ],
    }
    spec["halls"].append(hall2)
    repo.write(spec)
    run = repo.plan(capsys)
    assert run.rc == 1
    assert run.json["blocking"] >= 1 and run.json["exit_code"] == 1
    assert run.delta("inventory", "halls") == 1
    assert run.delta("inventory", "GPUs") == 512
    new = {(v["rule"], v["severity"]) for v in run.json["violations"]["new"]}
    assert ("power.contract_exceeded", "error") in new
    phase = run.json["phases"][0]
    assert phase["headroom_before_kw"] > 0 > phase["headroom_after_kw"]
    halls = {h["hall"]: h for h in run.json["halls"]}
    assert halls["hall2"]["it_before_kw"] == 0 and halls["hall2"]["it_after_kw"] > 500
    # 8 compute racks and 2 leaf racks (the spines stand in hall1)
    assert halls["hall2"]["racks_before"] == 0 and halls["hall2"]["racks_after"] == 10
    assert 0 < halls["hall2"]["busiest_cdu_after_pct"] <= 100
    # hall1 holds the spines: the new hall's uplinks add spine switches and optics there.
    assert 0 < halls["hall1"]["it_after_kw"] - halls["hall1"]["it_before_kw"] < 50
    assert "blocking error(s) after the change (exit 1)" in run.md
    assert "power.contract_exceeded" in run.md
    assert "verdict: " in run.stdout and "blocking error" in run.stdout


def test_lengthen_row_past_copper_reach(repo, capsys):
    repo.write(base_spec())
    repo.commit()
    spec = base_spec()
    spec["halls"][0]["rows"][0]["pitch_m"] = 1.5  # the same racks spread along a longer row
    repo.write(spec)
    run = repo.plan(capsys)
    assert run.rc == 0
    cables = {d["item"]: d for d in run.json["cables"]}
    copper = sum(cables[k]["delta"] for k in cables if k.split("/")[1] in ("dac", "acc"))
    optical = sum(cables[k]["delta"] for k in cables if k.split("/")[1] == "sr4")
    assert copper < 0 and optical == -copper
    assert run.delta("inventory", "cables") == 0
    changed = [r for r in run.json["cabling"]["rows"] if r["change"] == "changed"]
    assert changed and run.json["cabling"]["changed"] == len(changed)
    went_optical = [
        r for r in changed if r["was_medium"] in ("dac", "acc") and r["medium"] == "sr4"
    ]
    assert len(went_optical) == optical
    assert all(r["length_m"] > 5.0 for r in went_optical)  # past the 5 m copper reach
    # Optics draw power: the leaves get hotter.
    assert run.delta("power", "IT kW") > 0


def test_row_past_every_medium_blocks(repo, capsys):
    repo.write(base_spec())
    repo.commit()
    spec = base_spec()
    spec["halls"][0]["rows"][0]["x_m"] = 2500.0  # 2.5 km from its spines: nothing reaches
    repo.write(spec)
    run = repo.plan(capsys)
    assert run.rc == 1
    new = [v for v in run.json["violations"]["new"] if v["rule"] == "cable.reach_exceeded"]
    assert new and all(v["severity"] == "error" for v in new)
    assert any(d["item"] == "leaf_spine/NONE" and d["after"] > 0 for d in run.json["cables"])


def test_fixed_violation_and_clean_exit(repo, capsys):
    spec = base_spec()
    spec["power"]["utility_contract_mw"] = 0.2  # the base breaks its contract
    repo.write(spec)
    repo.commit()
    run = repo.plan(capsys)
    assert run.rc == 1  # unchanged but still blocking
    assert [v["rule"] for v in run.json["violations"]["remaining"]] == ["power.contract_exceeded"]
    spec["power"]["utility_contract_mw"] = 1.0
    repo.write(spec)
    run = repo.plan(capsys)
    assert run.rc == 0
    assert [v["rule"] for v in run.json["violations"]["fixed"]] == ["power.contract_exceeded"]
    assert run.json["violations"]["new"] == [] and run.json["violations"]["remaining"] == []
    assert run.delta("power", "utility contract kW") == 800


def test_stack_absent_at_base_is_all_added(repo, capsys):
    repo.commit("empty project")
    repo.write(base_spec())
    run = repo.plan(capsys)
    assert run.rc == 0
    assert run.json["base_present"] is False
    inventory = {d["item"]: d for d in run.json["inventory"]}
    assert inventory["GPUs"]["before"] == 0 and inventory["GPUs"]["after"] == 256
    assert run.json["cabling"]["added"] == inventory["cables"]["after"] > 0
    assert "everything is added" in run.md


def test_base_revision_is_honoured(repo, capsys):
    repo.write(base_spec())
    repo.commit("one SU")
    spec = base_spec()
    _add_row(spec)
    repo.write(spec)
    repo.commit("two SUs")
    assert repo.plan(capsys).json["changed"] is False  # HEAD already has both SUs
    run = repo.plan(capsys, "--base", "HEAD~1")
    assert run.delta("inventory", "scalable units") == 1
    assert run.json["base"].startswith("HEAD~1 (")


def test_bad_input_exits_2(repo, capsys):
    repo.write(base_spec())
    repo.commit()
    run = repo.plan(capsys, "--base", "no-such-rev")
    assert run.rc == 2 and "--base no-such-rev: no such revision" in run.stderr
    assert not (run.out / "review.json").exists()

    repo.write(text="config:\n  supercluster:cluster: {site: [\n")
    run = repo.plan(capsys)
    assert run.rc == 2 and "malformed YAML" in run.stderr and "(working tree)" in run.stderr

    spec = base_spec()
    spec["halls"][0]["rows"][0]["rack_type"] = "nope"
    repo.write(spec)
    run = repo.plan(capsys)
    assert run.rc == 2
    assert "supercluster:cluster.halls[0].rows[0].rack_type: unknown rack type" in run.stderr

    spec = base_spec()
    spec["colour"] = "blue"
    repo.write(spec)
    run = repo.plan(capsys)
    assert run.rc == 2 and "supercluster:cluster.colour: unknown key" in run.stderr


def test_broken_base_is_named(repo, capsys):
    spec = base_spec()
    spec["fabric"]["su_nodes"] = -1
    repo.write(spec)
    repo.commit()
    repo.write(base_spec())
    run = repo.plan(capsys)
    assert run.rc == 2
    assert "(HEAD (" in run.stderr and "fabric.su_nodes" in run.stderr


def test_hostile_sides_get_the_stack_file_checks(repo, capsys):
    """Both sides go through the one stack-file reader: a duplicate key committed at the
    base and bytes that are not UTF-8 in the working tree are refused, each side named."""
    text = yaml.safe_dump({"config": {"supercluster:cluster": base_spec()}}, sort_keys=False)
    repo.write(text=text + "config: {}\n")  # a second top-level `config`: last would win
    repo.commit()
    repo.write(base_spec())
    run = repo.plan(capsys)
    assert run.rc == 2 and "(HEAD (" in run.stderr and "duplicate key" in run.stderr
    (repo.root / f"Pulumi.{STACK}.yaml").write_bytes(text.encode() + b"# caf\xe9\n")
    run = repo.plan(capsys, "--base", "HEAD")
    assert run.rc == 2 and "(working tree)" in run.stderr and "not UTF-8" in run.stderr
    assert "Traceback" not in run.stderr


def test_not_a_git_repository_exits_2(tmp_path, capsys):
    from tests.review.helpers import Repo

    repo = Repo(tmp_path / "site")
    repo.write(base_spec())
    (repo.root / ".git").rename(repo.root / "not-git")
    run = repo.plan(capsys)
    assert run.rc == 2 and "is not in a git repository" in run.stderr


def test_preview_and_config_check_report_unavailable(repo, capsys, tmp_path, monkeypatch):
    # A PATH with git but no pulumi: the CLI is absent here, and the review says so.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(
        subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    )
    repo.write(base_spec())
    repo.commit()
    spec = base_spec()
    _add_row(spec)
    repo.write(spec)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.pulumi/bin either
    monkeypatch.setenv(automation.CLI_VAR, str(tmp_path / "no-pulumi"))  # nor the venv's
    run = repo.plan(capsys, "--with-preview", "--with-config-check")
    assert run.rc == 0
    preview = run.json["integrations"]["preview"]
    assert preview["status"] == "unavailable"
    assert "Pulumi CLI is not installed" in preview["summary"]
    check = run.json["integrations"]["config_check"]
    assert check["status"] == "unavailable"  # no generated inventory in this repository
    assert "Ansible check mode was not run" in check["summary"]
    assert "preview: unavailable: the Pulumi CLI is not installed" in run.stdout
    assert "Pulumi CLI is not installed" in run.md
    assert run.delta("inventory", "scalable units") == 1  # the rest of the review went on


@pytest.mark.integration
def test_preview_runs_on_the_real_engine(repo, capsys, monkeypatch, project_dir):
    (repo.root / "infra").symlink_to(project_dir / "infra", target_is_directory=True)
    repo.write(base_spec())
    repo.commit()
    spec = base_spec()
    _add_row(spec)
    repo.write(spec)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "review-test")
    run = repo.plan(capsys, "--with-preview")
    assert run.rc == 0, run.stderr
    preview = run.json["integrations"]["preview"]
    assert preview["status"] == "ok", preview
    (line,) = preview["details"]  # one stack: nothing deployed yet, so all is created
    assert line.startswith(f"{STACK}: create ") and int(line.split()[-1]) > 10
    assert preview["summary"].startswith(line.split()[-1] + " resource change(s)")


def test_cli_subprocess_exit_codes(repo):
    """The installed entry point, as CI calls it: exit 2 on bad input, 1 on blocking."""
    spec = base_spec()
    repo.write(spec)
    repo.commit()
    cmd = [
        sys.executable,
        "-m",
        "infra.cli",
        "plan",
        "--stack",
        STACK,
        "--project-dir",
        str(repo.root),
        "--out",
        str(repo.root / "o"),
    ]
    assert subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    spec["power"]["utility_contract_mw"] = 0.1
    repo.write(spec)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    repo.write(text="not: [valid")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_project_in_a_subdirectory_of_the_repository(tmp_path, capsys):
    """The base is read relative to the project directory, not the repository root."""
    from tests.review.helpers import Repo

    outer = Repo(tmp_path / "repo")
    inner = Repo(outer.root / "sites" / "east", init=False)
    inner.write(base_spec())
    outer.commit()
    spec = base_spec()
    _add_row(spec)
    inner.write(spec)
    run = inner.plan(capsys)
    assert run.rc == 0
    assert run.json["base_present"] is True
    assert run.delta("inventory", "scalable units") == 1


def test_remove_a_row(repo, capsys):
    spec = base_spec()
    _add_row(spec)
    repo.write(spec)
    repo.commit()
    repo.write(base_spec())
    run = repo.plan(capsys)
    assert run.rc == 0
    assert run.delta("inventory", "scalable units") == -1
    assert run.delta("inventory", "GPUs") == -256
    names = {n["kind"]: n for n in run.json["names"]}
    assert names["scalable units"] == {"kind": "scalable units", "added": [], "removed": ["su002"]}
    assert "hall1-r02-01" in names["racks"]["removed"]
    assert run.json["cabling"]["removed"] >= 256
    removed = [r for r in run.json["cabling"]["rows"] if r["change"] == "removed"]
    assert {r["a_rack"] for r in removed if r["tier"] == "node_leaf"} == {
        f"hall1-r02-{k:02d}" for k in range(1, 5)
    }
    html = (run.out / "review.html").read_text()
    assert html.count("(removed)</title>") == 5  # 4 compute racks and their leaf rack, dashed
    assert "| GPUs | 512 | 256 | -256 |" in run.md


def test_outputs_are_replaced_all_or_none(repo, capsys, monkeypatch):
    repo.write(base_spec())
    repo.commit()
    first = repo.plan(capsys)
    before = {p.name: p.read_bytes() for p in first.out.iterdir()}
    spec = base_spec()
    _add_row(spec)
    repo.write(spec)

    def broken(*_args, **_kwargs):
        raise RuntimeError("render failed")

    # A renderer failing half-way (after review.md is rendered) must leave every old
    # file as it was, and no temp file behind.
    monkeypatch.setattr("infra.review.render.render_html", broken)
    failed = repo.plan(capsys)
    assert failed.rc == 70 and "internal error" in failed.stderr  # a bug, never exit 1
    assert not [p for p in first.out.parent.iterdir() if ".tmp-" in p.name]
    assert {p.name: p.read_bytes() for p in first.out.iterdir()} == before


def test_superpod_preset_grows_by_one_su(repo, capsys):
    """A DGX SuperPOD-style stack from `supercluster init`, grown from 4 to 5 SUs."""
    from infra.cli import main

    init = ["init", "--preset", "superpod", "--stack", STACK, "--project-dir", str(repo.root)]
    assert main([*init, "--sus", "4"]) == 0
    repo.commit("4 SUs")
    assert main([*init, "--sus", "5", "--force"]) == 0
    capsys.readouterr()
    run = repo.plan(capsys)
    assert run.rc == 0
    assert run.delta("inventory", "scalable units") == 1
    assert run.delta("inventory", "leaf switches") == 8
    assert run.delta("inventory", "GPUs") >= 256  # 32 nodes (and the UFM slot: 1-4 SUs only)
    assert run.json["cabling"]["added"] > 256
    assert "su005" in run.md
