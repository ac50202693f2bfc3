"""Redfish operations on node BMCs through OpenStack's `sushy` client: read a node's power
state, boot override and BIOS, compare them with what the design wants, converge them.

Every BMC call goes through `_retry`: timeouts, refused connections and 5xx answers are
retried with bounded exponential backoff; a BMC that stays down raises BmcError naming its
address and the reason, and the fan-out helpers turn that into a per-node failure so one
dead BMC never fails the others. Credentials travel in `Credentials`, whose repr hides the
password, and no message built here contains them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import sushy
from sushy import exceptions as sushy_exc

from infra.text import printable

# sushy logs every retry with the URL and error; keep it to warnings so a 512-node run
# stays readable (it never logs credentials: headers and bodies are sanitized).
logging.getLogger("sushy").setLevel(logging.ERROR)

POWER_STATES = ("On", "Off")
BOOT_TARGETS = ("Pxe", "Hdd", "None")
BOOT_MODES = ("Once", "Continuous")
T = TypeVar("T")


class BmcError(Exception):
    """A BMC that could not be read or configured: its address and the reason."""

    def __init__(self, address: str, reason: str):
        self.address = address
        # The reason can quote the BMC (an HTTP error's code, an exception's text): it is
        # printed by `bmc status` and by the Pulumi engine, so escaped here, once.
        self.reason = printable(reason)
        super().__init__(f"BMC {address}: {self.reason}")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BmcEndpoint:
    """Where one node's BMC answers. A real site: url https://<bmc_ip>, system None (the
    BMC's only system). The simulated site: the emulator's URL and the node's system id."""

    node: str
    address: str  # the BMC address the design gives the node (Node.bmc_ip)
    url: str
    system: str | None = None


@dataclass(frozen=True)
class Connection:
    """How to talk to BMCs: TLS verification (on unless turned off), the site's CA bundle,
    timeouts and the retry budget."""

    verify_tls: bool = True
    ca_bundle: str | None = None  # PEM file of the site's BMC CA; None: the system store
    timeout_s: float = 10.0  # per request (read); connect uses min(timeout_s, 5)
    attempts: int = 4  # tries per call, first included
    backoff_s: float = 0.5  # first delay; doubles each retry
    backoff_max_s: float = 8.0
    power_wait_s: float = 60.0  # how long a power transition may take to show

    @property
    def verify(self) -> bool | str:
        if not self.verify_tls:
            return False
        return self.ca_bundle or True


@dataclass(frozen=True)
class Desired:
    """What a node's BMC should hold; bios holds only the attributes the profile sets."""

    power: str = "On"
    boot_target: str = "Pxe"
    boot_mode: str = "Once"
    bios: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeState:
    node: str
    address: str
    power: str
    boot_target: str
    boot_mode: str
    bios: dict[str, str]  # current values of the attributes asked for
    bios_pending: dict[str, str] = field(default_factory=dict)  # set, waiting for a reboot

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "power": self.power,
            "boot_target": self.boot_target,
            "boot_mode": self.boot_mode,
            "bios": dict(self.bios),
            "bios_pending": dict(self.bios_pending),
        }


@dataclass(frozen=True)
class NodeResult:
    """One node's outcome in a fan-out: a state, or the error that stopped it."""

    endpoint: BmcEndpoint
    state: NodeState | None = None
    error: str | None = None


class _Counter:
    """HTTP requests made, for the benchmark's requests-per-second figure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0

    def __call__(self, _response: requests.Response) -> None:
        with self._lock:
            self.requests += 1


REQUESTS = _Counter()


def _reason(exc: Exception) -> str:
    if isinstance(exc, sushy_exc.HTTPError):
        detail = getattr(exc, "code", "") or ""
        return f"HTTP {exc.status_code} {detail}".strip()
    if isinstance(exc, sushy_exc.ConnectionError):
        text = str(exc)
        if _is_tls_failure(exc):
            return "TLS certificate verification failed (is the site CA bundle set?)"
        if "timed out" in text.lower() or "timeout" in text.lower():
            return "timed out"
        if "refused" in text.lower():
            return "connection refused"
        return "connection failed: " + text.split("Error:", 1)[-1].strip()[:160]
    return f"{type(exc).__name__}: {exc}"[:200]


def _is_tls_failure(exc: Exception) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSLError" in str(exc)


def _retry(address: str, conn: Connection, what: str, call: Callable[[], T]) -> T:
    """call() with bounded exponential backoff on timeouts, connection errors and 5xx."""
    last: Exception | None = None
    for attempt in range(conn.attempts):
        try:
            return call()
        except (sushy_exc.ConnectionError, sushy_exc.ServerSideError) as exc:
            if _is_tls_failure(exc):  # a configuration problem: retrying cannot help
                raise BmcError(address, f"{what}: {_reason(exc)}") from None
            last = exc
        except sushy_exc.AccessError as exc:
            raise BmcError(
                address, f"{what}: authentication refused (HTTP {exc.status_code})"
            ) from None
        except sushy_exc.SushyError as exc:
            raise BmcError(address, f"{what}: {_reason(exc)}") from None
        if attempt + 1 < conn.attempts:
            time.sleep(min(conn.backoff_max_s, conn.backoff_s * 2**attempt))
    assert last is not None
    raise BmcError(address, f"{what}: {_reason(last)} (gave up after {conn.attempts} attempts)")


def _open(endpoint: BmcEndpoint, creds: Credentials, conn: Connection) -> Any:
    """The node's sushy System (one session per BMC, as on a real site)."""

    def connect() -> Any:
        connector = sushy.connector.Connector(
            endpoint.url,
            verify=conn.verify,
            response_callback=REQUESTS,
            # Our _retry owns backoff: sushy makes one attempt per request (it still
            # repeats a 5xx GET once, immediately).
            server_side_retries=1,
            server_side_retries_delay=0,
            default_request_timeout=conn.timeout_s,
            connect_timeout=min(conn.timeout_s, 5.0),
        )
        auth = sushy.auth.BasicAuth(username=creds.username, password=creds.password)
        root = sushy.Sushy(endpoint.url, auth=auth, connector=connector)
        if endpoint.system:
            return root.get_system(f"/redfish/v1/Systems/{endpoint.system}")
        return root.get_system()  # a real BMC's single system

    return _retry(endpoint.address, conn, "connect", connect)


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value) if value is not None else "None")


def _state(
    endpoint: BmcEndpoint, system: Any, conn: Connection, want_bios: dict[str, str]
) -> NodeState:
    address = endpoint.address
    bios: dict[str, str] = {}
    pending: dict[str, str] = {}
    if want_bios:
        current = _retry(address, conn, "read BIOS", lambda: system.bios.attributes)
        bios = {k: str(current.get(k)) for k in want_bios}
        # A real BMC applies BIOS settings at the next boot. Look at the pending settings
        # only where the current values differ: one request fewer per healthy node.
        if any(bios[k] != str(v) for k, v in want_bios.items()):
            staged = _retry(address, conn, "read BIOS settings", _pending_reader(system))
            pending = {k: str(staged[k]) for k in want_bios if k in staged}
    return NodeState(
        node=endpoint.node,
        address=address,
        power=_enum_value(system.power_state),
        boot_target=_enum_value(system.boot.target),
        boot_mode=_enum_value(system.boot.enabled),
        bios=bios,
        bios_pending=pending,
    )


def _pending_reader(system: Any) -> Callable[[], dict]:
    def read() -> dict:
        return dict(system.bios.pending_attributes or {})

    return read


def read_node(
    endpoint: BmcEndpoint, creds: Credentials, conn: Connection, want_bios: dict[str, str]
) -> NodeState:
    """What the node's BMC reports now; BIOS limited to the attributes in want_bios."""
    return _state(endpoint, _open(endpoint, creds, conn), conn, want_bios)


def drift(desired: Desired, state: NodeState) -> dict[str, tuple[str, str]]:
    """{field: (wanted, actual)} where the node differs from what is desired. A "Once"
    boot override that the BMC reports as "Disabled" was used up by a boot: not drift."""
    out: dict[str, tuple[str, str]] = {}
    if state.power != desired.power:
        out["power"] = (desired.power, state.power)
    consumed = desired.boot_mode == "Once" and state.boot_mode == "Disabled"
    if not consumed:
        if state.boot_target != desired.boot_target:
            out["boot_target"] = (desired.boot_target, state.boot_target)
        if state.boot_mode != desired.boot_mode:
            out["boot_mode"] = (desired.boot_mode, state.boot_mode)
    for key, want in sorted(desired.bios.items()):
        have = state.bios.get(key, "None")
        if have != str(want) and state.bios_pending.get(key) != str(want):
            out[f"bios.{key}"] = (str(want), have)
    return out


def converge_node(
    endpoint: BmcEndpoint, creds: Credentials, conn: Connection, desired: Desired
) -> NodeState:
    """Make the BMC hold `desired`, touching only what differs, and return what it then
    reports. Order matters on real hardware: BIOS settings and the boot override are
    staged first so that powering on boots with them."""
    system = _open(endpoint, creds, conn)
    state = _state(endpoint, system, conn, desired.bios)
    todo = drift(desired, state)
    address = endpoint.address
    bios_todo = {k.removeprefix("bios."): todo[k][0] for k in todo if k.startswith("bios.")}
    if bios_todo:
        _retry(address, conn, "set BIOS", lambda: system.bios.set_attributes(bios_todo))
    if "boot_target" in todo or "boot_mode" in todo:
        _retry(
            address,
            conn,
            "set boot override",
            lambda: system.set_system_boot_options(
                target=sushy.BootSource(desired.boot_target),
                enabled=sushy.BootSourceOverrideEnabled(desired.boot_mode),
            ),
        )
    if "power" in todo:
        reset = sushy.ResetType("On" if desired.power == "On" else "GracefulShutdown")
        _retry(address, conn, f"power {desired.power}", lambda: system.reset_system(reset))
        _wait_power(endpoint, system, conn, desired.power)
    if not todo:
        return state
    system.invalidate()
    _retry(address, conn, "re-read", system.refresh)
    return _state(endpoint, system, conn, desired.bios)


def _wait_power(endpoint: BmcEndpoint, system: Any, conn: Connection, want: str) -> None:
    # BMCs report a power transition some seconds after accepting it.
    deadline = time.monotonic() + conn.power_wait_s
    while True:
        _retry(endpoint.address, conn, "read power", lambda: system.refresh(force=True))
        have = _enum_value(system.power_state)
        if have == want:
            return
        if time.monotonic() >= deadline:
            raise BmcError(
                endpoint.address, f"power still {have} {conn.power_wait_s:g}s after {want}"
            )
        time.sleep(0.5)


def fan_out(
    endpoints: Sequence[BmcEndpoint],
    work: Callable[[BmcEndpoint], NodeState],
    workers: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> list[NodeResult]:
    """work(endpoint) for every endpoint concurrently; results in endpoint order. A BmcError
    (or any other failure) becomes that node's error, never the whole run's."""
    results: list[NodeResult | None] = [None] * len(endpoints)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(endpoints) or 1))) as pool:
        futures = {pool.submit(work, ep): i for i, ep in enumerate(endpoints)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                results[i] = NodeResult(endpoints[i], state=future.result())
            except BmcError as exc:
                results[i] = NodeResult(endpoints[i], error=str(exc))
            except Exception as exc:  # a bug or an odd BMC answer: still only this node
                results[i] = NodeResult(
                    endpoints[i], error=f"BMC {endpoints[i].address}: {_reason(exc)}"
                )
            done += 1
            if progress:
                progress(done, len(endpoints))
    return [r for r in results if r is not None]


def status(
    endpoints: Sequence[BmcEndpoint],
    wants: dict[str, Desired],
    creds: Credentials,
    conn: Connection,
    workers: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Read every BMC concurrently and compare it with its node's desired state: one row
    per node (`bmc status`, the benchmark)."""

    def work(ep: BmcEndpoint) -> NodeState:
        return read_node(ep, creds, conn, wants[ep.node].bios)

    rows = []
    for result in fan_out(endpoints, work, workers=workers, progress=progress):
        row: dict[str, Any] = {"node": result.endpoint.node, "address": result.endpoint.address}
        if result.state is None:
            row["error"] = result.error
        else:
            row.update(result.state.as_dict())
            node_drift = drift(wants[result.endpoint.node], result.state)
            row["drift"] = {k: list(v) for k, v in node_drift.items()}
        rows.append(row)
    return rows
