"""One GPUDirect path per RDMA stack, on real sshd nodes (127.0.81.x): with rdma_stack doca
the nvidia_driver role (gpu.yml, after the driver is installed) writes nvidia_peermem's
modprobe order and boot load; back on distro it removes them (DMA-BUF needs neither). The
acceptance checks the chosen path: peermem loaded on doca, the open kernel module on
distro (the fixtures' /proc/modules and /proc/driver/nvidia/version)."""

from __future__ import annotations

import pytest
from siteutil import running_site

from infra.sim.hardware import DEFAULT_MODULES, Hardware

pytestmark = pytest.mark.integration

ONE_BATCH = {"supercluster_serial": "100%"}
NO_PEERMEM = tuple(m for m in DEFAULT_MODULES if m != "nvidia_peermem")
FILES = (
    "/etc/modprobe.d/supercluster-nvidia-peermem.conf",
    "/etc/modules-load.d/supercluster-nvidia-peermem.conf",
)
NCCL_CONF = "NCCL_IB_HCA==" + ",".join(f"mlx5_{r}:1" for r in range(8)) + "\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    hardware = {
        "node01": Hardware(nccl_conf=NCCL_CONF),  # open module, peermem loaded
        "node02": Hardware(nccl_conf=NCCL_CONF, modules=NO_PEERMEM),  # open, no peermem
        "node03": Hardware(nccl_conf=NCCL_CONF, open_module=False),  # proprietary
    }
    with running_site(
        tmp_path_factory.mktemp("gpudirect"),
        3,
        "127.0.81.0/28",
        hardware=hardware,
        repo_host="127.0.81.254",
    ) as s:
        yield s


def _present(site, host: str) -> list[str]:
    out = site.ssh(
        host, "for f in " + " ".join(FILES) + '; do [ -e "$f" ] && echo "$f"; done; true'
    )
    return out.split()


def test_doca_sets_up_peermem_after_the_driver_and_distro_removes_it(site):
    doca = site.run(
        playbook="gpu",
        tags="nvidia_driver",
        extravars={**ONE_BATCH, "rdma_stack": "doca"},
        out=None,
    )
    assert doca.rc == 0, doca.failed
    assert _present(site, "node01") == list(FILES)
    conf = site.ssh("node01", f"cat {FILES[0]}")
    assert "softdep nvidia_peermem pre: ib_core mlx5_ib nvidia" in conf
    distro = site.run(playbook="gpu", tags="nvidia_driver", extravars=ONE_BATCH, out=None)
    assert distro.rc == 0, distro.failed
    assert _present(site, "node01") == []


def test_network_play_no_longer_touches_peermem(site):
    run = site.run(playbook="network", tags="rdma", extravars={**ONE_BATCH, "rdma_stack": "doca"},
                   out=None, check=True)  # fmt: skip
    # DOCA-OFED is not in the test mirror: check mode only, and no peermem task in the play.
    assert not any("peermem" in task for _, _, task in run.changed_tasks), run.changed_tasks


def test_acceptance_checks_the_chosen_path(site):
    distro = site.run(playbook="acceptance", extravars=ONE_BATCH, out=None)
    assert set(distro.failed) == {"node03"}, distro.failed
    assert "node03: gpudirect: found kernel" in distro.failed["node03"]
    assert "proprietary kernel module (expected DMA-BUF" in distro.failed["node03"]
    doca = site.run(playbook="acceptance", extravars={**ONE_BATCH, "rdma_stack": "doca"}, out=None)
    assert set(doca.failed) == {"node02"}, doca.failed
    assert (
        "node02: gpudirect: found not loaded (expected nvidia_peermem loaded"
        in (doca.failed["node02"])
    )


def test_proprietary_modules_refused_on_the_distro_stack(site):
    run = site.run(
        playbook="gpu",
        tags="nvidia_driver",
        limit="node01",
        extravars={**ONE_BATCH, "nvidia_driver_open_modules": False},
        out=None,
    )
    assert run.rc != 0
    assert "needs the open kernel modules" in run.failed["node01"]
