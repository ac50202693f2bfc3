"""Every role against real sshd nodes: check mode reports changes, the real run applies
them (in rolling batches), a second run changes nothing, check mode then reports nothing;
then the nodes' files and package states, the fabric-manager lock and acceptance.

One 3-node site for the module (127.0.10.1-3); node03's hardware fixture has a GPU missing
and rail 3 down so acceptance must name it. Roles run together (site.yml) to keep the
module within a few minutes on a 2-core machine."""

from __future__ import annotations

import json

import pytest
from siteutil import running_site

from infra.sim.hardware import Hardware

pytestmark = pytest.mark.integration

ROLES = (
    "vendor_repo",
    "host_tuning",
    "rdma",
    "ipoib",
    "nvidia_driver",
    "nvidia_fabricmanager",
    "dcgm",
    "nccl",
)
ONE_BATCH = {"supercluster_serial": "100%"}
DRIVER = "550.90.07-1"
NCCL = "2.21.5-1+cuda12.4"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    hardware = {
        "node01": Hardware(),
        "node02": Hardware(),
        "node03": Hardware(gpus=7, rails_down=(3,)),
    }
    with running_site(
        tmp_path_factory.mktemp("converge"), 3, "127.0.10.0/28", hardware=hardware
    ) as s:
        yield s


@pytest.fixture(scope="module")
def runs(site):
    """The four runs, in order (later tests read their results)."""
    out = {}
    out["check1"] = site.run(check=True, diff=True, extravars=ONE_BATCH, out=None)
    out["apply1"] = site.run(out=None)  # rolling: a canary batch, then the rest of the SU
    out["apply2"] = site.run(extravars=ONE_BATCH, out=None)
    out["check2"] = site.run(check=True, extravars=ONE_BATCH, out=None)
    return out


def _hosts(result):
    return set(result.stats)


def test_check_mode_reports_changes_of_every_role(runs):
    check = runs["check1"]
    assert check.rc == 0, (check.failed, check.unreachable)
    assert _hosts(check) == {"node01", "node02", "node03"}
    missing = [r for r in ROLES if check.changed_by_role[r] == 0]
    assert not missing, f"check mode reported no change for {missing}"


def test_real_run_applies_every_role_in_rolling_batches(runs):
    apply = runs["apply1"]
    assert apply.rc == 0, (apply.failed, apply.unreachable)
    missing = [r for r in ROLES if apply.changed_by_role[r] == 0]
    assert not missing, f"the real run changed nothing in {missing}"
    assert all(s["changed"] > 0 for s in apply.stats.values())
    # Canary batch (node01), then the rest of su001: every play runs twice, batch by batch.
    stdout = (apply.artifacts / "stdout").read_text()
    # ... plus the subnet managers' play once: no host of this inventory is one.
    assert stdout.count("PLAY [Subnet managers]") == 1
    assert stdout.count("PLAY [") == 2 * 5 + 1
    first_batch = stdout.split("PLAY [")[1]
    assert "node01" in first_batch and "node02" not in first_batch


def test_second_run_changes_nothing(runs):
    again = runs["apply2"]
    assert again.rc == 0, (again.failed, again.unreachable)
    assert again.changed_hosts == {}, again.changed_tasks
    assert all(s["ok"] > 0 for s in again.stats.values())


def _outcomes(result, task: str) -> dict[str, str]:
    """host -> runner event (runner_on_ok, runner_on_skipped, ...) of one task in a run."""
    found = {}
    for path in (result.artifacts / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        kind = event["event"]
        if data.get("task") == task and kind.startswith("runner_on_") and kind != "runner_on_start":
            found[data["host"]] = kind
    return found


def test_second_run_skips_apt_and_fact_gathering(runs):
    # Packages already at their pins: the dpkg query says so and apt never loads its cache.
    hosts = {"node01", "node02", "node03"}
    for task in ("Install the pinned driver (apt)", "Install the pinned NCCL (apt)"):
        assert _outcomes(runs["apply1"], task) == dict.fromkeys(hosts, "runner_on_ok"), task
        assert _outcomes(runs["apply2"], task) == dict.fromkeys(hosts, "runner_on_skipped"), task
    # Facts come from the cache the earlier runs filled (gathering = smart).
    assert _outcomes(runs["check1"], "Gathering Facts") == dict.fromkeys(hosts, "runner_on_ok")
    assert _outcomes(runs["apply2"], "Gathering Facts") == {}


def test_check_mode_after_converge_reports_nothing(runs):
    check = runs["check2"]
    assert check.rc == 0, (check.failed, check.unreachable)
    assert check.changed_hosts == {}, check.changed_tasks


def _package(site, host, name):
    return site.ssh(host, f"dpkg-query -W -f='${{Status}} ${{Version}}' {name}").strip()


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("nvidia-driver", DRIVER),
        ("nvidia-kernel-open-dkms", DRIVER),
        ("nvidia-persistenced", DRIVER),
        ("nvidia-fabricmanager-550", DRIVER),
        ("libnccl2", NCCL),
        ("libnccl-dev", NCCL),
        ("nccl-tests", "2.13.9-1"),
        ("datacenter-gpu-manager", "1:3.3.6"),
    ],
)
def test_vendor_packages_pinned_and_held(site, runs, name, version):
    # The repository also holds newer releases (550.127.05, NCCL 2.23.4): the pin chose.
    assert _package(site, "node02", name) == f"hold ok installed {version}"


def test_distro_rdma_packages_installed(site, runs):
    for name in ("rdma-core", "ibverbs-utils", "infiniband-diags", "perftest"):
        assert _package(site, "node01", name).startswith("install ok installed")


def test_nccl_conf_lists_the_designed_rails(site, runs):
    conf = site.ssh("node03", "cat /etc/nccl.conf")
    hcas = ",".join(f"mlx5_{r}:1" for r in range(8))
    assert f"NCCL_IB_HCA=={hcas}\n" in conf
    assert "NCCL_IB_TIMEOUT=22\n" in conf
    assert "NCCL_SOCKET_IFNAME=^lo,docker\n" in conf


def test_persistent_kernel_and_boot_configuration(site, runs):
    files = site.ssh(
        "node01",
        "cat /etc/security/limits.d/90-supercluster-memlock.conf "
        "/etc/sysctl.d/90-supercluster-rdma.conf /etc/default/grub.d/90-supercluster.cfg",
    )
    # The distribution's RDMA stack (rdma_stack: distro) and the open modules: GPUDirect
    # RDMA over DMA-BUF, so nothing sets up nvidia_peermem (docs/fleet.md).
    peermem = site.ssh("node01", "ls /etc/modules-load.d /etc/modprobe.d")
    assert "peermem" not in peermem
    assert "*    hard    memlock    unlimited" in files
    assert "net.ipv4.conf.all.rp_filter = 2" in files
    assert "iommu=pt" in files
    # The ACS unit is enabled for boot; the persistence daemon, fabric manager and DCGM too.
    wants = site.ssh("node01", "ls /etc/systemd/system/multi-user.target.wants/").split()
    for unit in (
        "supercluster-acs-disable.service",
        "nvidia-persistenced.service",
        "nvidia-fabricmanager.service",
        "nvidia-dcgm.service",
    ):
        assert unit in wants
    assert (
        site.ssh("node01", "test -x /usr/local/sbin/supercluster-acs-disable && echo ok") == "ok\n"
    )
    # Not live: no reboot happened, the reasons are recorded for the next maintenance.
    reasons = site.ssh("node01", "ls /var/lib/supercluster/reboot-required.d/").split()
    assert sorted(reasons) == ["host_tuning", "nvidia_driver"]


def test_ipoib_interfaces_per_rail(site, runs):
    unit = site.ssh("node03", "cat /etc/systemd/network/60-supercluster-ipoib-rail5.network")
    assert "Name=ib5" in unit
    assert "Address=100.69.0.3/16" in unit  # rail 5 of node index 2
    count = site.ssh("node03", "ls /etc/systemd/network/ | grep -c supercluster-ipoib")
    assert count.strip() == "8"


def test_fabricmanager_refuses_a_version_other_than_the_driver(site, runs):
    result = site.run(
        playbook="gpu",
        tags="nvidia_fabricmanager",
        extravars={**ONE_BATCH, "nvidia_fabricmanager_version": "550.54.15"},
        out=None,
    )
    assert result.rc != 0
    assert set(result.failed) == {"node01", "node02", "node03"}
    assert "differs from nvidia_driver_version 550.90.07" in result.failed["node01"]
    assert _package(site, "node01", "nvidia-fabricmanager-550") == f"hold ok installed {DRIVER}"


def test_fabricmanager_refuses_when_the_installed_driver_differs(site, runs):
    # Both pins moved but only the fabric manager runs: the installed driver is still 550.90.07.
    moved = {"nvidia_driver_version": "550.54.15", "nvidia_fabricmanager_version": "550.54.15"}
    result = site.run(
        playbook="gpu",
        tags="nvidia_fabricmanager",
        limit="node02",
        extravars={**ONE_BATCH, **moved},
        out=None,
    )
    assert result.rc != 0
    assert "installed nvidia-driver 550.90.07-1 differs" in result.failed["node02"]


def test_acceptance_names_the_failing_host_and_checks(site):
    # Acceptance probes the hardware (the fixtures) against the design and the pins.
    result = site.run(playbook="acceptance", extravars=ONE_BATCH, out=None)
    assert result.rc != 0
    assert set(result.failed) == {"node03"}, result.failed
    reason = result.failed["node03"]
    assert "node03: gpu count: found 7 (expected 8)" in reason
    assert "node03: rail 3 (mlx5_3): port state Down (expected Active)" in reason
    assert result.stats["node01"]["failures"] == 0
    assert result.stats["node02"]["failures"] == 0
