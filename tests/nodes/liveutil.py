"""A small live site for the Ansible tests: nodes that boot systemd (infra.sim.live) on
127.0.90.0-127.0.99.255, the stand-in vendor repository on 127.0.90.254, and an inventory
generated for them by infra.nodes.inventory (which marks them live), as siteutil does for
plain nodes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from fleetutil import running_fleet
from siteutil import MODELS, Site, design_nodes

from infra.nodes import inventory
from infra.sim import testrepo
from infra.sim.hardware import Hardware

LIVE_REPO_HOST = "127.0.90.254"


@contextlib.contextmanager
def running_live_site(
    tmp: Path,
    count: int,
    network: str,
    *,
    hardware: Mapping[str, Hardware] | Hardware | None = None,
    repo_host: str = LIVE_REPO_HOST,
) -> Iterator[Site]:
    repo = testrepo.build(tmp / "repo")
    with (
        testrepo.serve(repo, repo_host) as url,
        running_fleet(
            tmp / "sim", count, network=network, hardware=hardware or Hardware(), live=True
        ) as fleet,
    ):
        connection = json.loads(fleet.connection.read_text())
        files = inventory.render("test", design_nodes(fleet.hosts()), MODELS, connection)
        files["group_vars/all/mirror.yml"] = (
            f"vendor_repo_url: {url}\nvendor_repo_suite: ./\nvendor_repo_keyring: ''\n"
        )
        inv = tmp / "inventory" / "test"
        inventory.write(inv, files)
        yield Site(fleet, inv, tmp / "artifacts", url)
