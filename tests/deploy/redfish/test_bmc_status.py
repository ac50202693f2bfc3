"""`supercluster bmc status` on the dev stack's design against the running emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bmcsite import HOST

from infra.deploy.providers import bmc_targets
from infra.deploy.providers import redfish_ops as ops
from infra.design import compile_design
from infra.sim import bmc
from infra.spec import load_spec


def run_status(
    project_dir: Path, state_dir: Path, *extra: str, sim: bool = True
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERCLUSTER_BMC_")}
    command = [sys.executable, "-m", "infra.cli", "bmc", "status", "--stack", "dev"]
    # --sim: the emulator in the state dir is chosen explicitly (no `sim up` record here)
    command += ["--project-dir", str(project_dir), "--state-dir", str(state_dir), *extra]
    command += ["--sim"] if sim else []
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.integration
def test_status_reports_drift_per_node_then_in_profile(project_dir: Path, tmp_path: Path) -> None:
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    state_dir = tmp_path / "sim"
    password = "pw-status-7f3a9c1e"
    emulator = bmc.start_emulator(
        design.nodes, state_dir, HOST, bmc.free_port(HOST), password=password
    )
    try:
        fresh = run_status(project_dir, state_dir, "--json", "--progress")
        assert fresh.returncode == 1, fresh.stderr
        report = json.loads(fresh.stdout)
        assert report["source"] == "simulated"
        assert report["summary"]["nodes"] == len(design.nodes) == 32
        assert report["summary"]["drifted"] == 32
        first = report["nodes"][0]
        assert first["drift"]["bios.SriovEnable"] == ["Enabled", "Disabled"]
        assert first["drift"]["power"] == ["On", "Off"]
        assert "32/32" in fresh.stderr  # the progress bar, asked for

        # Converge the first rack with the node profile (the provider's converge path).
        sim = {"url": emulator.url, "systems": emulator.systems}
        rack = bmc_targets.nodes_by_rack(design.nodes)[design.nodes[0].rack]
        creds = ops.Credentials("admin", password)
        conn = ops.Connection(ca_bundle=emulator.ca_bundle, power_wait_s=30)
        results = ops.fan_out(
            [bmc_targets.endpoint(n, sim) for n in rack],
            lambda ep: ops.converge_node(ep, creds, conn, bmc_targets.profile(rack[0])),
        )
        assert all(r.error is None for r in results)

        after = run_status(project_dir, state_dir)
        assert after.returncode == 1
        assert "/32" not in after.stderr  # stderr is no terminal and nobody asked: no bar
        summary = after.stdout.strip().splitlines()[-1]
        assert f"{len(rack)} in profile" in summary and "24 drifted" in summary
        for out in (fresh, after):
            assert password not in out.stdout + out.stderr
    finally:
        bmc.stop_emulator(state_dir)


def test_real_site_mode_needs_credentials(project_dir: Path, tmp_path: Path) -> None:
    result = run_status(project_dir, tmp_path / "no-sim", sim=False)
    assert result.returncode == 2
    assert "SUPERCLUSTER_BMC_USERNAME" in result.stderr
    assert "Traceback" not in result.stderr


def test_real_site_endpoints_are_one_per_bmc_address(project_dir: Path) -> None:
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    node = design.nodes[0]
    endpoint = bmc_targets.endpoint(node)
    assert (endpoint.url, endpoint.system) == (f"https://{node.bmc_ip}", None)
    racks = bmc_targets.rack_inputs(design)
    assert sum(len(r["nodes"]) for r in racks) == len(design.nodes)
    assert racks[0]["bios"]["SriovEnable"] == "Enabled"
