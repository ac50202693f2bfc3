"""The check-mode summary folded into a review: per role and per scalable unit."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.design import compile_design
from infra.nodes import inventory
from infra.review.integrations import config_check, summarize_check
from infra.spec import parse_spec
from tests.review.helpers import base_spec


def _design():
    return compile_design(parse_spec(base_spec()), stack="review")


def test_check_summary_groups_by_role_and_su():
    design = _design()
    hosts = [n.name for n in design.nodes[:3]]
    result = SimpleNamespace(  # the fields of infra.nodes.configure.RunResult this reads
        stats={h: {"changed": 0} for h in [*hosts, "hall1-su001-n30"]},
        changed_hosts={hosts[0]: 2, hosts[1]: 1},
        changed_by_role=Counter({"nccl": 2, "host_tuning": 1}),
        unreachable={"hall1-su001-n30": "ssh: connection refused"},
        failed={},
    )
    out = summarize_check(result, design)
    assert out["status"] == "ok"
    assert out["summary"].startswith("2 of 3 reachable host(s) would change (3 task result(s))")
    assert "role nccl: 2 changed task result(s)" in out["details"]
    assert "su001: 2 host(s) would change" in out["details"]
    assert "unreachable hall1-su001-n30: ssh: connection refused" in out["details"]


def test_check_summary_all_unreachable():
    result = SimpleNamespace(
        stats={"h1": {}},
        changed_hosts={},
        changed_by_role=Counter(),
        unreachable={"h1": "timeout"},
        failed={},
    )
    assert summarize_check(result, _design())["status"] == "unreachable"


def test_config_check_without_inventory_says_so(tmp_path: Path):
    out = config_check("review", tmp_path, _design())
    assert out["status"] == "unavailable"
    assert "Ansible check mode was not run" in out["summary"]


@pytest.mark.integration
def test_config_check_runs_ansible_check_mode_and_counts_unreachable(tmp_path: Path, project_dir):
    """The real configure runner (ansible-runner, site.yml in check mode) against an
    inventory whose one host refuses connections: reported, not fatal."""
    project = tmp_path / "project"
    (project / "inventory" / "review").mkdir(parents=True)
    for part in ("playbooks", "ansible.cfg", "inventory/group_vars"):
        (project / part).symlink_to(project_dir / part)
    defaults = inventory.render_defaults("review", inventory.shared_defaults(project_dir))
    (project / "inventory" / "review" / "defaults.yml").write_text(defaults)
    (project / "inventory" / "review" / "hosts.yml").write_text(
        "all:\n  children:\n    gpu_nodes:\n      hosts:\n        hall1-su001-n01:\n"
        "          ansible_host: 127.0.9.250\n          ansible_port: 1\n"
        "          node_su: su001\n"
    )
    out = config_check("review", project, _design())
    assert out["status"] == "unreachable", out
    assert "1 unreachable" in out["summary"]
    assert any(d.startswith("unreachable hall1-su001-n01:") for d in out["details"])
    assert (project / "artifacts" / "plan" / "review").is_dir()  # the run's events
