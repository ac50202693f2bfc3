"""The Pulumi program body: stack config -> spec -> design -> components and outputs.

`infra/__main__.py` calls `main()` under `pulumi up`; tests and the benchmark call `run()`
under Pulumi's mocks. Nothing physical is computed here: the design holds every number,
the components map it onto resources.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pulumi

from infra.deploy.components.cooling import CoolingPlant
from infra.deploy.components.fabric import FabricPlane
from infra.deploy.components.index import DesignIndex
from infra.deploy.components.power import PowerPlant
from infra.deploy.components.site import BmcSettings, Hall, Site
from infra.deploy.providers.artifact import inline
from infra.deploy.render import cabling_plans, inventory_data, inventory_output
from infra.deploy.stacks import NS, RESOURCE_BUDGET, StackPlan, resolve
from infra.design import compile_design
from infra.design.model import Design
from infra.policy import check_design
from infra.policy.summary import summarize
from infra.spec import ClusterSpec

PROJECT_DIR = Path(__file__).resolve().parents[2]  # Pulumi.yaml's `main: infra/`


@dataclass(frozen=True)
class Settings:
    """The stack's config besides the spec (keys under the `supercluster:` namespace)."""

    config: dict[str, Any]  # cluster / specStack / layer, as resolve() reads them
    artifacts_dir: str | None = None  # artifactsDir: default <project>/artifacts/pulumi/<stack>
    manage_bmcs: bool = False  # manageBmcs: one BmcRack per compute rack
    bmc_username: str | None = None  # bmcUsername
    bmc_password: pulumi.Input[str] | None = None  # bmcPassword (a secret)
    bmc_verify_tls: bool = True  # bmcVerifyTls
    bmc_ca_bundle: str | None = None  # bmcCaBundle: PEM of the BMCs' CA
    bmc_sim_record: str | None = None  # bmcSimRecord: endpoint.json of `supercluster sim up`
    bmc_timeout_s: float | None = None  # bmcTimeoutS: seconds per Redfish request
    bmc_attempts: int | None = None  # bmcAttempts: tries per request (first included)

    @classmethod
    def from_pulumi_config(cls) -> Settings:
        cfg = pulumi.Config(NS)
        config: dict[str, Any] = {}
        for key in ("cluster", "specStack", "layer"):
            value = cfg.get_object(key) if key == "cluster" else cfg.get(key)
            if value is not None:
                config[f"{NS}:{key}"] = value
        return cls(
            config=config,
            artifacts_dir=cfg.get("artifactsDir"),
            manage_bmcs=bool(cfg.get_bool("manageBmcs")),
            bmc_username=cfg.get("bmcUsername"),
            bmc_password=cfg.get_secret("bmcPassword"),
            bmc_verify_tls=cfg.get_bool("bmcVerifyTls") is not False,
            bmc_ca_bundle=cfg.get("bmcCaBundle"),
            bmc_sim_record=cfg.get("bmcSimRecord"),
            bmc_timeout_s=cfg.get_float("bmcTimeoutS"),
            bmc_attempts=cfg.get_int("bmcAttempts"),
        )


def spec_sha256(spec: ClusterSpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@lru_cache(maxsize=2)
def _design(spec_json: str, spec_stack: str) -> tuple[Design, tuple]:
    # Keyed on the canonical spec: hall stacks of one site run in one process (benchmark,
    # tests) share the compiled design; under `pulumi up` each stack is its own process.
    spec = ClusterSpec.model_validate_json(spec_json)
    design = compile_design(spec, stack=spec_stack)
    return design, tuple(check_design(design))


def design_for(spec: ClusterSpec, spec_stack: str) -> tuple[Design, list]:
    design, violations = _design(spec.model_dump_json(), spec_stack)
    return design, list(violations)


def _bmc_settings(settings: Settings, design: Design) -> BmcSettings | None:
    if not settings.manage_bmcs:
        return None
    from infra.deploy.providers.bmc_targets import rack_inputs
    from infra.errors import InputError

    if settings.bmc_username is None or settings.bmc_password is None:
        raise InputError(
            [
                f"{NS}:manageBmcs is true: set {NS}:bmcUsername and the secret {NS}:bmcPassword "
                "(pulumi config set --secret supercluster:bmcPassword ...)"
            ]
        )
    sim = json.loads(Path(settings.bmc_sim_record).read_text()) if settings.bmc_sim_record else None
    return BmcSettings(
        connection_options=_connection_options(settings),
        username=settings.bmc_username,
        password=settings.bmc_password,
        verify_tls=settings.bmc_verify_tls,
        ca_bundle=settings.bmc_ca_bundle or (sim or {}).get("ca_bundle"),
        inputs_by_rack={r["rack"]: r for r in rack_inputs(design, sim)},
    )


def _connection_options(settings: Settings) -> dict[str, float]:
    """bmcTimeoutS / bmcAttempts: a site whose BMCs answer slowly (or a test that wants a
    hung BMC to fail fast) tunes the Redfish retry budget; unset keeps the provider's."""
    from infra.errors import InputError

    options: dict[str, float] = {}
    for key, name, value in (
        ("bmcTimeoutS", "timeout_s", settings.bmc_timeout_s),
        ("bmcAttempts", "attempts", settings.bmc_attempts),
    ):
        if value is None:
            continue
        if not (math.isfinite(value) and value > 0):
            raise InputError([f"{NS}:{key}: must be a positive number, got {value}"])
        options[name] = value
    return options


def _site_layer(
    site: Site, ix: DesignIndex, plan: StackPlan, out_dir: Path, project_dir: Path
) -> dict[str, Any]:
    design, spec = ix.design, plan.spec
    PowerPlant(f"{design.site}-power", ix, spec, site.child)
    CoolingPlant(f"{design.site}-cooling", ix, spec, site.child)
    plans = cabling_plans(design)
    artifacts: dict[str, Any] = {}
    planes = {}
    for p in design.planes:
        fp = FabricPlane(
            p.name,
            ix,
            cabling_csv=plans[p.name],
            artifacts_dir=out_dir,
            spec_stack=plan.spec_stack,
            project_dir=project_dir,
            opts=site.child,
        )
        for kind, art in (("cabling", fp.cabling), ("opensm_conf", fp.opensm), ("nvue", fp.nvue)):
            if art is not None:  # opensm.conf on InfiniBand, NVUE on Spectrum-X
                artifacts[f"{p.name}/{kind}"] = {"path": art.path, "sha256": art.sha256}
        planes[p.name] = {"rails": list(p.rails), "lids": p.lids, "endpoints": p.endpoints}
    return {"artifacts": artifacts, "planes": planes}


def _site_reference(plan: StackPlan, my_sha: str) -> pulumi.Output:
    """The site stack's outputs; warn when it was deployed from another spec revision."""
    name = f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{plan.spec_stack}"
    ref = pulumi.StackReference(name)

    def check(site_sha: Any) -> Any:
        if site_sha and site_sha != my_sha:
            pulumi.log.warn(
                f"site stack {plan.spec_stack} was deployed from spec {str(site_sha)[:12]}, "
                f"this hall stack uses {my_sha[:12]}: run `supercluster up --stack "
                f"{plan.spec_stack}` first"
            )
        return site_sha

    return ref.get_output("spec_sha256").apply(check)


def resource_count(plan: StackPlan, ix: DesignIndex, manage_bmcs: bool = False) -> int:
    """How many resources the program registers for this plan (the engine adds the Stack
    and the dynamic provider): checked against the budget before registering anything."""
    d = ix.design
    n = 1  # Site
    if plan.has_site:
        tiers = {(s.plane, s.tier) for s in d.switches}
        n += 2 + len(d.power.phases)  # power plant + phases, cooling plant
        # plane, cabling, and the SM with its opensm.conf or the NVUE configurations
        per_plane = 4 if d.technology == "infiniband_ndr" else 3
        n += per_plane * len(d.planes) + len(tiers)  # and the switch tiers
    else:
        n += 1  # StackReference to the site stack
    for hall in plan.halls:
        racks = ix.racks_by_hall[hall]
        n += 3 + len(ix.sus_by_hall[hall]) + len(racks)  # hall, feed, loop, SUs, racks
        if manage_bmcs:
            n += sum(1 for r in racks if ix.nodes_by_rack.get(r.name))
    return n + (1 if plan.halls else 0)  # the inventory artifact


def _check_budget(plan: StackPlan, count: int) -> None:
    if count + 2 > RESOURCE_BUDGET:
        pulumi.log.warn(
            f"stack {plan.stack} registers {count:,} resources, over the {RESOURCE_BUDGET:,} "
            "a stack should hold: split it into a site stack and hall stacks "
            "(supercluster:specStack / supercluster:layer, see docs/pulumi.md)"
        )


def run(stack: str, settings: Settings, project_dir: Path = PROJECT_DIR) -> StackPlan:
    plan = resolve(stack, project_dir, settings.config)
    design, violations = design_for(plan.spec, plan.spec_stack)
    ix = DesignIndex.build(design)
    _check_budget(plan, resource_count(plan, ix, settings.manage_bmcs))
    sha = spec_sha256(plan.spec)
    out_dir = Path(settings.artifacts_dir or project_dir / "artifacts" / "pulumi" / stack).resolve()
    site = Site(
        design.site,
        spec=plan.spec.model_dump(mode="json"),
        stack=stack,
        layer=plan.layer,
        spec_sha256=sha,
    )
    bmc = _bmc_settings(settings, design)
    outputs: dict[str, Any] = {"artifacts": {}}
    if plan.has_site:
        outputs.update(_site_layer(site, ix, plan, out_dir, project_dir))
    else:
        outputs["site_spec_sha256"] = _site_reference(plan, sha)
    for hall in plan.halls:
        Hall(hall, ix, bmc, site.child)
    if plan.halls:
        hall = None if plan.layer == "all" else plan.layer
        inventory = inventory_data(design, hall)
        art = inline(
            f"{plan.layer}-inventory",
            out_dir / "inventory.json",
            json.dumps(inventory, indent=1, sort_keys=True) + "\n",
            site.child,
        )
        outputs["artifacts"]["inventory"] = {"path": art.path, "sha256": art.sha256}
        outputs["inventory"] = inventory_output(inventory)
    site.done()
    _export(plan, design, violations, sha, outputs, settings)
    return plan


def _export(plan, design, violations, sha, outputs, settings: Settings) -> None:
    pulumi.export("stack", plan.stack)
    pulumi.export("layer", plan.layer)
    pulumi.export("halls", list(plan.halls))
    pulumi.export("spec_sha256", sha)
    pulumi.export("summary", summarize(design, violations))
    for key, value in outputs.items():
        pulumi.export(key, value)
    if settings.bmc_password is not None:
        # The only place credentials appear in outputs: as one secret value.
        pulumi.export(
            "bmc_credentials",
            pulumi.Output.secret(
                pulumi.Output.all(settings.bmc_username or "", settings.bmc_password).apply(
                    lambda up: {"username": up[0], "password": up[1]}
                )
            ),
        )


def main() -> None:
    # The project is where Pulumi.yaml is (the engine's root directory): a workspace that
    # links infra/ from elsewhere (tests, `up --sim`) keeps its own stack files.
    root = pulumi.get_root_directory()
    run(pulumi.get_stack(), Settings.from_pulumi_config(), Path(root) if root else PROJECT_DIR)
