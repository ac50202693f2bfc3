"""A small simulated site for the Ansible tests: sshd nodes (tests/fleetutil.py) on
127.0.10.x, the stand-in vendor repository served on a loopback HTTP address, and an
inventory generated for them by infra.nodes.inventory, exactly as `supercluster inventory --sim`
does for a design."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from fleetutil import running_fleet

from infra.design.model import Hca, Node
from infra.nodes import configure, inventory
from infra.sim import testrepo
from infra.sim.fleet import Fleet
from infra.sim.hardware import Hardware

PROJECT_DIR = Path(__file__).resolve().parents[2]
MODEL = "HGX-H100-LC-4U"
MODELS = {MODEL: inventory.NodeModelInfo(gpus=8, gpu_model="H100-SXM5-80GB", rails=8)}
REPO_HOST = "127.0.10.254"  # the tests' vendor mirror (outside every test fleet's range)


def design_nodes(
    hosts: list[tuple[str, str]], su_of: Mapping[str, str] | None = None
) -> list[Node]:
    """Design nodes for (name, ip) pairs: one rack per SU, 8 rails each on plane p0."""
    nodes = []
    for i, (name, ip) in enumerate(hosts):
        su = (su_of or {}).get(name, "su001")
        hcas = tuple(
            Hca(rail=r, device=f"mlx5_{r}", plane="p0", leaf=f"p0-leaf-{su}-r{r}", leaf_port=i + 1)
            for r in range(8)
        )
        nodes.append(
            Node(
                name=name,
                index=i,
                hall="hall1",
                su=su,
                slot=i,
                rack=f"hall1-r01-{su}",
                u=5 + 4 * i,
                model=MODEL,
                mgmt_ip=ip,
                bmc_ip=ip,  # unused by the roles
                hcas=hcas,
            )
        )
    return nodes


@dataclass
class Site:
    fleet: Fleet
    inventory_dir: Path
    artifacts_dir: Path
    repo_url: str

    def run(self, **kwargs) -> configure.RunResult:
        return configure.run(
            project_dir=PROJECT_DIR,
            inventory_dir=self.inventory_dir,
            artifacts_dir=self.artifacts_dir,
            **kwargs,
        )

    def ssh(self, host: str, command: str, check: bool = True) -> str:
        """Run a command on a node over the fleet's real SSH (its own key and known_hosts)."""
        proc = subprocess.run(
            ["ssh", "-F", str(self.fleet.ssh_config), "-o", "BatchMode=yes", host, command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert proc.returncode == 0, f"{host}: {command}: {proc.stderr.strip()}"
        return proc.stdout


@contextlib.contextmanager
def running_site(
    tmp: Path,
    count: int,
    network: str,
    *,
    hardware: Mapping[str, Hardware] | Hardware | None = None,
    su_of: Mapping[str, str] | None = None,
    prefix: str = "node",
    repo_host: str = REPO_HOST,
) -> Iterator[Site]:
    repo = testrepo.build(tmp / "repo")
    with (
        testrepo.serve(repo, repo_host) as url,
        running_fleet(
            tmp / "sim", count, network=network, prefix=prefix, hardware=hardware or Hardware()
        ) as fleet,
    ):
        connection = json.loads(fleet.connection.read_text())
        files = inventory.render("test", design_nodes(fleet.hosts(), su_of), MODELS, connection)
        # The site's mirror for these nodes: the loopback test repository (flat, unsigned).
        files["group_vars/all/mirror.yml"] = (
            f"vendor_repo_url: {url}\nvendor_repo_suite: ./\nvendor_repo_keyring: ''\n"
        )
        inv = tmp / "inventory" / "test"
        inventory.write(inv, files)
        yield Site(fleet, inv, tmp / "artifacts", url)
