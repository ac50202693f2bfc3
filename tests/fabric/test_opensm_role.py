"""The opensm role applied for real (local connection) to a scratch configuration
directory: it deploys the files `fabric render` wrote, binds the SM to the plane's port
GUID, and a second run changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from infra.cli import main

from .conftest import PROJECT_DIR

pytestmark = pytest.mark.integration


def _play(tmp_path, render_dir, check: bool = False) -> dict:
    playbook = tmp_path / "sm.yml"
    playbook.write_text(
        "- name: Subnet manager\n  hosts: localhost\n  connection: local\n"
        "  gather_facts: false\n  roles:\n    - role: opensm\n"
    )
    extra = {
        "opensm_plane": "p0",
        "opensm_render_dir": str(render_dir),
        "opensm_config_dir": str(tmp_path / "etc-opensm"),
        "opensm_default_file": str(tmp_path / "default-opensm"),
        "opensm_service_enabled": False,
        "ansible_python_interpreter": sys.executable,
    }
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")  # fmt: skip
    cmd = [sys.executable, "-m", "ansible.cli.playbook", str(playbook), "-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    run = subprocess.run(cmd, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+).*?failed=(\d+)", run.stdout)
    assert recap, run.stdout[-2000:]
    ok, changed, failed = map(int, recap.groups())
    return {"ok": ok, "changed": changed, "failures": failed}


def test_role_deploys_rendered_config_idempotently(tmp_path):
    render = tmp_path / "render"
    argv = ["fabric", "render", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]
    assert main([*argv, "--out", str(render)]) == 0
    assert _play(tmp_path, render, check=True)["changed"] > 0
    assert not (tmp_path / "etc-opensm").exists()  # check mode touched nothing
    first = _play(tmp_path, render)
    assert first["changed"] > 0 and first["failures"] == 0
    deployed = (tmp_path / "etc-opensm" / "opensm.conf").read_text()
    assert deployed == (render / "p0" / "opensm.conf").read_text()
    guid = next(line.split()[1] for line in deployed.splitlines() if line.startswith("guid "))
    assert (tmp_path / "default-opensm").read_text() == f"PORTS={guid}\n"
    assert _play(tmp_path, render)["changed"] == 0
