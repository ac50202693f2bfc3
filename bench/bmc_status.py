"""Benchmark: `bmc status` over 512 BMCs (systems of one sushy-emulator) in one run.

    .venv/bin/python bench/bmc_status.py [--nodes 512] [--workers 64]

Starts the emulator on 127.0.30.1 (TLS, basic auth) with one fake system per node, reads
every BMC's power state, boot override and BIOS concurrently (one Redfish session per BMC,
as on a real site) and prints the wall time and HTTP requests per second. Every node is
fresh, so every node has BIOS drift: the run also reads each node's pending BIOS settings
(4 requests per node), the worst case for a status run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from infra.deploy.providers import redfish_ops as ops
from infra.sim import bmc

HOST = "127.0.30.1"
PROFILE = ops.Desired(
    bios={
        "Above4GDecoding": "Enabled",
        "PowerProfile": "MaximumPerformance",
        "SriovEnable": "Enabled",
    }
)


@dataclass(frozen=True)
class BenchNode:
    name: str
    bmc_ip: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=512)
    parser.add_argument("--workers", type=int, default=64)
    args = parser.parse_args()
    # A SIGTERM (e.g. from `timeout`) must still run the finally that stops the emulator.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Addresses 127.0.32.0 onwards stand for the BMC network; only the emulator listens.
    nodes = [BenchNode(f"n{i:05d}", f"127.0.{32 + i // 256}.{i % 256}") for i in range(args.nodes)]
    with tempfile.TemporaryDirectory(prefix="bmc-bench-") as tmp:
        state_dir = Path(tmp)
        started = time.monotonic()
        emulator = bmc.start_emulator(nodes, state_dir, HOST, bmc.free_port(HOST))
        print(f"emulator: {len(nodes)} systems up in {time.monotonic() - started:.1f}s")
        try:
            creds = ops.Credentials(*bmc.sim_credentials(state_dir))
            conn = ops.Connection(ca_bundle=emulator.ca_bundle, timeout_s=30)
            endpoints = [
                ops.BmcEndpoint(
                    n.name, n.bmc_ip, emulator.url, emulator.systems[n.bmc_ip]["system"]
                )
                for n in nodes
            ]
            wants = {n.name: PROFILE for n in nodes}
            before = ops.REQUESTS.requests
            started = time.monotonic()
            rows = ops.status(endpoints, wants, creds, conn, workers=args.workers)
            wall_s = time.monotonic() - started
            requests_made = ops.REQUESTS.requests - before
        finally:
            bmc.destroy_emulator(state_dir)
    failed = [r for r in rows if "error" in r]
    print(
        f"bmc status: {len(rows)} BMCs, {len(failed)} failed, {args.workers} workers: "
        f"wall {wall_s:.2f}s, {requests_made} requests, {requests_made / wall_s:.0f} requests/s, "
        f"{len(rows) / wall_s:.0f} BMCs/s"
    )
    for row in failed[:5]:
        print(f"  {row['node']}: {row['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
