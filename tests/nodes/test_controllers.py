"""configure split over several controllers (ansible-runner transmit | worker over SSH |
process): 24 nodes in 3 SUs on 127.0.54.x, 3 controller hosts on 127.0.53.x running the
project's venv. site.yml converges through them with the events merged in one report, a
re-run changes nothing; a controller killed mid-run loses its shard only, which is
reported (finished and unfinished hosts) and converges on retry; a spent site failure
budget stops every shard."""

from __future__ import annotations

import io
import json
import shutil
import threading

import pytest
from fleetutil import running_fleet
from siteutil import PROJECT_DIR, running_site

from infra.nodes import shards
from infra.sim.fleet import venv_python_dirs

pytestmark = pytest.mark.integration

NODES = 24
SU_OF = {f"node{i:02d}": f"su{(i - 1) // 8 + 1:03d}" for i in range(1, NODES + 1)}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("controllers")
    with (
        running_site(tmp, NODES, "127.0.54.0/27", su_of=SU_OF) as s,
        running_fleet(
            tmp / "ctl", 3, network="127.0.53.0/29", prefix="ctl", shared=venv_python_dirs()
        ) as ctl,
    ):
        s.controllers = shards.controllers_from(
            ["ctl01", "ctl02", "ctl03"], json.loads(ctl.connection.read_text())
        )
        s.ctl = ctl
        yield s


def _run(site, **kwargs) -> shards.ShardedResult:
    return shards.run(
        project_dir=PROJECT_DIR,
        inventory_dir=site.inventory_dir,
        controllers=site.controllers,
        artifacts_dir=site.artifacts_dir,
        **kwargs,
    )


def test_shards_are_whole_scalable_units(site):
    planned = shards.plan_shards(site.inventory_dir, None, site.controllers, "su")
    assert [s.units for s in planned] == [["su_su001"], ["su_su002"], ["su_su003"]]
    assert [len(s.hosts) for s in planned] == [8, 8, 8]


def test_site_converges_through_three_controllers_then_changes_nothing(site):
    live = io.StringIO()
    first = _run(site, out=live)
    assert first.result.rc == 0, (first.result.failed, first.result.unreachable)
    assert [s.status for s in first.shards] == ["successful"] * 3
    # One report: every node's stats, each from the shard that ran it.
    assert sorted(first.result.stats) == sorted(SU_OF)
    assert all(st["changed"] > 0 and st["failures"] == 0 for st in first.result.stats.values())
    assert all(len(s.finished) == 8 and s.cpu_s and s.cpu_s > 0 for s in first.shards)
    assert "through 3 controllers (ctl01: 8, ctl02: 8, ctl03: 8)" in live.getvalue()
    summary = json.loads((first.result.artifacts / "summary.json").read_text())
    assert [s["controller"] for s in summary["shards"]] == ["ctl01", "ctl02", "ctl03"]
    assert "nccl" in first.result.changed_by_role
    # Rolling batches inside each shard: a canary, then the rest of its SU.
    events = list((first.result.artifacts / "shard0-ctl01").rglob("job_events/*.json"))
    assert events
    again = _run(site, out=None)
    assert again.result.rc == 0
    assert again.result.changed_hosts == {}, again.result.changed_tasks[:10]
    assert sorted(again.result.stats) == sorted(SU_OF)


def test_controller_killed_mid_run_loses_its_shard_only(site):
    victim = site.controllers[1]
    killed = threading.Event()
    shard_hosts = {h for h, su in SU_OF.items() if su == "su002"}

    def on_event(event: dict) -> None:
        data = event.get("event_data", {})
        if (
            not killed.is_set()
            and event.get("event") == "runner_on_ok"
            and data.get("host") in shard_hosts
            and data.get("role") == "rdma"
        ):
            site.ctl.crash(victim.name)  # the controller's power goes: worker and all
            killed.set()

    # Undo what the converge left so the network playbook has work to do on every node.
    for host in SU_OF:
        site.ssh(host, "rm -f /etc/systemd/network/60-supercluster-ipoib-rail*.network")
    out = io.StringIO()
    lost = _run(site, playbook="network", on_event=on_event, out=out)
    assert killed.is_set()
    by_name = {s.controller.name: s for s in lost.shards}
    assert by_name[victim.name].status == "lost"
    assert set(by_name[victim.name].unfinished) <= shard_hosts
    assert by_name[victim.name].unfinished  # killed before any host got through
    for other in ("ctl01", "ctl03"):
        assert by_name[other].status == "successful"
        assert len(by_name[other].finished) == 8
    retry_hosts = set(lost.result.retry_file.read_text().split())
    assert retry_hosts == set(by_name[victim.name].unfinished)
    text = out.getvalue()
    shards.report(lost, out)
    assert f"{victim.name}" in out.getvalue() and "lost:" in out.getvalue()
    assert text  # the live part (the run's start line at least)

    site.ctl.restart(victim.name)
    retry = _run(site, playbook="network", limit=f"@{lost.result.retry_file}", out=None)
    assert retry.result.rc == 0, (retry.result.failed, retry.result.unreachable)
    assert set(retry.result.stats) == retry_hosts  # nothing else re-ran
    for host in retry_hosts:
        assert "Name=ib7" in site.ssh(
            host, "cat /etc/systemd/network/60-supercluster-ipoib-rail7.network"
        )


def test_spent_failure_budget_stops_every_shard(site):
    """Each shard alone would go on (its batches tolerate all failures here), but one
    unreachable node per SU is 3 of 24 hosts, past the site's budget of 2 (10%): every
    shard is stopped before its healthy hosts finish."""
    down = ["node01", "node09", "node17"]
    for host in down:
        site.fleet.crash(host)
    try:
        stopped = _run(
            site, playbook="network", extravars={"supercluster_max_fail_percentage": 100},
            out=None,
        )  # fmt: skip
    finally:
        for host in down:
            site.fleet.restart(host)
    assert stopped.budget == 2 and stopped.stopped
    assert stopped.result.rc != 0
    assert set(down) <= set(stopped.result.unreachable)
    assert [s.status for s in stopped.shards] == ["stopped"] * 3
    assert all(len(s.finished) < 7 for s in stopped.shards)


def test_controller_names_are_checked_and_sim_hosts_use_the_sims_ssh_config(tmp_path):
    from infra.errors import InputError

    sim = {"hosts": {"ctl1": "127.0.53.9"}, "ssh_config": str(tmp_path / "config")}
    ctl, other = shards.controllers_from(["ctl1", "ctl-b.example"], sim)
    assert ctl.ssh[-3:] == ("-F", str(tmp_path / "config"), "ctl1")
    assert "-F" not in other.ssh and "StrictHostKeyChecking=yes" in other.ssh
    for bad, why in ((["a", "a"], "named twice"), ([""], "at least one"),
                     (["-oProxyCommand=x"], "not a host name")):  # fmt: skip
        with pytest.raises(InputError, match=why):
            shards.controllers_from(bad, sim)


def test_the_last_play_is_found_through_the_imports():
    assert shards.last_play(PROJECT_DIR, "site") == shards.last_play(PROJECT_DIR, "reboot")
    assert shards.last_play(PROJECT_DIR, "site") == "Reboot nodes whose configuration needs it"


def test_cli_sim_controllers_and_configure_through_them(tmp_path, capsys):
    """The operator's path: `sim up --controllers 1` starts ctl1 after the nodes on the
    management network, `configure --controllers ctl1` runs through it, one JSON report."""
    from fleetutil import project_in_test_range

    from infra.cli import main

    project = project_in_test_range(PROJECT_DIR, tmp_path / "project", "127.0.56.0/26")
    # A project as a site keeps it: the stack, ansible.cfg, playbooks and shared vars.
    shutil.copy(PROJECT_DIR / "ansible.cfg", project / "ansible.cfg")
    (project / "playbooks").symlink_to(PROJECT_DIR / "playbooks")
    shutil.copytree(PROJECT_DIR / "inventory" / "group_vars", project / "inventory" / "group_vars")
    args = ["--stack", "dev", "--project-dir", str(project)]
    assert main(["sim", "up", *args, "--nodes", "2", "--controllers", "1"]) == 0
    try:
        hosts = json.loads((project / ".sim/fleet/connection.json").read_text())["hosts"]
        assert hosts["ctl1"] == "127.0.56.33"  # right after the 32 design nodes
        assert main(["inventory", *args, "--sim"]) == 0
        capsys.readouterr()
        code = main(["configure", *args, "--controllers", "ctl1", "--playbook", "host", "--json"])
        printed = capsys.readouterr()
        assert printed.out.strip(), (code, printed.err[-2000:])
        report = json.loads(printed.out[printed.out.index("{") :])
        assert code == 0, report
        assert [(s["controller"], s["hosts"], s["status"]) for s in report["shards"]] == [
            ("ctl1", 2, "successful")
        ]
        assert sorted(report["stats"]) == ["hall1-su001-n01", "hall1-su001-n02"]
    finally:
        assert main(["sim", "down", *args]) == 0
