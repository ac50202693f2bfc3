"""From the design to BMC endpoints and desired states: which Redfish endpoint answers for
each node's BMC, and what its node profile wants there. Pure: no I/O.

Real site: a node's BMC is https://<bmc_ip> with its single system. Simulated site: one
sushy-emulator serves every BMC; `sim` is the record `supercluster sim up` wrote
(<state_dir>/bmc/endpoint.json: {"url", "ca_bundle", "systems": {bmc_ip: {"node",
"system"}}}), and a node's BMC is (sim url, its system id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.catalog import Catalog, load_catalog
from infra.deploy.providers.redfish_ops import BmcEndpoint, Desired
from infra.design.model import Design, Node


def endpoint(node: Node, sim: Mapping[str, Any] | None = None) -> BmcEndpoint:
    if sim is None:
        return BmcEndpoint(node.name, node.bmc_ip, f"https://{node.bmc_ip}")
    entry = sim["systems"].get(node.bmc_ip)
    if entry is None:
        raise KeyError(f"{node.name}: BMC {node.bmc_ip} is not served by the simulated site")
    return BmcEndpoint(node.name, node.bmc_ip, sim["url"], entry["system"])


def profile(
    node: Node,
    catalog: Catalog | None = None,
    power: str = "On",
    boot_target: str = "Pxe",
    boot_mode: str = "Once",
) -> Desired:
    """The node profile: the catalog's BIOS map for the node model, and the power and
    boot override a node needs before Ansible can reach it (on, PXE once)."""
    model = (catalog or load_catalog()).nodes[node.model]
    bios = {k: str(v) for k, v in sorted(model.bios.items())}
    return Desired(power=power, boot_target=boot_target, boot_mode=boot_mode, bios=bios)


def nodes_by_rack(nodes: Iterable[Node]) -> dict[str, list[Node]]:
    racks: dict[str, list[Node]] = {}
    for node in nodes:
        racks.setdefault(node.rack, []).append(node)
    return racks


def rack_inputs(design: Design, sim: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Keyword arguments for one BmcRack per compute rack, minus the credentials and the
    site's TLS settings (the Pulumi program adds those). Racks in design order. On the
    simulated site (`sim up --nodes N` serves the first N nodes' BMCs) only the served
    nodes are managed, and racks with none are left out, as `bmc status` reports them."""
    catalog = load_catalog()
    out = []
    nodes_all = design.nodes
    if sim is not None:
        nodes_all = [n for n in nodes_all if n.bmc_ip in sim["systems"]]
    for rack, nodes in nodes_by_rack(nodes_all).items():
        want = profile(nodes[0], catalog)
        out.append(
            {
                "rack": rack,
                "nodes": [
                    {"node": e.node, "address": e.address, "url": e.url, "system": e.system}
                    for e in (endpoint(n, sim) for n in nodes)
                ],
                "power": want.power,
                "boot_target": want.boot_target,
                "boot_mode": want.boot_mode,
                "bios": want.bios,
            }
        )
    return out
