"""PowerPlant (utility contract, on-site generation, storage, the energization phases)
and PowerFeed (a hall's A/B distribution). The contract check itself is the policy pack's
(power.contract_exceeded); these components publish the design's numbers."""

from __future__ import annotations

import pulumi

from infra.deploy.components.base import Component
from infra.deploy.components.index import DesignIndex
from infra.spec import ClusterSpec


class PowerPhase(Component):
    TYPE = "supercluster:power:PowerPhase"


class PowerPlant(Component):
    TYPE = "supercluster:power:PowerPlant"

    def __init__(self, name: str, ix: DesignIndex, spec: ClusterSpec, opts):
        p = ix.design.power
        super().__init__(
            name,
            {
                "contract_kw": p.contract_kw,
                "onsite_kw": p.onsite_kw,
                "storage_kw": p.storage_kw,
                "storage_kwh": p.storage_kwh,
                "it_kw": p.it_kw,
                "facility_kw": p.facility_kw,
                "pue": p.pue,
                "budget_basis": spec.power.budget_basis,
                "generation": [g.model_dump() for g in spec.power.generation],
                "storage": [s.model_dump() for s in spec.power.storage],
            },
            opts,
        )
        self.phases = [
            PowerPhase(
                f"phase-{ph.phase}",
                {**ph.loads(), "storage_kw": ph.storage_kw},
                self.child,
            )
            for ph in p.phases
        ]
        for phase in self.phases:
            phase.done()
        self.done()


class PowerFeed(Component):
    """A hall's 2N (A/B) distribution: what its racks draw on each feed."""

    TYPE = "supercluster:power:PowerFeed"

    def __init__(self, hall: str, ix: DesignIndex, opts: pulumi.ResourceOptions):
        racks = [r for r in ix.design.power.racks if r.hall == hall]
        super().__init__(
            f"{hall}-power",
            {
                "hall": hall,
                "it_kw": ix.design.power.hall_it_kw.get(hall, 0.0),
                "racks": len(racks),
                "feed_a_kw": round(sum(r.feed_a_kw for r in racks), 3),
                "feed_b_kw": round(sum(r.feed_b_kw for r in racks), 3),
                "nameplate_kw": round(sum(r.nameplate_kw for r in racks), 3),
            },
            opts,
        )
        self.done()
