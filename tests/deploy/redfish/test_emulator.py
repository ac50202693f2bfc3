"""The simulated site's BMC emulator: one process, one Redfish system per node, idempotent
start, a stop that leaves no process, credentials kept out of its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from bmcsite import HOST, grep_tree, make_nodes

from infra.sim import bmc


@pytest.mark.integration
def test_start_is_idempotent_and_stop_leaves_nothing_running(tmp_path: Path) -> None:
    state_dir = tmp_path / "sim"
    nodes = make_nodes(4)
    port = bmc.free_port(HOST)
    first = bmc.start_emulator(nodes, state_dir, HOST, port, password="pw-idem-123456")
    try:
        again = bmc.start_emulator(nodes, state_dir, HOST, port)
        assert again.pid == first.pid  # same node set: the running emulator is kept
        assert bmc.emulator_status(state_dir) == {
            "running": True,
            "url": f"https://{HOST}:{port}",
            "pid": first.pid,
            "systems": 4,
        }
        # One system per node, at the id derived from its BMC address (endpoint.json).
        record = json.loads((state_dir / "bmc" / "endpoint.json").read_text())
        assert record["systems"]["127.0.31.1"] == {
            "node": "r01-n00",
            "system": bmc.system_id("127.0.31.1"),
        }
        listed = requests.get(
            f"{first.url}/redfish/v1/Systems",
            auth=("admin", "pw-idem-123456"),
            verify=first.ca_bundle,
            timeout=5,
        ).json()
        ids = {m["@odata.id"].rsplit("/", 1)[1] for m in listed["Members"]}
        assert ids == {bmc.system_id(n.bmc_ip) for n in nodes}

        # Another node set replaces the emulator.
        bigger = bmc.start_emulator(make_nodes(6), state_dir, HOST, port)
        assert bigger.pid != first.pid and len(bigger.systems) == 6
        assert not Path(f"/proc/{first.pid}").exists()
    finally:
        assert bmc.stop_emulator(state_dir) is True
    assert bmc.stop_emulator(state_dir) is False  # idempotent
    assert bmc.emulator_status(state_dir) == {"running": False}
    assert not Path(f"/proc/{bigger.pid}").exists()
    # The password is in the 0600 secret store only: htpasswd holds a bcrypt hash.
    assert grep_tree(state_dir, "pw-idem-123456") == []
    creds = state_dir / "bmc" / "credentials.json"
    assert creds.stat().st_mode & 0o077 == 0
    bmc.destroy_emulator(state_dir)
    assert not (state_dir / "bmc").exists()


def test_stale_pid_file_never_signals_another_process(tmp_path: Path) -> None:
    directory = tmp_path / "sim" / "bmc"
    directory.mkdir(parents=True)
    (directory / "emulator.pid").write_text("1\n")  # init: alive, not ours
    assert bmc.stop_emulator(tmp_path / "sim") is False
    assert bmc.emulator_status(tmp_path / "sim") == {"running": False}
