"""CoolingPlant (facility water, plant capacity) and CoolingLoop (a hall's secondary loop:
its CDUs, liquid and air heat, coolant flow)."""

from __future__ import annotations

import pulumi

from infra.deploy.components.base import Component
from infra.deploy.components.index import DesignIndex
from infra.design.cooling import busiest_cdu_pct
from infra.spec import ClusterSpec


class CoolingPlant(Component):
    TYPE = "supercluster:cooling:CoolingPlant"

    def __init__(self, name: str, ix: DesignIndex, spec: ClusterSpec, opts):
        c = ix.design.cooling
        super().__init__(
            name,
            {
                "water_class": spec.cooling.water_class,
                "supply_temp_c": spec.cooling.supply_temp_c,
                "capacity_kw": c.plant_capacity_kw,
                "liquid_kw": c.liquid_kw,
                "air_kw": c.air_kw,
                "facility_water_lpm": c.facility_water_lpm,
            },
            opts,
        )
        self.done()


class CoolingLoop(Component):
    TYPE = "supercluster:cooling:CoolingLoop"

    def __init__(self, hall: str, ix: DesignIndex, opts: pulumi.ResourceOptions):
        racks = [r for r in ix.design.cooling.racks if r.hall == hall]
        cdus = ix.cdus_by_hall.get(hall, [])
        super().__init__(
            f"{hall}-loop",
            {
                "hall": hall,
                "liquid_kw": round(sum(r.liquid_kw for r in racks), 3),
                "air_kw": round(sum(r.air_kw for r in racks), 3),
                "flow_lpm": round(sum(r.flow_lpm for r in racks), 3),
                "cdus": len(cdus),
                "cdu_models": sorted({c.model for c in cdus}),
                "max_cdu_load_pct": round(busiest_cdu_pct(cdus), 1),
            },
            opts,
        )
        self.done()
