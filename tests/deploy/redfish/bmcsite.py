"""Helpers for the BMC tests. A real Redfish service: sushy-emulator (fake driver) on 127.0.30.1,
a free port in 8000-8099, TLS with its own CA, basic auth with a password made per run
(every test greps what it produced for that password)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.deploy.providers import redfish_ops as ops
from infra.sim import bmc

HOST = "127.0.30.1"
BIOS = {
    "Above4GDecoding": "Enabled",
    "PowerProfile": "MaximumPerformance",
    "SriovEnable": "Enabled",
}


@dataclass(frozen=True)
class FakeNode:
    """A hand-made node record: what the BMC code reads from a design Node."""

    name: str
    bmc_ip: str
    rack: str = "r01"
    model: str = "HGX-H100-LC-4U"


@dataclass
class Site:
    state_dir: Path
    emulator: bmc.Emulator
    nodes: list[FakeNode]
    password: str

    @property
    def creds(self) -> ops.Credentials:
        return ops.Credentials(self.emulator.username, self.password)

    @property
    def conn(self) -> ops.Connection:
        return ops.Connection(ca_bundle=self.emulator.ca_bundle, power_wait_s=30)

    def endpoint(self, node: FakeNode) -> ops.BmcEndpoint:
        system = self.emulator.systems[node.bmc_ip]["system"]
        return ops.BmcEndpoint(node.name, node.bmc_ip, self.emulator.url, system)


def make_nodes(count: int, rack: str = "r01", first: int = 1) -> list[FakeNode]:
    return [FakeNode(f"{rack}-n{i:02d}", f"127.0.31.{first + i}", rack=rack) for i in range(count)]


def grep_tree(root: Path, needle: str, skip: tuple[str, ...] = ("credentials.json",)) -> list[str]:
    """Files under root whose bytes contain needle (credentials.json is the secret store
    itself and is checked for mode 0600 instead)."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and path.name not in skip and needle.encode() in path.read_bytes():
            hits.append(str(path))
    return hits
