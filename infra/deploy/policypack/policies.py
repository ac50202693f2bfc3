"""The policies of the supercluster pack, as pure functions over the Site resource.

Every stack's root Site component carries the spec as an input; a policy compiles that
spec into the design (once per process) and reports the violations of its rules from
infra.policy.RULES, the functions `supercluster validate` runs. Mandatory policies block
the deployment; the advisory one passes warnings (thin power headroom) on to the user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from infra.design import compile_design
from infra.errors import InputError
from infra.policy import RULES, Violation
from infra.spec import ClusterSpec, parse_spec

PACK_NAME = "supercluster"
SITE_TYPE = "supercluster:site:Site"
MAX_REPORTED = 20  # a broken memphis design can yield 300,000 reach violations


@dataclass(frozen=True)
class PolicyDef:
    name: str
    description: str
    rules: tuple[str, ...]  # keys of infra.policy.RULES: it reports all they emit
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY


POLICIES = (
    PolicyDef(
        "power-contract-per-phase",
        "Each energization phase's facility demand fits the utility contract plus on-site "
        "generation in force in that phase (storage is never counted).",
        ("power.contract_exceeded",),
    ),
    PolicyDef(
        "rack-power-feeds",
        "Each of a rack's A and B feeds carries the whole rack (2N).",
        ("power.pdu_overload",),
    ),
    PolicyDef(
        "cooling-capacity",
        "CDUs carry their liquid load with one unit failed (N+1); the plant carries the "
        "site's heat.",
        ("cooling.cdu_overload", "cooling.plant_exceeded"),
    ),
    PolicyDef(
        "fabric-limits",
        "Each InfiniBand subnet stays within 49,151 unicast LIDs, within the fat tree's "
        "radix limit for its tiers, and no switch port is cabled twice; a Spectrum-X "
        "fabric is 1:1, spreads every uplink set over all switches above it, and has one "
        "loopback per switch and one /31 per NIC, none twice.",
        (
            "fabric.lid_limit",
            "fabric.tier_limit",
            "fabric.ports_exhausted",
            "fabric.oversubscription",
            "fabric.ecmp_width",
            "fabric.address_plan",
        ),
    ),
    PolicyDef(
        "cable-reach",
        "Every cable has a catalog medium that reaches its length.",
        ("cable.reach_exceeded",),
    ),
    PolicyDef(
        "power-headroom",
        "Warns when a phase has less than 5% power headroom.",
        ("power.contract_headroom",),
        EnforcementLevel.ADVISORY,
    ),
)


@lru_cache(maxsize=2)
def _violations(spec_json: str, stack: str) -> dict[str, tuple[Violation, ...]]:
    spec = ClusterSpec.model_validate_json(spec_json)
    design = compile_design(spec, stack=stack)
    return {key: tuple(sorted(rule(design))) for key, rule in RULES.items()}


def plain(value):
    """Plain dicts and lists from the read-only Mapping/Sequence proxies pulumi_policy hands
    a policy (the spec parser, like JSON, wants dicts and lists)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def site_violations(props: Mapping) -> dict[str, tuple[Violation, ...]]:
    """rule id (a key of infra.policy.RULES) -> its violations, for the design a Site
    resource's spec compiles to (compiled once per process for all policies)."""
    spec = parse_spec(plain(props["spec"]))
    return _violations(spec.model_dump_json(), str(props.get("stack", "")))


def make_validator(
    policy: PolicyDef,
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != SITE_TYPE:
            return
        try:
            by_rule = site_violations(args.props)
            found = [v for key in policy.rules for v in by_rule[key]]
        except InputError as exc:
            for line in exc.problems:
                report_violation(f"the spec does not compile: {line}", None)
            return
        for v in found[:MAX_REPORTED]:
            report_violation(f"{v.rule} {v.object}: {v.message}", None)
        if len(found) > MAX_REPORTED:
            report_violation(
                f"... and {len(found) - MAX_REPORTED} more {'/'.join(policy.rules)} "
                "violations (`supercluster validate --stack ...` lists all)",
                None,
            )

    validate.__name__ = f"validate_{policy.name.replace('-', '_')}"
    return validate


VALIDATORS = {p.name: make_validator(p) for p in POLICIES}


def unknown_rules() -> list[str]:
    """Rule ids the policies name that infra.policy.RULES does not have (should be none)."""
    return sorted({r for p in POLICIES for r in p.rules} - set(RULES))


def resource_policies() -> list[ResourceValidationPolicy]:
    return [
        ResourceValidationPolicy(
            name=p.name,
            description=p.description,
            enforcement_level=p.enforcement,
            validate=VALIDATORS[p.name],
        )
        for p in POLICIES
    ]
