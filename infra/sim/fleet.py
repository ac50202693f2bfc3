"""A fleet of isolated Linux hosts, each with a real OpenSSH sshd on its own loopback address.

One node = one `unshare --mount --uts --pid --fork` process tree:
- its root is an overlayfs over the host's / (upper and work dirs under the state dir), so
  packages installed on a node stay on that node,
- fresh /proc (its own PID namespace), /run and /tmp tmpfs, its own hostname,
- the state dir is hidden under a tmpfs inside the node (nodes never see each other's
  layers or the project's private key),
- sshd runs as the namespace's PID 1 on 127.x.y.z:22 with a host key generated for that
  node; root logs in with the project's key only.
Nothing is mounted in the host's mount namespace: a node's mounts live and die with its
namespace, so killing PID 1 of a node removes its processes and mounts at once.

State dir layout:
  ssh/id_ed25519{,.pub}   the client key Ansible and paramiko log in with
  ssh/known_hosts         every node's host key under its name and its address
  ssh/config              OpenSSH client config (Host <name>, HostName <ip>, the above)
  fleet.json              nodes, addresses and the unshare PIDs (what `down` stops)
  connection.json         what Ansible/paramiko need: user, key, known_hosts, ssh config, hosts
  nodes/<name>/           upper/, work/, root/ (the mount point), sshd.log
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from infra import childenv, procs
from infra.errors import EnvironmentProblem
from infra.fsutil import atomic_write
from infra.sim import hardware as hw_fixtures
from infra.sim.keys import ed25519_pair, write_private

LOOPBACK = IPv4Network("127.0.0.0/8")
SSH_PORT = 22

# Runs inside the new namespaces (as their PID 1 until it execs sshd). Arguments:
# $1 node dir, $2 state dir, $3 hostname, then pairs "host path, node path" to bind-mount
# (the hardware fixtures' views of /sys/module and /proc/modules; "ro:<path>" read-only:
# the host's directories a controller node runs the project's venv from).
NODE_INIT = r"""
set -eu
node=$1; state=$2; name=$3; shift 3
root=$node/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$node/upper,workdir=$node/work" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/sshd" "$root/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
while [ "$#" -ge 2 ]; do
  case "$2" in
    ro:*) mount --bind "$1" "$root${2#ro:}"; mount -o remount,bind,ro "$root${2#ro:}" ;;
    *) mount --bind "$1" "$root$2" ;;
  esac
  shift 2
done
if [ -d "$root$state" ]; then mount -t tmpfs -o mode=0700,size=1m tmpfs "$root$state"; fi
hostname "$name"
exec chroot "$root" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
"""

SSHD_CONFIG = """\
# supercluster simulated node {name}: written by infra/sim/fleet.py
ListenAddress {ip}:{port}
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
# Fan-out tools and Ansible open many sessions at once; do not throttle them.
MaxStartups 512:30:1024
MaxSessions 64
LogLevel ERROR
"""

# Directories the node's files go into, created in the upper dir with the lower dir's
# owner and mode (an upper dir's attributes replace the lower one's in the merged view).
UPPER_DIRS = ("etc/apt/apt.conf.d", "etc/ssh", "root/.ssh", "usr/bin", "usr/sbin", "usr/share")

# A node is a server, not a container image layer: apt keeps its binary package cache
# (apt's default). Container base images (Debian's docker-clean, which the controller may
# carry and the overlay would inherit) switch it off, making every apt run on every node
# re-parse all package lists: about 0.9 s of CPU per apt task instead of 0.2 s.
APT_SERVER_CACHE = """\
// supercluster simulated node: apt's default binary caches (see infra/sim/fleet.py)
Dir::Cache::pkgcache "pkgcache.bin";
Dir::Cache::srcpkgcache "srcpkgcache.bin";
"""


class FleetError(RuntimeError):
    """The fleet could not be brought up or down; the message names the nodes."""


class FleetEnvironmentError(FleetError, EnvironmentProblem):
    """The machine lacks what the fleet needs (root, a tool, free node addresses, sshd
    that starts): exit 3 at the CLI, with what to do."""


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ip: str
    pid: int | None
    running: bool
    ssh: bool  # sshd answered with an SSH banner


class Fleet:
    """The simulated nodes under one state dir. Needs root (namespaces, mounts).

    The interface shared with infra.sim.live.LiveFleet (nodes that boot systemd): up,
    down, crash, restart, hosts, nodes, status, init_pid, key_path, known_hosts,
    ssh_config, connection. `live` says whether the nodes run systemd (the inventory's
    supercluster_live_state); subclasses change only the hooks marked as such."""

    live = False
    # Where a node's root comes from: its overlay's lower layer (hook).
    lower = Path("/")

    def __init__(self, state_dir: Path | str):
        self.state_dir = Path(state_dir).resolve()
        self.ssh_dir = self.state_dir / "ssh"
        self.key_path = self.ssh_dir / "id_ed25519"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.ssh_config = self.ssh_dir / "config"
        self.manifest = self.state_dir / "fleet.json"
        self.connection = self.state_dir / "connection.json"
        self._shared: list[Path] = []

    # -- up ---------------------------------------------------------------------------

    def up(
        self,
        hosts: Iterable[tuple[str, str]],
        hardware: Mapping[str, hw_fixtures.Hardware] | hw_fixtures.Hardware | None = None,
        *,
        ready_timeout_s: float = 30.0,
        shared: Iterable[Path] = (),
    ) -> list[NodeStatus]:
        """Start one node per (name, ip). `hardware` (one for all nodes, or per node name)
        installs the GPU/HCA fixture tools; None means plain hosts. `shared`: host
        directories every node sees read-only at the same path, where the overlay alone
        would not show them (the Python of the project's venv under the host's /root,
        which a node's own /root hides). Raises FleetError and stops what it started when a
        node does not answer SSH in time."""
        self._shared = [Path(p).resolve() for p in shared]
        hosts = _checked_hosts(hosts)
        if self.manifest.exists():
            raise FleetEnvironmentError(
                f"a fleet is already up under {self.state_dir}; run `supercluster sim down` first"
            )
        self._require_tools()
        busy = _answering(hosts)
        if busy:
            shown = ", ".join(f"{n} ({ip})" for n, ip in busy[:5])
            raise FleetEnvironmentError(
                f"something already listens on port {SSH_PORT} of {len(busy)} node "
                f"address(es): {shown}; another fleet still up? (`sim down`, or pick another range)"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_client_files(hosts, host_keys := self._host_keys(hosts))
        per_node = _hardware_for(hosts, hardware)
        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            list(
                pool.map(
                    lambda h: self._prepare_node(h[0], h[1], host_keys[h[0]][0], per_node),
                    hosts,
                )
            )
        nodes = {name: {"ip": ip, "pid": self._launch(name)} for name, ip in hosts}
        _write_json(self.manifest, {"nodes": nodes})
        failed = _wait_for_ssh([(n, ip) for n, ip in hosts], ready_timeout_s)
        if failed:
            logs = "; ".join(f"{n}: {self._log_tail(n)}" for n in failed[:3])
            self.down()
            raise FleetEnvironmentError(f"sshd did not answer on {len(failed)} node(s): {logs}")
        return self.status()

    def _host_keys(self, hosts: list[tuple[str, str]]) -> dict[str, tuple[bytes, str]]:
        return {name: ed25519_pair(f"root@{name}") for name, _ in hosts}

    def _write_client_files(
        self, hosts: list[tuple[str, str]], host_keys: dict[str, tuple[bytes, str]]
    ) -> None:
        self.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.key_path.is_symlink():  # a planted link would hand us someone else's key
            raise OSError(
                errno.ELOOP, "refusing a client key that is a symbolic link", str(self.key_path)
            )
        if not self.key_path.exists():
            private, public = ed25519_pair("supercluster-sim")
            write_private(self.key_path, private)
            _write_text(self.key_path.with_suffix(".pub"), public + "\n")
        # One line per node: its name and its address, so OpenSSH (Ansible) and paramiko
        # verify the key whichever of the two they connect by.
        lines = [f"{name},{ip} {host_keys[name][1].rsplit(' ', 1)[0]}\n" for name, ip in hosts]
        _write_text(self.known_hosts, "".join(lines))
        _write_text(self.ssh_config, self._client_config(hosts))
        _write_json(
            self.connection,
            {
                "user": "root",
                "port": SSH_PORT,
                "private_key": str(self.key_path),
                "known_hosts": str(self.known_hosts),
                "ssh_config": str(self.ssh_config),
                "hosts": dict(hosts),
                "live": self.live,
            },
        )

    def _client_config(self, hosts: list[tuple[str, str]]) -> str:
        common = (
            "  User root\n"
            f"  IdentityFile {self.key_path}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n"
            "  StrictHostKeyChecking yes\n"
        )
        blocks = [f"Host {name}\n  HostName {ip}\n{common}" for name, ip in hosts]
        return "".join(blocks)

    def _prepare_node(
        self, name: str, ip: str, host_key: bytes, per_node: dict[str, hw_fixtures.Hardware]
    ) -> None:
        node = self.state_dir / "nodes" / name
        if node.exists():
            shutil.rmtree(node)
        for sub in ("upper", "work", "root"):
            (node / sub).mkdir(parents=True)
        upper = node / "upper"
        for rel in UPPER_DIRS:
            _mkdirs_like_lower(upper, rel, self.lower)
        (upper / "root/.ssh").chmod(0o700)
        # The node's /root starts empty (an opaque dir hides the host's root home: its
        # credentials and its shell start-up files, which would otherwise run on every
        # SSH command in every node).
        os.setxattr(upper / "root", "trusted.overlay.opaque", b"y")
        write_private(upper / "etc/ssh/ssh_host_ed25519_key", host_key)
        _write_text(
            upper / "etc/ssh/sshd_config", SSHD_CONFIG.format(name=name, ip=ip, port=SSH_PORT)
        )
        _write_text(upper / "etc/hostname", name + "\n")
        _write_text(upper / "etc/apt/apt.conf.d/zz-supercluster-sim-node", APT_SERVER_CACHE)
        for dotfile in ("bashrc", "profile"):
            default = Path("/usr/share/base-files") / f"dot.{dotfile}"
            _write_text(
                upper / "root" / f".{dotfile}", default.read_text() if default.exists() else ""
            )
        pub = self.key_path.with_suffix(".pub").read_text()
        _write_text(upper / "root/.ssh/authorized_keys", pub, mode=0o600)
        binds = hw_fixtures.render(per_node[name], name, upper) if name in per_node else {}
        binds = {dst: str(src) for dst, src in binds.items()}
        for path in self._shared:
            (upper / path.relative_to("/")).mkdir(parents=True, exist_ok=True)
            binds[f"ro:{path}"] = str(path)
        _write_json(node / "binds.json", binds)

    def _require_tools(self) -> None:  # hook
        _require_tools()

    def _node_command(self, name: str, node: Path, binds: dict[str, str]) -> list[str]:  # hook
        """The node's init under `unshare ... sh -c`: the script and its arguments."""
        bind_args = [a for dst, src in sorted(binds.items()) for a in (src, dst)]
        return [NODE_INIT, "node-init", str(node), str(self.state_dir), name, *bind_args]

    def _launch(self, name: str) -> int:
        node = self.state_dir / "nodes" / name
        binds = json.loads((node / "binds.json").read_text())
        log = open(node / "sshd.log", "wb")  # noqa: SIM115 - handed to the child
        with log:
            proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--uts",
                    "--pid",
                    "--fork",
                    "--propagation",
                    "private",
                    "--kill-child=SIGKILL",
                    "sh",
                    "-c",
                    *self._node_command(name, node, binds),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # outlives `sim up`; not killed by the terminal's ^C
                # A node is another machine: its sshd (and all it starts) gets none of the
                # controller's environment, where the operator's secrets live.
                env=childenv.minimal(),
            )
        return proc.pid

    def _log_tail(self, name: str) -> str:
        log = self.state_dir / "nodes" / name / "sshd.log"
        text = log.read_text(errors="replace").strip() if log.exists() else ""
        return text.splitlines()[-1] if text else "(no output)"

    # -- one node: crash and boot again --------------------------------------------

    def crash(self, name: str) -> None:
        """Power a node off hard: SIGKILL its init (sshd, PID 1 of the node's namespace), so
        its processes and mounts go at once. Its disk (the overlay upper dir) stays, like a
        crashed server's; `restart` boots it again."""
        _stop([self._node(name)["pid"]], timeout_s=10.0)

    def restart(self, name: str, ready_timeout_s: float = 30.0) -> None:
        """Boot a node again on its disk and host key; crashes it first if it is running.
        Returns once its sshd answers."""
        node = self._node(name)
        if procs.alive(node["pid"]):
            self.crash(name)
        manifest = json.loads(self.manifest.read_text())
        manifest["nodes"][name]["pid"] = self._launch(name)
        _write_json(self.manifest, manifest)
        if _wait_for_ssh([(name, node["ip"])], ready_timeout_s):
            raise FleetError(
                f"{name}: sshd did not answer within {ready_timeout_s:.0f} s: "
                f"{self._log_tail(name)}"
            )

    def rekey(self, name: str) -> None:
        """Give a node a new host key and boot it again, as a reinstalled (or impersonated)
        server would present one; known_hosts keeps the old key, so clients must refuse it."""
        self._node(name)  # a clear error for a name the fleet does not hold
        host_key, _ = ed25519_pair(f"root@{name}")
        upper = self.state_dir / "nodes" / name / "upper"
        write_private(upper / "etc/ssh/ssh_host_ed25519_key", host_key)
        self.restart(name)

    def _node(self, name: str) -> dict:
        nodes = self.nodes()
        if name not in nodes:
            raise FleetError(f"no node {name!r} in the fleet under {self.state_dir}")
        return nodes[name]

    # -- status / down ----------------------------------------------------------------

    def nodes(self) -> dict[str, dict]:
        if not self.manifest.exists():
            return {}
        return json.loads(self.manifest.read_text())["nodes"]

    def hosts(self) -> list[tuple[str, str]]:
        return [(name, n["ip"]) for name, n in self.nodes().items()]

    def init_pid(self, name: str) -> int:
        """The host PID of a node's init, its sshd listener (tests freeze it with SIGSTOP)."""
        children = _children(self.nodes()[name]["pid"])
        if not children:
            raise FleetError(f"{name} is not running")
        return children[0]

    def status(self) -> list[NodeStatus]:
        nodes = self.nodes()
        with ThreadPoolExecutor(max_workers=min(32, max(1, len(nodes)))) as pool:
            answers = list(pool.map(lambda n: _ssh_banner(n["ip"], 2.0), nodes.values()))
        return [
            NodeStatus(name, n["ip"], n["pid"], procs.alive(n["pid"]), ok)
            for (name, n), ok in zip(nodes.items(), answers, strict=True)
        ]

    def down(self, timeout_s: float = 10.0) -> None:
        """Stop every node, wait until no process of the fleet is left, then remove the
        state dir. SIGKILL goes to each namespace's init (the kernel then kills everything
        in that PID namespace and its mounts go with it); unshare reaps it and exits."""
        _stop([n["pid"] for n in self.nodes().values()], timeout_s)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)


# -- helpers ----------------------------------------------------------------------------


def venv_python_dirs() -> list[Path]:
    """Where the interpreter of this process's venv lives, when a node would not see it:
    a controller node runs the project's venv (same path, seen through the overlay), whose
    base Python may sit under the host's /root (pyenv), which a node's own /root hides."""
    base = Path(sys.base_prefix).resolve()
    return [] if base.is_relative_to("/usr") else [base]


def loopback_hosts(
    count: int, network: str = "127.0.20.0/24", prefix: str = "node"
) -> list[tuple[str, str]]:
    """`count` (name, ip) pairs from a loopback network, skipping its network address."""
    net = IPv4Network(network)
    if not net.subnet_of(LOOPBACK):
        raise ValueError(f"{network} is not a loopback network (127.0.0.0/8)")
    addrs = list(net.hosts()) if net.prefixlen < 31 else list(net)
    if count > len(addrs):
        raise ValueError(f"{network} holds {len(addrs)} hosts, {count} asked for")
    return [(f"{prefix}{i + 1:02d}", str(addrs[i])) for i in range(count)]


def _checked_hosts(hosts: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    hosts = list(hosts)
    problems = []
    names, ips = set(), set()
    for name, ip in hosts:
        if IPv4Address(ip) not in LOOPBACK:
            problems.append(f"{name}: {ip} is not a loopback address; the fleet is loopback only")
        if not name or "/" in name or name.startswith("."):
            problems.append(f"{name!r}: not a usable host name")
        if name in names or ip in ips:
            problems.append(f"{name} {ip}: duplicate name or address")
        names.add(name)
        ips.add(ip)
    if not hosts:
        problems.append("no hosts given")
    if problems:
        raise FleetError("; ".join(problems))
    return hosts


def _hardware_for(
    hosts: list[tuple[str, str]],
    hardware: Mapping[str, hw_fixtures.Hardware] | hw_fixtures.Hardware | None,
) -> dict[str, hw_fixtures.Hardware]:
    if hardware is None:
        return {}
    if isinstance(hardware, hw_fixtures.Hardware):
        return {name: hardware for name, _ in hosts}
    unknown = set(hardware) - {name for name, _ in hosts}
    if unknown:
        raise FleetError(f"hardware given for unknown nodes: {sorted(unknown)}")
    return dict(hardware)


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise FleetEnvironmentError(
            "the simulated fleet needs root (namespaces and overlay mounts): run as root"
        )
    missing = [t for t in ("unshare", "chroot", "sshd") if not shutil.which(t)]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("/usr/sbin/sshd (Debian package openssh-server)")
    if missing:
        raise FleetEnvironmentError(f"missing tools: {', '.join(missing)} (run scripts/setup.sh)")


def _mkdirs_like_lower(upper: Path, rel: str, lower_root: Path = Path("/")) -> None:
    """Create upper/rel and its parents with the owner and mode of rel in the lower layer."""
    path = Path()
    for part in Path(rel).parts:
        path /= part
        target = upper / path
        if target.exists():
            continue
        target.mkdir()
        lower = lower_root / path
        if lower.is_dir():
            st = lower.stat()
            os.chown(target, st.st_uid, st.st_gid)
            target.chmod(st.st_mode & 0o7777)


def _write_text(path: Path, text: str, mode: int = 0o644) -> None:
    # Scratch state rebuilt by every `sim up`: no fsync, but never through a planted link.
    atomic_write(path, text, mode, durable=False)


def _write_json(path: Path, data: dict) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _ssh_banner(ip: str, timeout_s: float) -> bool:
    try:
        with socket.create_connection((ip, SSH_PORT), timeout=timeout_s) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


def _stop(pids: list[int], timeout_s: float) -> None:
    """SIGKILL the node inits under these unshare PIDs and wait until every one of them is
    gone (reaped), killing a stuck unshare itself half way through the timeout. An init
    is PID 1 of its namespace: SIGTERM would not reach it, hence no polite first signal."""
    inits = [c for p in pids for c in _children(p)]
    for pid in inits:
        procs.kill(pid)
    left = procs.wait_gone(pids + inits, timeout_s / 2)
    for pid in set(left) & set(pids):  # an unshare that never forked its init, or is stuck
        procs.kill(pid)
    left = procs.wait_gone(left, timeout_s / 2)
    if left:
        raise FleetError(f"processes still running after SIGKILL: {left}")


def _answering(hosts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The hosts whose address already accepts connections on the SSH port."""

    def listening(ip: str) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((ip, SSH_PORT), 0.3):
            return True
        return False

    with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
        busy = list(pool.map(lambda h: listening(h[1]), hosts))
    return [h for h, b in zip(hosts, busy, strict=True) if b]


def _wait_for_ssh(hosts: list[tuple[str, str]], timeout_s: float) -> list[str]:
    """Poll every node until its sshd sends a banner; return the names that never did."""
    deadline = time.monotonic() + timeout_s
    pending = dict(hosts)
    with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
        while pending and time.monotonic() < deadline:
            answers = pool.map(lambda ip: _ssh_banner(ip, 1.0), pending.values())
            for name, ok in zip(list(pending), list(answers), strict=True):
                if ok:
                    del pending[name]
            if pending:
                time.sleep(0.05)
    return sorted(pending)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]
