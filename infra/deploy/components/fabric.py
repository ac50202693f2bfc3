"""FabricPlane: one InfiniBand subnet, or the one routed Spectrum-X fabric. Its switches
by tier (as data: a memphis plane has ~1,000 switches), for InfiniBand its subnet manager
with the OpenSM configuration as an artifact, for Spectrum-X its routing plan (ASNs,
loopback and NIC pools) as data and every switch's NVUE configuration as one artifact,
and the plane's cabling plan as an artifact with its content hash (cables are data, not
resources)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pulumi

from infra.deploy.components.base import Component
from infra.deploy.components.index import DesignIndex
from infra.deploy.providers.artifact import Artifact, inline, sha256_text
from infra.deploy.render import nvue_bundle, opensm_conf

TIERS = ("leaf", "spine", "core")


class SwitchTier(Component):
    TYPE = "supercluster:fabric:SwitchTier"


class SubnetManager(Component):
    TYPE = "supercluster:fabric:SubnetManager"


class FabricPlane(Component):
    TYPE = "supercluster:fabric:FabricPlane"

    def __init__(
        self,
        plane: str,
        ix: DesignIndex,
        *,
        cabling_csv: str,
        artifacts_dir: Path,
        spec_stack: str,
        project_dir: Path,
        opts: pulumi.ResourceOptions,
    ):
        p = next(x for x in ix.design.planes if x.name == plane)
        switches = [s for s in ix.design.switches if s.plane == plane]
        super().__init__(
            plane,
            {
                "rails": list(p.rails),
                "tiers": p.tiers,
                "radix": p.radix,
                "endpoints": p.endpoints,
                "lids": p.lids,
                "oversubscription": dict(p.oversubscription),
                "switches": dict(Counter(s.tier for s in switches)),
            },
            opts,
        )
        self.tiers = []
        for tier in TIERS:
            members = [s for s in switches if s.tier == tier]
            if not members:
                continue
            t = SwitchTier(
                f"{plane}-{tier}",
                {
                    "tier": tier,
                    "count": len(members),
                    "models": dict(Counter(s.model for s in members)),
                    "ports": members[0].ports,
                    "groups": len({s.group for s in members}),
                },
                self.child,
            )
            t.done()
            self.tiers.append(t)
        self.sm = self.opensm = None
        if ix.design.technology == "infiniband_ndr":
            self.sm = SubnetManager(
                f"{plane}-sm", {"routing_engine": "ftree", "lmc": p.lmc}, self.child
            )
            self.opensm = inline(
                f"{plane}-opensm-conf",
                artifacts_dir / plane / "opensm.conf",
                opensm_conf(ix.design, plane),
                pulumi.ResourceOptions(parent=self.sm),
            )
            self.sm.done({"config": self.opensm.path})
        # The cabling plan is rendered again by the provider from the spec: the state
        # carries its hash, not its megabytes.
        self.cabling = Artifact(
            f"{plane}-cabling",
            path=str(artifacts_dir / plane / "cabling.csv"),
            sha256=sha256_text(cabling_csv),
            renderer="cabling_plan",
            args={"spec_stack": spec_stack, "project_dir": str(project_dir), "plane": plane},
            opts=self.child,
        )
        outputs = {"cabling_sha256": self.cabling.sha256}
        self.nvue = None
        if ix.design.technology == "spectrum_x":
            outputs["routing"] = routing_summary(ix.design)
            # Every switch's NVUE configuration as one artifact (a resource per switch
            # would be 4,160 at memphis), rendered again by the provider like the
            # cabling plan: the state holds its hash, not its ~86 MB.
            self.nvue = Artifact(
                f"{plane}-nvue",
                path=str(artifacts_dir / plane / "nvue.yaml"),
                sha256=sha256_text(nvue_bundle(ix.design)),
                renderer="nvue_bundle",
                args={"spec_stack": spec_stack, "project_dir": str(project_dir)},
                opts=self.child,
            )
            outputs["nvue_sha256"] = self.nvue.sha256
        self.done(outputs)


def routing_summary(design) -> dict:
    """A Spectrum-X fabric's L3 plan in brief: the per-switch and per-NIC plan is in the
    design (and the switch configurations rendered from it)."""
    asns = [s.asn for s in design.switches_l3]
    return {
        "underlay": "bgp_unnumbered",
        "asns": len(set(asns)),
        "asn_range": [min(asns), max(asns)] if asns else [],
        "loopbacks": len(design.switches_l3),
        "nic_links": len(design.nics_l3),
    }
