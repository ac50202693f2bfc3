"""Run one command on many hosts over SSH (paramiko), with bounded concurrency.

Each host gets its own connect timeout (TCP connect, SSH banner, key exchange and auth) and
command timeout; a host that hangs costs its own timeout, never the others'. Host keys are
checked against a known_hosts file: a changed key is always refused, an unknown one unless
`accept_new` (ssh's StrictHostKeyChecking=accept-new), which then records it. Every host ends
in one Outcome whose `cause` groups failures: unreachable, hostkey, auth, timeout, error.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from infra.errors import InputError

# Causes, in the order summaries list them. "check failed" is added by health.
UNREACHABLE = "unreachable"
HOSTKEY = "hostkey"
AUTH = "auth"
TIMEOUT = "timeout"
ERROR = "error"


@dataclass(frozen=True)
class Target:
    name: str
    address: str
    port: int = 22


@dataclass(frozen=True)
class SshOptions:
    key_path: Path
    known_hosts: Path
    user: str = "root"
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 60.0
    concurrency: int = 128
    accept_new: bool = False


@dataclass
class Outcome:
    name: str
    address: str
    cause: str | None = None  # None: the command ran (whatever its exit status)
    detail: str = ""
    exit_status: int | None = None
    stdout: str = ""
    stderr: str = ""
    elapsed_s: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.cause is None


class _Failure(Exception):
    def __init__(self, cause: str, detail: str):
        super().__init__(detail)
        self.cause = cause
        self.detail = detail


class KnownHosts:
    """known_hosts lookups by address or name; thread-safe appends for accept-new."""

    def __init__(self, path: Path, accept_new: bool):
        self.path = path
        self.accept_new = accept_new
        self.keys, self.revoked = _load_known_hosts(path)
        self._lock = threading.Lock()

    def known(self, target: Target) -> dict[str, paramiko.PKey]:
        found: dict[str, paramiko.PKey] = {}
        for host in _lookup_names(target):
            entry = self.keys.lookup(host)
            if entry:
                found.update({kind: entry[kind] for kind in entry.keys()})  # noqa: SIM118
        return found

    def verify(self, target: Target, key: paramiko.PKey) -> None:
        if key.get_base64() in self.revoked:
            raise _Failure(
                HOSTKEY,
                f"host key REVOKED: server offers {key.get_name()} {key.fingerprint}, "
                f"marked @revoked in {self.path}; refusing",
            )
        known = self.known(target)
        if not known:
            if not self.accept_new:
                raise _Failure(
                    HOSTKEY,
                    f"unknown host key {key.get_name()} {key.fingerprint} "
                    f"(not in {self.path}; use --accept-new to trust it)",
                )
            self._remember(target, key)
            return
        if not any(k == key for k in known.values()):
            raise _Failure(
                HOSTKEY,
                f"host key CHANGED: server offers {key.get_name()} {key.fingerprint}, "
                f"{self.path} holds another; refusing (possible man-in-the-middle)",
            )

    def _remember(self, target: Target, key: paramiko.PKey) -> None:
        with self._lock:
            name = _lookup_names(target)[0]
            self.keys.add(name, key.get_name(), key)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")


def _load_known_hosts(path: Path) -> tuple[paramiko.HostKeys, frozenset[str]]:
    """The plain entries of a known_hosts file and the keys on its `@revoked` lines
    (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT). paramiko cannot parse marker lines, so they are
    split off here. A revoked key is refused for every host, whatever the line's host
    pattern (stricter than OpenSSH, never laxer); `@cert-authority` lines are skipped, so
    such hosts stay unknown and are refused. A line paramiko cannot read is bad input."""
    keys = paramiko.HostKeys()
    revoked: set[str] = set()
    if not path.exists():
        return keys, frozenset()
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0].startswith("@"):
            if fields[0] == "@revoked" and len(fields) >= 4:
                revoked.add(fields[3])
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
        except (paramiko.SSHException, ValueError) as exc:
            raise InputError([f"{path}: line {lineno}: not a known_hosts entry ({exc})"]) from None
        if entry is not None:
            keys._entries.append(entry)
    return keys, frozenset(revoked)


def _lookup_names(target: Target) -> list[str]:
    addr = target.address if target.port == 22 else f"[{target.address}]:{target.port}"
    return [addr, target.name]


# The host-key algorithms a known key of each type may be offered with (RSA keys sign
# with SHA-2 variants of the same key).
_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


def run_many(
    targets: Iterable[Target],
    command: str,
    options: SshOptions,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run `command` on every target; results in the targets' order."""
    targets = list(targets)
    # Failures are reported per host in the outcome; paramiko's own log lines would only
    # repeat them on stderr, mid progress bar.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    pkey = load_key(options.key_path)
    known_hosts = KnownHosts(options.known_hosts, options.accept_new)

    def one(target: Target) -> Outcome:
        outcome = run_one(target, command, options, pkey, known_hosts)
        if on_done:
            on_done(outcome)
        return outcome

    workers = max(1, min(options.concurrency, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ssh") as pool:
        return list(pool.map(one, targets))


def load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(str(path))
    except (OSError, paramiko.SSHException) as exc:
        raise ValueError(f"cannot load SSH private key {path}: {exc}") from exc


def run_one(
    target: Target,
    command: str,
    options: SshOptions,
    pkey: paramiko.PKey,
    known_hosts: KnownHosts,
) -> Outcome:
    started = time.monotonic()
    outcome = Outcome(target.name, target.address)
    transport = None
    try:
        transport = _connect(target, options, pkey, known_hosts)
        outcome.exit_status, outcome.stdout, outcome.stderr = _exec(
            transport, command, options.command_timeout_s
        )
    except _Failure as failure:
        outcome.cause, outcome.detail = failure.cause, failure.detail
    except Exception as exc:  # one host's surprise must not stop the fan-out
        outcome.cause, outcome.detail = ERROR, f"{type(exc).__name__}: {exc}"
    finally:
        if transport is not None:
            transport.close()
        outcome.elapsed_s = round(time.monotonic() - started, 3)
    return outcome


def _connect(
    target: Target, options: SshOptions, pkey: paramiko.PKey, known_hosts: KnownHosts
) -> paramiko.Transport:
    timeout = options.connect_timeout_s
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((target.address, target.port), timeout=timeout)
    except TimeoutError as exc:
        raise _Failure(TIMEOUT, f"TCP connect timed out after {timeout:g}s") from exc
    except OSError as exc:
        raise _Failure(UNREACHABLE, f"TCP connect: {exc.strerror or exc}") from exc
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        known = known_hosts.known(target)
        if known:
            # Ask only for the key types we can verify, as OpenSSH does for known hosts.
            offered = [a for kind in known for a in _ALGORITHMS.get(kind, (kind,))]
            options_ = transport.get_security_options()
            usable = [a for a in offered if a in options_.key_types]
            if usable:
                options_.key_types = usable
        try:
            transport.start_client(timeout=_left(deadline))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _classify(exc, "SSH handshake", timeout) from exc
        if transport.host_key is None:  # start_client returns on its timeout without raising
            raise _Failure(TIMEOUT, f"SSH handshake timed out after {timeout:g}s (no banner/kex)")
        known_hosts.verify(target, transport.get_remote_server_key())
        try:
            transport.auth_publickey(options.user, pkey)
        except paramiko.AuthenticationException as exc:
            raise _Failure(AUTH, f"public key refused for {options.user}: {exc}") from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _classify(exc, "authentication", timeout) from exc
        return transport
    except BaseException:
        transport.close()
        raise


def _classify(exc: BaseException, stage: str, timeout: float) -> _Failure:
    text = f"{exc}".strip() or type(exc).__name__
    chain = [exc, exc.__cause__, exc.__context__]
    timed_out = any(isinstance(e, TimeoutError) for e in chain if e) or "timed out" in text
    if timed_out or "banner" in text:
        return _Failure(TIMEOUT, f"{stage} timed out after {timeout:g}s ({text})")
    return _Failure(UNREACHABLE, f"{stage} failed: {text}")


def _left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _exec(transport: paramiko.Transport, command: str, timeout: float) -> tuple[int, str, str]:
    deadline = time.monotonic() + timeout
    try:
        channel = transport.open_session(timeout=timeout)
        channel.exec_command(command)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise _classify(exc, "opening the session", timeout) from exc
    out, err = bytearray(), bytearray()
    with channel:
        while True:
            while channel.recv_ready():
                out += channel.recv(65536)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            # Done at the exit status *and* EOF: sshd may send the exit status while the
            # command's last output is still on its way (a long script's final sections
            # were lost that way now and then).
            if (
                channel.exit_status_ready()
                and (channel.eof_received or channel.closed)
                and not (channel.recv_ready() or channel.recv_stderr_ready())
            ):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failure(TIMEOUT, f"command did not finish in {timeout:g}s")
            if channel.eof_received:  # all output is in; only the exit status is due
                channel.status_event.wait(min(left, 0.5))
            else:  # the channel's fd turns readable on data and on EOF
                select.select([channel], [], [], min(left, 0.5))
        status = channel.recv_exit_status()
    return status, out.decode(errors="replace"), err.decode(errors="replace")
