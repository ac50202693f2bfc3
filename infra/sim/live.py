"""Live simulated nodes: each node boots a real systemd under systemd-nspawn.

The plain nodes of infra.sim.fleet run sshd as PID 1 over the host's own root: fast (64
nodes in seconds) but without systemd, so the roles' live branches (units started,
handlers restarting services, networkd, the reboot) never run there. A LiveFleet node is
a container booted by `systemd-nspawn --boot` (Debian's systemd-container):

- root: an overlayfs whose lower layer is a Debian 12 minbase root made by debootstrap
  (LIVE_PACKAGES: systemd, openssh-server, python3, ... and the distribution's RDMA
  packages a site's OS image carries), built once per machine under
  /var/cache/supercluster/live-root-<hash of suite, packages and set-up> and shared
  read-only by every node; each node writes to its own upper dir under the state dir;
- no private network: nspawn shares the host's network, and each node's sshd (Debian's
  ssh.service, started by the node's systemd) listens on the node's own 127.x address;
  its own ed25519 host key, the project's client key authorized for root (as Fleet);
- the hardware fixtures of infra.sim.hardware (nvidia-smi, ibstat, /sys/module) rendered
  into the upper dir and bind-mounted as on plain nodes, plus a `modprobe` that answers
  for the fixture's kernel modules (no GPU or HCA module can load in a container that
  shares this machine's kernel: the one stand-in, see MODPROBE);
- a reboot is real: systemd inside shuts down, nspawn exits with status 133 (its
  "reboot" code, as systemd-nspawn@.service's RestartForceExitStatus=133 knows), and the
  node's supervisor loop boots the container again on the same disk. A new boot gets a new
  /proc/sys/kernel/random/boot_id from nspawn, which ansible.builtin.reboot waits for.

Every node runs under `unshare --mount --pid --fork` like a plain node: the overlay is
mounted inside that private mount namespace and the supervisor is the namespace's PID 1,
so SIGKILL of it (`crash`, `down`) takes nspawn, the container and every mount at once;
nothing is mounted in the host's namespace and no machine is registered (--register=no).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from infra import childenv
from infra.sim import hardware as hw_fixtures
from infra.sim.fleet import (
    Fleet,
    FleetEnvironmentError,
    FleetError,
    NodeStatus,
    _require_tools,
    _wait_for_ssh,
)

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
CACHE_DIR = Path("/var/cache/supercluster")
# What the shared root holds: a systemd that boots, the SSH server Ansible and paramiko
# log in to, Python for Ansible's modules (python3-apt for its apt module), and the
# distribution packages the roles expect a site's OS image to have or install (the rdma
# role's distro stack, pciutils for the ACS unit): the simulated site has no Debian
# mirror, only the vendor mirror.
LIVE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "udev",
    "kmod",
    "iproute2",
    "procps",
    "openssh-server",
    "python3",
    "python3-apt",
    "pciutils",
    "rdma-core",
    "ibverbs-utils",
    "infiniband-diags",
    "perftest",
)
# Bumped when _finish_root changes what it does to the debootstrapped tree.
ROOT_SETUP_VERSION = "1"
# Timers that would take apt's lock under a running playbook (Debian's daily apt jobs)
# or do nothing useful in a container: masked in the shared root.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-timesyncd.service",
    "getty@tty1.service",
)
NSPAWN_REBOOT = 133  # systemd-nspawn's exit status when the container rebooted

# The node's supervisor, PID 1 of its own mount and PID namespaces. Arguments: $1 node
# dir, $2 lower root, $3 the node's cgroups (colon-separated), then systemd-nspawn's
# arguments. It mounts the node's overlay and boots the container, again after each
# reboot; any other exit (a poweroff, a failure) ends the node. The node's own cgroup in
# each hierarchy nspawn uses: nspawn puts itself and the container's systemd into
# supervisor/ and payload/ under its own cgroup, which would otherwise be the host's root
# cgroup, shared by every node. nspawn's lock and propagation dirs under /run/systemd/nspawn
# get a private tmpfs, so nothing of a node is left on the host's /run.
LIVE_INIT = r"""
set -u
node=$1; lower=$2; cgroups=$3; shift 3
root=$node/root
# This PID namespace's own /proc: nspawn finds its container by PID in /proc.
mount -t proc proc /proc || exit 1
IFS=:
for cg in $cgroups; do mkdir -p "$cg" && echo $$ > "$cg/cgroup.procs" || exit 1; done
unset IFS
opts="lowerdir=$lower,upperdir=$node/upper,workdir=$node/work"
mount -t overlay overlay -o "$opts" "$root" || exit 1
boots=0
while :; do
  boots=$((boots + 1))
  # What the last boot left: nspawn's supervisor/ and payload/ cgroups (empty now).
  IFS=:
  for cg in $cgroups; do find "$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; done
  unset IFS
  # A fresh /run/systemd/nspawn per boot: the last boot's propagation mount may linger.
  if [ -d /run/systemd/nspawn ]; then
    if mountpoint -q /run/systemd/nspawn; then umount -R -l /run/systemd/nspawn; fi
    mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
  fi
  echo "supervisor: boot $boots"
  systemd-nspawn --directory="$root" "$@"
  rc=$?
  echo "supervisor: systemd-nspawn exited $rc"
  [ "$rc" -eq 133 ] || exit "$rc"
done
"""

# The one stand-in a live node needs beyond the hardware fixtures: it shares this
# machine's kernel, which has no GPU or HCA modules to load (and a container may load
# none). Like modprobe, it succeeds for a module that is already loaded (the fixture's
# /sys/module/<name> says which), and fails with modprobe's own message otherwise.
MODPROBE = r"""#!/bin/sh
# supercluster live simulated node: written by infra/sim/live.py (stands for
# kmod's modprobe: the container shares a kernel without GPU/HCA modules).
rc=0
for arg in "$@"; do
  case "$arg" in
    -a|--all|-q|--quiet|-b|--use-blacklist|-v|--verbose) continue ;;
    -*) echo "modprobe: option $arg not supported on a simulated node" >&2; exit 1 ;;
  esac
  name=$(printf '%s' "$arg" | tr - _)
  if [ ! -e "/sys/module/$name" ]; then
    echo "modprobe: FATAL: Module $arg not found in directory /lib/modules/$(uname -r)" >&2
    rc=1
  fi
done
exit $rc
"""


class LiveFleet(Fleet):
    """Simulated nodes that boot systemd (see the module docstring). Same interface as
    Fleet; `live` is true, so the inventory marks the nodes live."""

    live = True

    def __init__(self, state_dir: Path | str, *, cache_dir: Path | str = CACHE_DIR):
        super().__init__(state_dir)
        self.cache_dir = Path(cache_dir)
        self.lower = root_path(self.cache_dir)

    def up(
        self,
        hosts: Iterable[tuple[str, str]],
        hardware: Mapping[str, hw_fixtures.Hardware] | hw_fixtures.Hardware | None = None,
        *,
        ready_timeout_s: float = 120.0,
        shared: Iterable[Path] = (),
    ) -> list[NodeStatus]:
        if list(shared):
            raise FleetEnvironmentError(
                "live nodes run the Debian root's own Python: no host directories are shared"
            )
        self._require_tools()
        self.lower = build_root(self.cache_dir)
        return super().up(hosts, _with_kernel_modules(hardware), ready_timeout_s=ready_timeout_s)

    def _require_tools(self) -> None:
        _require_tools()
        missing = [t for t in ("systemd-nspawn", "debootstrap") if not shutil.which(t)]
        if missing:
            raise FleetEnvironmentError(
                f"live nodes need {', '.join(missing)} (Debian packages systemd-container, "
                "debootstrap: run scripts/setup.sh)"
            )

    def _prepare_node(self, name, ip, host_key, per_node) -> None:
        super()._prepare_node(name, ip, host_key, per_node)
        upper = self.state_dir / "nodes" / name / "upper"
        # Its own machine ID (journald, D-Bus and nspawn's --uuid read it), kept across
        # reboots like a real disk's.
        (upper / "etc/machine-id").write_text(_machine_id(name) + "\n")
        sbin = upper / "usr/local/sbin"
        sbin.mkdir(parents=True, exist_ok=True)
        (sbin / "modprobe").write_text(MODPROBE)
        (sbin / "modprobe").chmod(0o755)

    def _node_command(self, name: str, node: Path, binds: dict[str, str]) -> list[str]:
        nspawn = [
            "--boot",
            "--quiet",
            f"--machine={name}",
            f"--hostname={name}",
            f"--uuid={_machine_id(name)}",
            # No machined or host systemd to register with: the node is ours alone.
            "--register=no",
            "--keep-unit",
            "--console=passive",
            "--link-journal=no",
            "--resolv-conf=off",
            "--timezone=off",
        ]
        # The hardware fixtures' kernel views (/sys/module; /proc/modules where the
        # kernel has modules), read-only as the kernel's are.
        nspawn += [f"--bind-ro={src}:{dst}" for dst, src in sorted(binds.items())]
        cgroups = ":".join(str(c) for c in self._cgroups(name))
        return [LIVE_INIT, "live-node", str(node), str(self.lower), cgroups, *nspawn]

    def _cgroups(self, name: str) -> list[Path]:
        """The node's cgroup in each hierarchy nspawn uses (the named systemd v1 one and
        the unified v2 one on a hybrid host; the one v2 tree on a unified host), named
        after the node's dir so that two fleets' nodes never share one."""
        tag = hashlib.sha256(str(self.state_dir / "nodes" / name).encode()).hexdigest()[:12]
        leaf = Path(CGROUP_PARENT) / f"{name}-{tag}"
        return [base / leaf for base in _cgroup_bases()]

    def down(self, timeout_s: float = 20.0) -> None:
        """As Fleet.down, then remove the nodes' cgroups (empty once their processes are
        gone; nspawn's supervisor/ and payload/ and the container's own under them)."""
        cgroups = [c for name in self.nodes() for c in self._cgroups(name)]
        super().down(timeout_s)
        for cgroup in cgroups:
            _remove_cgroup(cgroup)
        for base in _cgroup_bases():
            with contextlib.suppress(OSError):  # still holding another fleet's nodes
                (base / CGROUP_PARENT).rmdir()

    def crash(self, name: str) -> None:
        super().crash(name)
        for cgroup in self._cgroups(name):
            _remove_cgroup(cgroup)

    def wait_booted(self, name: str, boots: int, timeout_s: float = 120.0) -> None:
        """Wait until the node has booted `boots` times and its sshd answers again."""
        deadline = time.monotonic() + timeout_s
        while self.boots(name) < boots and time.monotonic() < deadline:
            time.sleep(0.1)
        left = max(1.0, deadline - time.monotonic())
        if self.boots(name) < boots or _wait_for_ssh([(name, self._node(name)["ip"])], left):
            raise FleetError(f"{name}: boot {boots} did not answer SSH: {self._log_tail(name)}")

    def boots(self, name: str) -> int:
        """How many times the node's container has booted (its supervisor's log)."""
        log = self.state_dir / "nodes" / name / "sshd.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return text.count("supervisor: boot ")


# In-tree modules of Debian's kernel that the rdma role loads (rdma_modules) besides the
# HCA driver the hardware fixture lists: on a server with an HCA, rdma-core's udev rules
# have loaded them; here the fixture's /sys/module shows them loaded, so the role's
# modprobe of them succeeds as it would there.
KERNEL_RDMA_MODULES = ("ib_umad", "ib_ipoib", "rdma_ucm")


def _with_kernel_modules(
    hardware: Mapping[str, hw_fixtures.Hardware] | hw_fixtures.Hardware | None,
) -> Mapping[str, hw_fixtures.Hardware] | hw_fixtures.Hardware | None:
    def extend(hw: hw_fixtures.Hardware) -> hw_fixtures.Hardware:
        extra = tuple(m for m in KERNEL_RDMA_MODULES if m not in hw.modules)
        return dataclasses.replace(hw, modules=hw.modules + extra)

    if hardware is None:
        return None
    if isinstance(hardware, hw_fixtures.Hardware):
        return extend(hardware)
    return {name: extend(hw) for name, hw in hardware.items()}


CGROUP_PARENT = "supercluster-live"


def _cgroup_bases() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # unified (v2 only)
        return [root]
    return [root / h for h in ("systemd", "unified") if (root / h / "cgroup.procs").exists()]


def _remove_cgroup(cgroup: Path) -> None:
    """rmdir a cgroup tree bottom-up (a cgroup dir is removed by rmdir, never unlink);
    processes may take a moment to leave after SIGKILL."""
    if not cgroup.exists():
        return
    dirs = sorted((p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for path in [*dirs, cgroup]:
        for _ in range(100):
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def _machine_id(name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.live.supercluster").hex


# -- the shared root ------------------------------------------------------------------


def root_hash(packages: Iterable[str] = LIVE_PACKAGES, suite: str = SUITE) -> str:
    text = "\n".join([suite, ROOT_SETUP_VERSION, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def root_path(cache_dir: Path = CACHE_DIR, packages: Iterable[str] = LIVE_PACKAGES) -> Path:
    return Path(cache_dir) / f"live-root-{root_hash(packages)}"


def build_root(
    cache_dir: Path | str = CACHE_DIR,
    packages: Iterable[str] = LIVE_PACKAGES,
    *,
    mirror: str | None = None,
) -> Path:
    """The shared Debian root for the package list, built with debootstrap when this
    machine has none yet (minutes; then cached). Concurrent callers wait on one lock;
    a build that fails or is killed leaves only its scratch dir, removed by the next."""
    packages = tuple(packages)
    root = root_path(Path(cache_dir), packages)
    done = root / ".supercluster-live-root"
    if done.exists():
        return root
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    lock_path = Path(cache_dir) / f".{root.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return root
        scratch = root.with_name(root.name + ".building")
        for stale in (scratch, root):
            if stale.exists():
                shutil.rmtree(stale)
        mirror = mirror or os.environ.get("SUPERCLUSTER_LIVE_MIRROR") or MIRROR
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            str(scratch),
            mirror,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=childenv.minimal())
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise FleetEnvironmentError(
                f"debootstrap of the live nodes' root failed ({mirror}): {' | '.join(tail)}"
            )
        _finish_root(scratch, packages)
        scratch.rename(root)
    return root


def _finish_root(root: Path, packages: tuple[str, ...]) -> None:
    """Make the debootstrapped tree a shared, node-neutral image."""
    # Host keys and the machine ID are per node (written into each upper dir).
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    with contextlib.suppress(FileNotFoundError):
        (root / "var/lib/dbus/machine-id").unlink()
    # No distribution mirror on the simulated site: apt sees only the vendor mirror the
    # vendor_repo role adds (no download from the Internet during a converge).
    (root / "etc/apt/sources.list").write_text(
        "# supercluster live node image: no distribution mirror (infra/sim/live.py)\n"
    )
    for lists in (root / "var/lib/apt/lists").glob("*_Packages"):
        lists.unlink()
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    masked = root / "etc/systemd/system"
    for unit in MASKED_UNITS:
        link = masked / unit
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to("/dev/null")
    (root / ".supercluster-live-root").write_text(
        f"suite {SUITE}\nsetup {ROOT_SETUP_VERSION}\npackages {' '.join(sorted(packages))}\n"
    )
