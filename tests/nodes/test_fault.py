"""A node's sshd dies in the middle of a run: the others complete, that node is reported
unreachable with its reason and lands in the retry list, and a retry limited to it
converges once the node is back.

Fresh 3-node site on 127.0.10.17-19. Unreachable hosts count as failed for
max_fail_percentage; one node of three is 33%, so the run allows 50% here (a site's batch
is a scalable unit of 32 nodes, where 10% tolerates three)."""

from __future__ import annotations

import io
import json
import threading

import pytest
from siteutil import running_site

from infra.nodes import configure
from infra.progress import Progress

pytestmark = pytest.mark.integration

VICTIM = "node02"
RAIL7 = "/etc/systemd/network/60-supercluster-ipoib-rail7.network"
TOLERANT = {"supercluster_serial": "100%", "supercluster_max_fail_percentage": 50}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("fault"), 3, "127.0.10.16/28") as s:
        yield s


def test_sshd_killed_mid_run_then_retry_converges(site):
    killed = threading.Event()

    def on_event(event: dict) -> None:
        # Kill once the run is well under way: when the IPoIB role starts (RDMA is done).
        data = event.get("event_data", {})
        if (
            not killed.is_set()
            and event.get("event") == "playbook_on_task_start"
            and data.get("role") == "ipoib"
        ):
            # Power the node off hard: sshd (its PID 1) and everything in it die at once.
            site.fleet.crash(VICTIM)
            killed.set()

    # The network playbook (RDMA stack, then IPoIB) keeps the test short; site.yml is the
    # same mechanism with more plays.
    live = io.StringIO()
    shown = Progress("configure", asked=True, stream=live)  # the tallies too, as on a tty
    result = site.run(
        playbook="network", extravars=TOLERANT, on_event=on_event, out=live, progress=shown
    )
    assert killed.is_set()
    assert result.rc != 0
    assert set(result.unreachable) == {VICTIM}, (result.unreachable, result.failed)
    assert result.failed == {}
    assert result.unreachable[VICTIM].startswith("ipoib : ")
    for other in ("node01", "node03"):
        stats = result.stats[other]
        assert stats["failures"] == 0 and stats["dark"] == 0 and stats["changed"] > 0
        # Converged to the end of the playbook (IPoIB is its last role).
        assert "Name=ib7" in site.ssh(other, f"cat {RAIL7}")
    assert result.retry_file.read_text() == f"{VICTIM}\n"
    summary = json.loads((result.artifacts / "summary.json").read_text())
    assert list(summary["unreachable"]) == [VICTIM]
    assert any((result.artifacts / "job_events").iterdir())
    # What the operator saw live, and the report at the end.
    progress = live.getvalue()
    assert "PLAY Install the RDMA stack and configure IPoIB per rail" in progress
    assert f"UNREACHABLE {VICTIM}: ipoib : " in progress
    assert "rdma : Load the RDMA modules at boot: 3 ok (3 changed)" in progress
    report = io.StringIO()
    configure.report(result, report, lambda f: f"supercluster configure --limit @{f}")
    text = report.getvalue()
    assert f"unreachable hosts:\n  {VICTIM}: ipoib : " in text
    assert f"retry only these hosts: supercluster configure --limit @{result.retry_file}" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if "node0" in line}
    assert rows[VICTIM][3] == "1"  # the unreachable column

    site.fleet.restart(VICTIM)  # same disk and host key, like a rebooted server
    retry = site.run(
        playbook="network", limit=f"@{result.retry_file}", extravars=TOLERANT, out=None
    )
    assert retry.rc == 0, (retry.failed, retry.unreachable)
    assert set(retry.stats) == {VICTIM}
    assert retry.stats[VICTIM]["changed"] > 0
    assert "Name=ib7" in site.ssh(VICTIM, f"cat {RAIL7}")
    modules = site.ssh(VICTIM, "cat /etc/modules-load.d/supercluster-rdma.conf")
    assert "mlx5_ib" in modules  # the RDMA stack's part of the run, before IPoIB
