"""One plane of a design under ibsim with OpenSM's sweep done, for the tests that read
port counters from it (perfquery) and set them through ibsim's console."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra import procs
from infra.design.model import Design
from infra.fabric.guids import ca_guid, port_guid
from infra.fabric.opensm import OpenSmPaths, render_plane
from infra.fabric.plane import PlaneFabric, plane_fabric
from infra.fabric.sim import SIM_RATE, paths_conf, start_ibsim, tool, umad2sim
from infra.fabric.topology import write_topology


@dataclass
class SweptPlane:
    fabric: PlaneFabric
    state: Path  # the run's directory (cwd of every client)
    sim: subprocess.Popen  # ibsim, its console on stdin
    client: dict[str, str]  # environment of a diag tool on the SM's HCA

    def set_counters(self, node_id: str, values: Mapping[tuple[int, str], int]) -> None:
        """ibsim's `PerformanceSet` for (port, counter) -> value on switch `node_id`."""
        for (port, counter), value in values.items():
            self.sim.stdin.write(
                f'PerformanceSet "{node_id}"[{port}] PortCounters.{counter}={value}\n'
            )
        self.sim.stdin.flush()


@contextmanager
def swept_plane(design: Design, plane: str = "p0") -> Iterator[SweptPlane]:
    fabric = plane_fabric(design, plane)
    state = Path(tempfile.mkdtemp(prefix="supercluster-ibsim-test-"))
    try:
        for name, text in render_plane(design, fabric, OpenSmPaths.under(state), qos=False).items():
            (state / name).write_text(text)
        net = state / "ibsim.net"
        net.write_text(write_topology(fabric, rate=SIM_RATE, title=f"plane {plane} (test)"))
        ibsim = start_ibsim(fabric, net, state, 60, commands=True)
        try:
            sm_ca = ca_guid(fabric.sm_ca)
            client = dict(ibsim.env, LD_PRELOAD=umad2sim(), SIM_HOST=f"H-{sm_ca:016x}")
            sm = f"0x{port_guid(sm_ca, 1):016x}"
            subprocess.run(
                [tool("opensm"), "-F", paths_conf(state), "-g", sm, "-o"],
                cwd=state,
                env=client,
                capture_output=True,
                timeout=120,
                check=True,
            )
            yield SweptPlane(fabric, state, ibsim.proc, client)
        finally:
            procs.stop_group(ibsim.proc)
    finally:
        shutil.rmtree(state, ignore_errors=True)
