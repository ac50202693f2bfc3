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
import yaml

from infra.cli import main

from .conftest import PROJECT_DIR

pytestmark = pytest.mark.integration


def _play(tmp_path, render_dir, check: bool = False, **more) -> dict:
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
        "opensm_log_dir": str(tmp_path / "var-log"),
        "opensm_systemd_dir": str(tmp_path / "systemd"),
        "opensm_service_enabled": False,
        **more,
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
    deployed = (tmp_path / "etc-opensm" / "p0" / "opensm.conf").read_text()
    assert deployed == (render / "p0" / "opensm.conf").read_text()
    guid = next(line.split()[1] for line in deployed.splitlines() if line.startswith("guid "))
    assert (tmp_path / "default-opensm").read_text() == f'PORTS="{guid}"\n'
    dropin = tmp_path / "systemd" / f"opensm@{guid}.service.d" / "supercluster.conf"
    assert f"--config {tmp_path / 'etc-opensm'}/p0/opensm.conf" in dropin.read_text()
    assert (tmp_path / "var-log" / "opensm-p0").is_dir()
    assert _play(tmp_path, render)["changed"] == 0


def test_sm_server_of_a_per_rail_site_runs_every_plane(tmp_path):
    """A per-rail site's SM server has a port in each plane: one OpenSM per plane, each
    bound to that plane's port and reading that plane's files (its own subnet prefix)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert main(["init", "--preset", "superpod", "--sus", "1", "--stack", "pr",
                 "--project-dir", str(project)]) == 0  # fmt: skip
    stack = project / "Pulumi.pr.yaml"
    doc = yaml.safe_load(stack.read_text())
    doc["config"]["supercluster:cluster"]["fabric"].update(planes="per_rail", subnet_managers=2)
    doc["config"]["supercluster:cluster"]["fabric"].pop("ufm", None)
    stack.write_text(yaml.safe_dump(doc))
    render = tmp_path / "render"
    argv = ["fabric", "render", "--stack", "pr", "--project-dir", str(project)]
    assert main([*argv, "--out", str(render)]) == 0
    inventory = tmp_path / "inv"
    argv = ["inventory", "--stack", "pr", "--project-dir", str(project), "--out", str(inventory)]
    assert main(argv) == 0
    sm2 = yaml.safe_load((inventory / "host_vars" / "sm2.yml").read_text())
    planes = [p["plane"] for p in sm2["opensm_ports"]]
    assert planes == [f"p{r}" for r in range(8)]
    extra = {k: sm2[k] for k in ("opensm_ports", "opensm_conf_file")}
    assert _play(tmp_path, render, **extra)["changed"] > 0
    guids = []
    for plane in planes:
        conf = (tmp_path / "etc-opensm" / plane / "opensm.conf").read_text()
        assert conf == (render / plane / "opensm-sm2.conf").read_text()
        assert "sm_priority 14\n" in conf  # sm2 is every plane's standby
        assert f"partition_config_file /etc/opensm/{plane}/partitions.conf\n" in conf
        guids.append(next(ln.split()[1] for ln in conf.splitlines() if ln.startswith("guid ")))
        dropin = tmp_path / "systemd" / f"opensm@{guids[-1]}.service.d" / "supercluster.conf"
        assert f"/{plane}/opensm.conf" in dropin.read_text()
    assert len(set(guids)) == 8  # one port per plane
    prefixes = {
        ln.split()[1]
        for plane in planes
        for ln in (tmp_path / "etc-opensm" / plane / "opensm.conf").read_text().splitlines()
        if ln.startswith("subnet_prefix ")
    }
    assert len(prefixes) == 8
    assert (tmp_path / "default-opensm").read_text() == f'PORTS="{" ".join(guids)}"\n'
    assert _play(tmp_path, render, **extra)["changed"] == 0
