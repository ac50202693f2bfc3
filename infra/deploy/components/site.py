"""Site, Hall, ScalableUnit and Rack: the physical structure of a site as components.

Names are the design's names (site, hall, SU, rack), so a resource keeps its URN as long
as the object keeps its name. Nodes, PDUs and in-rack CDUs are a rack's data, not
resources: a memphis hall is 624 racks and stays one reviewable stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.deploy.components.base import Component
from infra.deploy.components.index import DesignIndex
from infra.design.model import Node
from infra.design.model import Rack as DesignRack


@dataclass
class BmcSettings:
    """Set when `supercluster:manageBmcs` is true: each compute rack then gets a BmcRack
    (infra/deploy/providers/redfish.py) managing its node BMCs over Redfish."""

    username: pulumi.Input[str]
    password: pulumi.Input[str]
    verify_tls: bool = True
    ca_bundle: str | None = None
    inputs_by_rack: dict[str, dict[str, Any]] = field(default_factory=dict)
    connection_options: dict[str, float] = field(default_factory=dict)


class Site(Component):
    """The root of every stack. Its props carry the spec, so the policy pack can compile
    the same design and run the same rules as `supercluster validate`."""

    TYPE = "supercluster:site:Site"

    def __init__(self, name: str, *, spec: dict, stack: str, layer: str, spec_sha256: str):
        super().__init__(
            name,
            {"stack": stack, "layer": layer, "spec_sha256": spec_sha256},
            inputs={"spec": spec, "stack": stack, "layer": layer, "spec_sha256": spec_sha256},
        )


def _node(n: Node) -> dict[str, Any]:
    return {"name": n.name, "u": n.u, "model": n.model, "mgmt_ip": n.mgmt_ip, "bmc_ip": n.bmc_ip}


class Rack(Component):
    TYPE = "supercluster:site:Rack"

    def __init__(
        self,
        rack: DesignRack,
        ix: DesignIndex,
        bmc: BmcSettings | None,
        opts: pulumi.ResourceOptions,
    ):
        power = ix.power_by_rack.get(rack.name)
        cooling = ix.cooling_by_rack.get(rack.name)
        cdu = ix.cdu_of(rack.name)
        props: dict[str, Any] = {
            "hall": rack.hall,
            "row": rack.row,
            "position": rack.index,
            "kind": rack.kind,
            "rack_type": rack.rack_type,
            "su": rack.su,
            "x_m": rack.x_m,
            "y_m": rack.y_m,
            "nodes": [_node(n) for n in ix.nodes_by_rack.get(rack.name, [])],
            "switches": [
                {"name": s.name, "tier": s.tier, "plane": s.plane, "u": s.u, "model": s.model}
                for s in ix.switches_by_rack.get(rack.name, [])
            ],
            "power": None
            if power is None
            else {
                "expected_kw": power.expected_kw,
                "nameplate_kw": power.nameplate_kw,
                "feed_capacity_kw": power.feed_capacity_kw,
                "feed_a_kw": power.feed_a_kw,
                "feed_b_kw": power.feed_b_kw,
            },
            "cooling": None
            if cooling is None
            else {
                "heat_kw": cooling.heat_kw,
                "liquid_kw": cooling.liquid_kw,
                "air_kw": cooling.air_kw,
                "flow_lpm": cooling.flow_lpm,
            },
            "cdu": None
            if cdu is None
            else {
                "name": cdu.name,
                "model": cdu.model,
                "load_kw": cdu.load_kw,
                "capacity_kw": cdu.capacity_kw,
            },
        }
        super().__init__(rack.name, props, opts)
        self.bmcs = None
        if bmc is not None and rack.name in bmc.inputs_by_rack:
            self.bmcs = self._bmc_rack(bmc)
        self.done()

    def _bmc_rack(self, bmc: BmcSettings):
        # The Redfish provider is imported only when BMCs are managed (it pulls in sushy).
        from infra.deploy.providers.redfish import BmcRack

        return BmcRack(
            f"{self._name}-bmcs",
            **bmc.inputs_by_rack[self._name],
            username=bmc.username,
            password=bmc.password,
            verify_tls=bmc.verify_tls,
            ca_bundle=bmc.ca_bundle,
            connection_options=bmc.connection_options or None,
            opts=self.child,
        )


class ScalableUnit(Component):
    TYPE = "supercluster:site:ScalableUnit"

    def __init__(self, su: str, ix: DesignIndex, bmc: BmcSettings | None, opts):
        nodes = ix.nodes_by_su.get(su, [])
        leaves = ix.leaves_by_su.get(su, [])
        super().__init__(
            su,
            {
                "nodes": len(nodes),
                "gpus": len(nodes) * ix.design.gpus_per_node,
                "racks": [r.name for r in ix.racks_by_su[su]],
                "leaves": [s.name for s in leaves],
            },
            opts,
        )
        self.racks = [Rack(r, ix, bmc, self.child) for r in ix.racks_by_su[su]]
        self.done()


class Hall(Component):
    """A hall: its scalable units (with their compute racks), its network racks, its
    cooling loop and power feed."""

    TYPE = "supercluster:site:Hall"

    def __init__(self, hall: str, ix: DesignIndex, bmc: BmcSettings | None, opts):
        from infra.deploy.components.cooling import CoolingLoop
        from infra.deploy.components.power import PowerFeed

        racks = ix.racks_by_hall[hall]
        super().__init__(
            hall,
            {
                "scalable_units": list(ix.sus_by_hall[hall]),
                "compute_racks": sum(1 for r in racks if r.kind == "compute"),
                "network_racks": sum(1 for r in racks if r.kind == "network"),
                "it_kw": ix.design.power.hall_it_kw.get(hall, 0.0),
            },
            opts,
        )
        self.power = PowerFeed(hall, ix, self.child)
        self.cooling = CoolingLoop(hall, ix, self.child)
        self.sus = [ScalableUnit(su, ix, bmc, self.child) for su in ix.sus_by_hall[hall]]
        # Compute racks belong to their SU; racks of no SU (switch racks) to the hall.
        self.network_racks = [Rack(r, ix, None, self.child) for r in racks if not r.su]
        self.done()
