"""`supercluster up --sim` (what the main job runs): the real engine deploys the dev stack
onto the simulated site from the site's own workspace, the simulated BMCs converge, the
project's stack file stays as it was, and `sim down` leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fleetutil import project_in_test_range, require_fleet_tools

from infra.cli import main

pytestmark = pytest.mark.integration


def test_up_sim_converges_the_simulated_bmcs(
    project_dir: Path, tmp_path: Path, capsys, monkeypatch
):
    require_fleet_tools()
    project = project_in_test_range(project_dir, tmp_path / "project", "127.0.21.192/26")
    stack_file = (project / "Pulumi.dev.yaml").read_bytes()
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    args = ["--stack", "dev", "--project-dir", str(project)]
    assert main(["sim", "up", *args, "--nodes", "8", "--no-hardware"]) == 0
    try:
        assert main(["up", *args, "--sim"]) == 0
        err = capsys.readouterr().err
        assert "up dev: 23 create; site dev: 256 GPUs, 4 racks, 3 artifacts" in err
        assert main(["bmc", "status", *args, "--json"]) == 0  # every BMC in its profile
        summary = json.loads(capsys.readouterr().out)["summary"]
        assert (summary["in_profile"], summary["drifted"], summary["failed"]) == (8, 0, 0)
        assert main(["preview", *args, "--sim"]) == 0
        assert "preview dev: 23 same" in capsys.readouterr().err
        deploy = project / ".sim" / "deploy"
        password = json.loads((project / ".sim/bmc/credentials.json").read_text())["password"]
        for path in deploy.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert password not in path.read_text(errors="replace"), path
        assert "secure:" in (deploy / "Pulumi.dev.yaml").read_text()
        assert (deploy / "passphrase").stat().st_mode & 0o777 == 0o600
        assert (project / "Pulumi.dev.yaml").read_bytes() == stack_file  # untouched
        assert not (project / ".pulumi").exists()  # the sim's state is its own
    finally:
        assert main(["sim", "down", *args]) == 0
    assert not (project / ".sim").exists()


def test_up_sim_without_a_simulated_site_is_refused(project_dir: Path, tmp_path: Path, capsys):
    project = project_in_test_range(project_dir, tmp_path / "project", "127.0.21.192/26")
    # the simulated site is not up: the environment lacks it (3), not bad input
    assert main(["up", "--stack", "dev", "--project-dir", str(project), "--sim"]) == 3
    assert "run `supercluster sim up` first" in capsys.readouterr().err
