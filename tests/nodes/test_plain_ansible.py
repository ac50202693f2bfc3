"""The playbooks run the Ansible way: `ansible-playbook -i inventory/<stack>
playbooks/site.yml` from the project root, with the generated inventory alone and the
environment an Ansible user has (no ANSIBLE_* variables: ansible.cfg, read from the
working directory, is the only setting), converges a simulated site; a second run
changes nothing; a site's own group_vars in inventory/<stack>/group_vars/ win over the
project's shared defaults (inventory/group_vars/all/, carried in as defaults.yml).

Two nodes on 127.0.46.1-2, the vendor repository on 127.0.46.254. Ansible's own strategy
(linear, no Mitogen), as a plain run has it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from siteutil import PROJECT_DIR, running_site

from infra.errors import InputError
from infra.nodes import inventory

PREFIX = "plain"  # host names of their own: the fact cache under artifacts/ is shared
HOSTS = ("plain01", "plain02")
SHARED_NCCL = "2.21.5-1+cuda12.4"  # inventory/group_vars/all/pins.yml
SITE_NCCL = "2.23.4-1+cuda12.4"  # the site's override (a release the test repo holds)
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def _user_env() -> dict[str, str]:
    """An Ansible user's shell: nothing from supercluster, no ANSIBLE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _fact_cache() -> Path:
    # ansible.cfg's fact_caching_connection, relative to the project root (the cwd).
    return PROJECT_DIR / "artifacts" / "ansible-facts"


def _cached(host: str) -> list[Path]:
    # The jsonfile cache names a host's file <prefix><host> (ansible-core 2.19: "s1_").
    return [
        p for p in _fact_cache().glob(f"*{host}") if p.name.endswith(f"_{host}") or p.name == host
    ]


def _forget_facts() -> None:
    for host in HOSTS:
        for path in _cached(host):
            path.unlink(missing_ok=True)


def _playbook(inventory_dir: Path) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory_dir),
            "playbooks/site.yml",
        ],
        cwd=PROJECT_DIR,
        env=_user_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    recap = proc.stdout.rsplit("PLAY RECAP", 1)[-1]
    stats = {}
    for line in recap.splitlines():
        if m := RECAP.match(line):
            ok, changed, unreachable, failed = map(int, m.groups()[1:])
            stats[m[1]] = {
                "ok": ok,
                "changed": changed,
                "unreachable": unreachable,
                "failed": failed,
            }
    return proc, stats


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _forget_facts()
    tmp = tmp_path_factory.mktemp("plain")
    with running_site(
        tmp, len(HOSTS), "127.0.46.0/29", prefix=PREFIX, repo_host="127.0.46.254"
    ) as s:
        # running_site wrote the site's mirror into group_vars/all/mirror.yml; add a pin.
        pins = s.inventory_dir / "group_vars" / "all" / "pins.yml"
        pins.write_text('nccl_version: "2.23.4"\n')
        try:
            yield s
        finally:
            _forget_facts()


@pytest.fixture(scope="module")
def runs(site):
    return [_playbook(site.inventory_dir), _playbook(site.inventory_dir)]


integration = pytest.mark.integration


@integration
def test_plain_ansible_playbook_converges(runs):
    proc, stats = runs[0]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert set(stats) == set(HOSTS), proc.stdout[-2000:]
    assert all(
        s["changed"] > 0 and not s["failed"] and not s["unreachable"] for s in stats.values()
    )
    # ansible.cfg applied from the project root: its jsonfile fact cache holds the hosts.
    assert all(_cached(host) for host in HOSTS)


@integration
def test_second_plain_run_changes_nothing(runs):
    proc, stats = runs[1]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert set(stats) == set(HOSTS)
    assert {h: s["changed"] for h, s in stats.items()} == dict.fromkeys(HOSTS, 0), proc.stdout


def _package(site, host: str, name: str) -> str:
    return site.ssh(host, f"dpkg-query -W -f='${{Status}} ${{Version}}' {name}").strip()


@integration
def test_site_group_vars_win_over_the_shared_defaults(site, runs):
    # The shared pin says NCCL 2.21.5; the site's inventory/<stack>/group_vars said 2.23.4.
    assert _package(site, "plain01", "libnccl2") == f"hold ok installed {SITE_NCCL}"
    assert SITE_NCCL != SHARED_NCCL
    # The shared mirror is mirror.invalid; the site's mirror.yml named the test repository.
    source = site.ssh("plain02", "cat /etc/apt/sources.list.d/*.list")
    assert site.repo_url in source and "mirror.invalid" not in source
    # Shared defaults the site did not override still apply: the driver pin.
    assert _package(site, "plain02", "nvidia-driver") == "hold ok installed 550.90.07-1"


# Fast checks of the carried defaults (no fleet).


def _project_with_shared_vars(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "inventory" / "group_vars", project / "inventory" / "group_vars")
    return project


def test_inventory_carries_the_shared_defaults_and_configure_checks_them(tmp_path):
    project = _project_with_shared_vars(tmp_path)
    defaults = inventory.shared_defaults(project)
    pins = yaml.safe_load((project / "inventory/group_vars/all/pins.yml").read_text())
    assert pins.items() <= defaults.items()
    assert "supercluster_package_query" in defaults
    out = tmp_path / "inv" / "dev"
    files = inventory.render("dev", [], {}, defaults=defaults)
    inventory.write(out, files)
    carried = yaml.safe_load((out / "defaults.yml").read_text())["all"]["vars"]
    assert carried == defaults
    inventory.check_defaults(project, out)  # current: accepted
    # A pin changed after the inventory was generated: refused, naming the command.
    pins_file = project / "inventory/group_vars/all/pins.yml"
    pins_file.write_text(pins_file.read_text() + 'nccl_version: "9.9.9"\n')
    with pytest.raises(InputError, match=r"supercluster inventory --stack dev"):
        inventory.check_defaults(project, out)
    (out / "defaults.yml").unlink()
    with pytest.raises(InputError, match="missing"):
        inventory.check_defaults(project, out)


def test_shared_defaults_follow_ansibles_file_order(tmp_path):
    base = tmp_path / "inventory" / "group_vars" / "all"
    (base / "sub").mkdir(parents=True)
    (base / "a.yml").write_text("k: a\nonly_a: 1\n")
    (base / "b.yaml").write_text("k: b\n")
    (base / "sub" / "c.yml").write_text("k: c\n")
    (base / ".hidden.yml").write_text("k: hidden\n")
    (base / "z.yml~").write_text("k: backup\n")
    (base / "notes.txt").write_text("k: txt\n")
    assert inventory.shared_defaults(tmp_path) == {"k": "c", "only_a": 1}
    (tmp_path / "inventory" / "group_vars" / "gpu_nodes.yml").write_text("k: g\n")
    with pytest.raises(InputError, match="only group_vars/all/ is shared"):
        inventory.shared_defaults(tmp_path)
