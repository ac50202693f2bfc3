"""`supercluster sim up/status/down` on a design: one node per design node, on its mgmt_ip."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fleetutil import project_in_test_range, require_fleet_tools

from infra.cli import main


@pytest.mark.integration
def test_sim_up_status_down(project_dir: Path, tmp_path: Path, capsys):
    require_fleet_tools()
    project = project_in_test_range(project_dir, tmp_path / "project")
    args = ["--stack", "dev", "--project-dir", str(project)]
    assert main(["sim", "up", *args, "--nodes", "3"]) == 0
    try:
        connection = json.loads((project / ".sim/fleet/connection.json").read_text())
        assert list(connection["hosts"]) == [
            "hall1-su001-n01",
            "hall1-su001-n02",
            "hall1-su001-n03",
        ]
        assert connection["hosts"]["hall1-su001-n01"].startswith("127.0.20.")
        # The record that makes commands on stack dev use this site (infra/sim/site.py).
        assert json.loads((project / ".sim/site.json").read_text()) == {"stack": "dev"}
        out = subprocess.run(
            ["ssh", "-F", connection["ssh_config"], "-o", "BatchMode=yes", "hall1-su001-n03",
             "hostname; nvidia-smi -q -x | grep -c '<gpu id='; ibstat | grep -c 'Rate: 400'"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.stdout.split() == ["hall1-su001-n03", "8", "8"], out.stderr
        capsys.readouterr()
        assert main(["sim", "status", *args, "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert (status["command"], status["ok"]) == ("sim status", True)
        assert [s["ssh"] for s in status["nodes"]] == [True, True, True]
    finally:
        assert main(["sim", "down", *args]) == 0
    assert not (project / ".sim").exists()


def test_sim_up_rejects_too_many_nodes(project_dir: Path, capsys):
    code = main(["sim", "up", "--project-dir", str(project_dir), "--nodes", "999"])
    assert code == 2
    assert "--nodes: between 1 and 32" in capsys.readouterr().err
