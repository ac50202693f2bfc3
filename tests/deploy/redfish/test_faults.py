"""BMCs that hang, answer 503 or present a certificate the site CA did not sign: retried
with bounded backoff where retrying can help, then reported with their address, without
failing the BMCs that work."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from bmcsite import BIOS, HOST, Site, grep_tree

from infra.deploy.providers import redfish_ops as ops
from infra.deploy.providers.redfish import BmcRackError, BmcRackProvider
from infra.sim import bmc

FAST = {"timeout_s": 0.5, "attempts": 3, "backoff_s": 0.1, "backoff_max_s": 0.4}


@contextmanager
def hanging_endpoint() -> Iterator[str]:
    """Accepts TCP connections on loopback and never answers: a BMC that hangs."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, bmc.free_port(HOST)))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@contextmanager
def unavailable_endpoint() -> Iterator[tuple[str, list[str]]]:
    """Answers every request with 503 Service Unavailable; records the paths asked."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"error": {"code": "Base.1.0.ServiceTemporarilyUnavailable"}}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((HOST, bmc.free_port(HOST)), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.integration
def test_hanging_bmc_is_retried_then_reported_with_its_address() -> None:
    conn = ops.Connection(**FAST)
    with hanging_endpoint() as url:
        endpoint = ops.BmcEndpoint("n1", "127.0.31.77", url, "sys-1")
        started = time.monotonic()
        with pytest.raises(ops.BmcError) as err:
            ops.read_node(endpoint, ops.Credentials("admin", "hunter2-hang"), conn, {})
        elapsed = time.monotonic() - started
    assert err.value.address == "127.0.31.77"
    assert "timed out" in err.value.reason and "3 attempts" in err.value.reason
    # 3 attempts x 0.5 s timeout + 0.1 + 0.2 s backoff: bounded, not a hang.
    assert 1.5 <= elapsed < 6, elapsed
    assert "hunter2-hang" not in str(err.value)


@pytest.mark.integration
def test_503_bmc_is_retried_with_backoff_then_reported() -> None:
    conn = ops.Connection(**FAST)
    with unavailable_endpoint() as (url, seen):
        endpoint = ops.BmcEndpoint("n1", "127.0.31.78", url, "sys-1")
        started = time.monotonic()
        with pytest.raises(ops.BmcError) as err:
            ops.read_node(endpoint, ops.Credentials("admin", "hunter2-503"), conn, {})
        elapsed = time.monotonic() - started
    assert err.value.address == "127.0.31.78"
    assert "HTTP 503" in err.value.reason and "3 attempts" in err.value.reason
    # Each attempt is one request plus sushy's single immediate repeat of a 5xx GET.
    assert 3 <= len(seen) <= 6, seen
    assert elapsed >= 0.1 + 0.2  # the backoff between attempts happened
    assert "hunter2-503" not in str(err.value)


@pytest.mark.integration
def test_dead_bmcs_fail_their_nodes_not_the_rack(site: Site, tmp_path: Path) -> None:
    """One rack: two emulated BMCs that work, one that hangs, one that answers 503. The
    working ones are converged; the error names each dead BMC's address and reason."""
    with hanging_endpoint() as hang_url, unavailable_endpoint() as (busy_url, _):
        good = [site.endpoint(n) for n in site.nodes[:2]]
        props = {
            "rack": "r09",
            "nodes": [
                {"node": e.node, "address": e.address, "url": e.url, "system": e.system}
                for e in good
            ]
            + [
                {"node": "r09-hang", "address": "127.0.31.90", "url": hang_url, "system": "x"},
                {"node": "r09-busy", "address": "127.0.31.91", "url": busy_url, "system": "y"},
            ],
            "power": "On",
            "boot_target": "Pxe",
            "boot_mode": "Once",
            "bios": dict(BIOS),
            "ca_bundle": site.emulator.ca_bundle,
            "timeout_s": 0.5,
            "attempts": 2,
            "backoff_s": 0.1,
            "power_wait_s": 30,
            "username": site.emulator.username,
            "password": site.password,
        }
        provider = BmcRackProvider()
        with pytest.raises(BmcRackError) as err:
            provider.create(props)
        message = str(err.value)
        drift = provider.drift(props)
    assert "r09-hang (127.0.31.90)" in message and "timed out" in message
    assert "r09-busy (127.0.31.91)" in message and "HTTP 503" in message
    assert len(err.value.failures) == 2
    # The working BMCs were converged all the same.
    assert set(drift) == {"r09-hang", "r09-busy"}
    assert "127.0.31.90" in drift["r09-hang"]["error"]
    (tmp_path / "errors.txt").write_text(message + "\n" + repr(drift))
    assert site.password not in message
    assert grep_tree(tmp_path, site.password) == []


@pytest.mark.integration
def test_tls_is_verified_against_the_site_ca(site: Site) -> None:
    endpoint = site.endpoint(site.nodes[0])
    system_store = ops.Connection(attempts=3)  # verification on, without the site CA
    with pytest.raises(ops.BmcError) as err:
        ops.read_node(endpoint, site.creds, system_store, {})
    assert "TLS certificate verification failed" in err.value.reason
    assert "1 attempts" not in err.value.reason  # not retried: retrying cannot fix it
    state = ops.read_node(endpoint, site.creds, site.conn, {})
    assert state.power == "Off"


@pytest.mark.integration
def test_wrong_password_is_reported_not_retried(site: Site) -> None:
    endpoint = site.endpoint(site.nodes[0])
    started = time.monotonic()
    with pytest.raises(ops.BmcError, match="authentication refused"):
        ops.read_node(endpoint, ops.Credentials("admin", "wrong"), site.conn, {})
    assert time.monotonic() - started < 2
