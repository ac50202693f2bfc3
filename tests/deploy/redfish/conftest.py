"""The BMC tests' fixture: a fresh sushy-emulator per test (see bmcsite.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from bmcsite import HOST, Site, make_nodes

from infra.sim import bmc


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A fresh emulator per test: every system Off, boot Hdd/Continuous, default BIOS."""
    nodes = make_nodes(3)
    password = "pw-" + secrets.token_hex(12)
    state_dir = tmp_path / "sim"
    emulator = bmc.start_emulator(nodes, state_dir, HOST, bmc.free_port(HOST), password=password)
    try:
        yield Site(state_dir, emulator, nodes, password)
    finally:
        bmc.stop_emulator(state_dir)
    assert not Path(f"/proc/{emulator.pid}").exists(), "emulator process left behind"
