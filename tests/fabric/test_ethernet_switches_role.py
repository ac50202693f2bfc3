"""The Ansible path for Spectrum-X switches (playbooks/switches.yml, role nvue_switch)
run for real by ansible-playbook: each switch of the `switches` group gets its rendered
NVUE file staged and applied (`nv config replace` then `nv config apply`), and a re-run
changes nothing and applies nothing. Cumulus Linux's `nv` cannot exist here: a stub
records how it was called (the one mock); the switches are local connections."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from infra.fabric.nvue import render_nvue
from tests.fabric.ethernet_design import PROJECT_DIR, spectrum_x_design

SWITCHES = ("p0-leaf-su001-l1", "p0-spine-001")


def playbook(tmp: Path, inventory: Path, extra: dict) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
    }
    return subprocess.run(
        [str(PROJECT_DIR / ".venv/bin/ansible-playbook"), "-i", str(inventory),
         str(PROJECT_DIR / "playbooks/switches.yml"), "-e", json.dumps(extra)],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=300,
    )  # fmt: skip


def test_switches_get_their_nvue_file_applied_once(tmp_path):
    files = render_nvue(spectrum_x_design())
    render = tmp_path / "nvue"
    render.mkdir()
    for name, text in files.items():
        (render / name).write_text(text)
    log = tmp_path / "nv.log"
    nv = tmp_path / "nv"
    nv.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    nv.chmod(0o755)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"switches": {"hosts": {
        s: {"ansible_connection": "local", "ansible_become": False,
            "ansible_python_interpreter": str(PROJECT_DIR / ".venv/bin/python")}
        for s in SWITCHES}}}))  # fmt: skip
    extra = {
        "nvue_switch_render_dir": str(render),
        "nvue_switch_dest": str(tmp_path / "{{ inventory_hostname }}" / "startup-staged.yaml"),
        "nvue_switch_nv": str(nv),
    }
    first = playbook(tmp_path, inventory, extra)
    assert first.returncode == 0, first.stdout + first.stderr
    for s in SWITCHES:
        staged = tmp_path / s / "startup-staged.yaml"
        assert staged.read_text() == files[f"{s}.yaml"]
    calls = log.read_text().splitlines()
    assert sorted(calls) == sorted(
        [f"config replace {tmp_path / s / 'startup-staged.yaml'}" for s in SWITCHES]
        + ["config apply --assume-yes"] * len(SWITCHES)
    )
    # replace (which validates) comes before apply
    assert calls[0].startswith("config replace ") and calls[-1] == "config apply --assume-yes"
    again = playbook(tmp_path, inventory, extra)
    assert again.returncode == 0, again.stdout + again.stderr
    assert log.read_text().splitlines() == calls  # nothing re-applied
    assert all(f"{s}" in again.stdout and "changed=0" in again.stdout for s in SWITCHES)


def test_a_switch_without_a_rendered_file_stops_with_the_command_to_run(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"switches": {"hosts": {"p0-spine-009": {
        "ansible_connection": "local", "ansible_become": False,
        "ansible_python_interpreter": str(PROJECT_DIR / ".venv/bin/python")}}}}))  # fmt: skip
    r = playbook(tmp_path, inventory, {"nvue_switch_render_dir": str(tmp_path / "none")})
    assert r.returncode != 0
    assert "supercluster fabric render --stack" in r.stdout
    assert shutil.which("nv") is None  # the real tool is not here: the stub stood in
