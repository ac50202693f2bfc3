"""The simulated site's BMCs: one sushy-emulator process (fake driver) serving one Redfish
system per simulated node, over TLS with a per-site CA, behind HTTP basic auth.

A real site has one Redfish endpoint per BMC address (https://<bmc_ip>/redfish/v1, with
its single system). The simulation serves every BMC from one process, so a node's BMC is
the pair (emulator URL, system id); the system id is a UUID derived from the node's BMC
address, and `endpoint.json` in the state dir records the mapping
{bmc_ip: {"node": name, "system": uuid}} for clients (infra.deploy.providers.redfish_ops).

Files under <state_dir>/bmc/: config.py (emulator config), htpasswd (bcrypt hash only),
credentials.json (the simulated BMCs' username/password, mode 0600: the site's secret
store), ca.pem / server.pem / server.key (TLS), emulator.pid, emulator.log, endpoint.json
and the emulator's own sqlite state (fakedriver.sqlite).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import bcrypt
import requests

from infra import childenv, procs
from infra.errors import EnvironmentProblem
from infra.fsutil import atomic_write
from infra.sim import bmc_tls

DEFAULT_HOST = "127.0.30.1"
# `sim up` (the demo) listens on 8443; the tests take free ports in 8000-8099 instead.
DEFAULT_PORT = 8443
DEFAULT_USERNAME = "admin"
# Namespace of the system ids: uuid5(namespace, bmc_ip) is stable across restarts.
SYSTEM_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4d4b-9a57-2f0b5e6c9b11")
# bcrypt cost for the simulated BMCs: the emulator checks the password on every request, and
# cost 4 (~1 ms) keeps a 512-BMC status run about the emulator, not about hashing.
_BCRYPT_ROUNDS = 4
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


class NodeLike(Protocol):
    name: str
    bmc_ip: str


@dataclass(frozen=True)
class Emulator:
    url: str  # Redfish base URL, e.g. https://127.0.30.1:8000
    ca_bundle: str  # PEM file of the simulated site's CA
    username: str
    pid: int
    systems: dict[str, dict[str, str]]  # bmc_ip -> {"node": name, "system": uuid}


def system_id(bmc_ip: str) -> str:
    return str(uuid.uuid5(SYSTEM_NAMESPACE, bmc_ip))


def bmc_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "bmc"


class EmulatorUnavailable(RuntimeError, EnvironmentProblem):
    """The emulator cannot serve here (its address is taken): the machine's problem, exit 3."""


def _require_free(host: str, port: int) -> None:
    """Fail in one line, naming the address, before the emulator would die on it and leave
    only its log to say why."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise EmulatorUnavailable(
                f"{host}:{port} is not free ({exc.strerror}): stop what listens there "
                "(`supercluster sim down` if it is another simulated site)"
            ) from exc


def free_port(host: str = DEFAULT_HOST, low: int = 8000, high: int = 8099) -> int:
    """A port in [low, high] nothing listens on at `host` right now."""
    for port in range(low, high + 1):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {host} in {low}-{high}")


def start_emulator(
    nodes: Iterable[NodeLike],
    state_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    username: str = DEFAULT_USERNAME,
    password: str | None = None,
    power_state: str = "Off",
) -> Emulator:
    """Start the emulator with one system per node, or return the running one when it
    already serves exactly these nodes at host:port (idempotent). A running emulator with
    another node set is stopped and replaced."""
    directory = bmc_dir(state_dir)
    systems = {
        n.bmc_ip: {"node": n.name, "system": system_id(n.bmc_ip)}
        for n in sorted(nodes, key=lambda n: n.bmc_ip)
    }
    running = _running(directory)
    if running and running.systems == systems and running.url == _url(host, port):
        return running
    stop_emulator(state_dir)
    _require_free(host, port)
    # The BMCs' credentials, TLS key and password hash: this user's alone.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    (directory / "fakedriver.sqlite").unlink(missing_ok=True)
    ca, cert, key = bmc_tls.ensure_site_tls(directory, host)
    password = password or _stored_password(directory) or secrets.token_urlsafe(18)
    _write_secret(directory / "credentials.json", {"username": username, "password": password})
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(_BCRYPT_ROUNDS)).decode()
    _write(directory / "htpasswd", f"{username}:{hashed}\n", mode=0o600)
    config = _emulator_config(systems, directory, host, port, cert, key, power_state)
    _write(directory / "config.py", config)
    with open(directory / "emulator.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.sim.bmc_emulator", "--config", "config.py"],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop_emulator ends all of it
            # The emulator needs no secret of the caller's (its password is in htpasswd).
            env=childenv.minimal(PYTHONPATH=_PROJECT_ROOT),
        )
    _write(directory / "emulator.pid", f"{proc.pid}\n")
    emulator = Emulator(_url(host, port), str(ca), username, proc.pid, systems)
    try:
        _wait_ready(emulator, proc)
        _warm_up(emulator, username, password)
    except Exception:
        stop_emulator(state_dir)
        raise
    _write(directory / "endpoint.json", json.dumps(_record(emulator), indent=2) + "\n")
    return emulator


def stop_emulator(state_dir: Path) -> bool:
    """Stop the emulator this state dir started; True when one was running. Idempotent."""
    directory = bmc_dir(state_dir)
    pid = _pid(directory)
    stopped = False
    if pid is not None and _is_ours(pid, directory):
        procs.stop_group(pid, grace_s=_STOP_TIMEOUT_S)
        stopped = True
    for name in ("emulator.pid", "endpoint.json"):
        (directory / name).unlink(missing_ok=True)
    return stopped


def destroy_emulator(state_dir: Path) -> bool:
    """stop_emulator, then remove every file the simulated BMCs had (`sim down`)."""
    stopped = stop_emulator(state_dir)
    shutil.rmtree(bmc_dir(state_dir), ignore_errors=True)
    return stopped


def emulator_status(state_dir: Path) -> dict:
    """{"running": bool, "url", "pid", "systems": count} for the CLI and `sim status`."""
    running = _running(bmc_dir(state_dir))
    if running is None:
        return {"running": False}
    return {
        "running": True,
        "url": running.url,
        "pid": running.pid,
        "systems": len(running.systems),
    }


def load_emulator(state_dir: Path) -> Emulator | None:
    """The running emulator recorded in this state dir, or None."""
    return _running(bmc_dir(state_dir))


def sim_credentials(state_dir: Path) -> tuple[str, str]:
    """(username, password) of the simulated BMCs."""
    data = json.loads((bmc_dir(state_dir) / "credentials.json").read_text())
    return data["username"], data["password"]


def _url(host: str, port: int) -> str:
    return f"https://{host}:{port}"


def _record(emulator: Emulator) -> dict:
    return {
        "url": emulator.url,
        "ca_bundle": emulator.ca_bundle,
        "username": emulator.username,
        "pid": emulator.pid,
        "systems": emulator.systems,
    }


def _emulator_config(
    systems: dict, directory: Path, host: str, port: int, cert: Path, key: Path, power: str
) -> str:
    fake_systems = [
        {
            "uuid": entry["system"],
            "name": entry["node"],
            "power_state": power,
            "external_notifier": False,
            "nics": [],
        }
        for entry in systems.values()
    ]
    settings = {
        "SUSHY_EMULATOR_FAKE_DRIVER": True,
        "SUSHY_EMULATOR_FAKE_SYSTEMS": fake_systems,
        "SUSHY_EMULATOR_STATE_DIR": str(directory),
        "SUSHY_EMULATOR_LISTEN_IP": host,
        "SUSHY_EMULATOR_LISTEN_PORT": port,
        "SUSHY_EMULATOR_SSL_CERT": str(cert),
        "SUSHY_EMULATOR_SSL_KEY": str(key),
        "SUSHY_EMULATOR_AUTH_FILE": str(directory / "htpasswd"),
    }
    lines = ["# Written by infra/sim/bmc.py: sushy-emulator configuration (a Python file)."]
    lines += [f"{name} = {value!r}" for name, value in settings.items()]
    return "\n".join(lines) + "\n"


def _wait_ready(emulator: Emulator, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sushy-emulator exited with {proc.returncode}; see emulator.log")
        with contextlib.suppress(requests.RequestException):
            answer = requests.get(
                f"{emulator.url}/redfish/v1/", verify=emulator.ca_bundle, timeout=2
            )
            if answer.status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"sushy-emulator did not answer at {emulator.url} in {_START_TIMEOUT_S}s")


def _warm_up(emulator: Emulator, username: str, password: str) -> None:
    """List the systems once, before any client comes: the fake driver loads its systems
    into its sqlite store on first use, and concurrent first requests would each race to
    do it (and time out on the store's lock)."""
    answer = requests.get(
        f"{emulator.url}/redfish/v1/Systems",
        auth=(username, password),
        verify=emulator.ca_bundle,
        timeout=_START_TIMEOUT_S * 4,
    )
    answer.raise_for_status()


def _running(directory: Path) -> Emulator | None:
    pid = _pid(directory)
    record = directory / "endpoint.json"
    if pid is None or not record.is_file() or not _is_ours(pid, directory):
        return None
    data = json.loads(record.read_text())
    return Emulator(data["url"], data["ca_bundle"], data["username"], pid, data["systems"])


def _pid(directory: Path) -> int | None:
    try:
        return int((directory / "emulator.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _is_ours(pid: int, directory: Path) -> bool:
    """True when pid is alive and is the emulator started from this directory (a stale pid
    file must never make us signal an unrelated process)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return b"infra.sim.bmc_emulator" in cmdline and Path(cwd) == directory.resolve()


def _stored_password(directory: Path) -> str | None:
    try:
        return json.loads((directory / "credentials.json").read_text())["password"]
    except (OSError, ValueError, KeyError):
        return None


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write(path, text, mode)


def _write_secret(path: Path, data: dict) -> None:
    _write(path, json.dumps(data) + "\n", mode=0o600)
