"""`supercluster facts` / `health` end to end: design hosts, the sim's connection, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from fleetutil import require_fleet_tools

from infra.cli import main


def project_in_test_range(src: Path, dst: Path) -> Path:
    """The dev stack with its management network in the fleet tests' range."""
    dst.mkdir()
    shutil.copy(src / "Pulumi.yaml", dst / "Pulumi.yaml")
    shutil.copytree(src / "inventory" / "group_vars", dst / "inventory" / "group_vars")
    config = yaml.safe_load((src / "Pulumi.dev.yaml").read_text())
    config["config"]["supercluster:cluster"]["addressing"]["mgmt_cidr"] = "127.0.20.64/26"
    (dst / "Pulumi.dev.yaml").write_text(yaml.safe_dump(config))
    return dst


@pytest.mark.integration
def test_facts_and_health_commands(project_dir: Path, tmp_path: Path, capsys):
    require_fleet_tools()
    project = project_in_test_range(project_dir, tmp_path / "project")
    args = ["--stack", "dev", "--project-dir", str(project)]
    two = ["--limit", "hall1-su001-n0[12]"]  # the design has 32 nodes; 2 are up
    assert main(["sim", "up", *args, "--nodes", "2"]) == 0
    try:
        capsys.readouterr()
        assert main(["facts", *args, *two, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["summary"]["ok"] == 2
        assert [h["facts"]["gpu"]["count"] for h in out["hosts"]] == [8, 8]

        # The sim's nodes are unconfigured: no /etc/nccl.conf yet, so health fails on it.
        assert main(["health", *args, "--json", "--limit", "hall1-su001-n02"]) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["summary"]["checks_failed"] == {"nccl config": ["hall1-su001-n02"]}

        # A pin the nodes do not run: every host fails the driver check.
        assert main(["health", *args, *two, "--driver-version", "560.35.03"]) == 1
        text = capsys.readouterr().out
        assert "driver version (2): hall1-su001-n01, hall1-su001-n02" in text
        assert "expected 560.35.03, got 550.90.07" in text
    finally:
        assert main(["sim", "down", *args]) == 0


def test_limit_matching_nothing_is_bad_input(project_dir: Path, capsys):
    code = main(["facts", "--project-dir", str(project_dir), "--limit", "nosuchnode*",
                 "--key", "/dev/null"])  # fmt: skip
    assert code == 2
    assert "matches no host" in capsys.readouterr().err
