"""The policy pack's validate functions on Site resources (the pack module itself is
never imported: constructing a PolicyPack serves forever)."""

from __future__ import annotations

import copy

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from infra.deploy.policypack.policies import (
    POLICIES,
    SITE_TYPE,
    VALIDATORS,
    resource_policies,
    unknown_rules,
)
from infra.policy import RULES
from infra.spec import read_stack_config


@pytest.fixture(scope="module")
def dev_spec(project_dir) -> dict:
    return read_stack_config("dev", project_dir)["supercluster:cluster"]


def violations(spec: dict, resource_type: str = SITE_TYPE) -> dict[str, list[str]]:
    args = ResourceValidationArgs(
        resource_type, {"spec": spec, "stack": "t"}, "urn:x", "site", None, None
    )
    found: dict[str, list[str]] = {}
    for name, validate in VALIDATORS.items():
        validate(args, lambda msg, urn=None, name=name: found.setdefault(name, []).append(msg))
    return found


def test_policies_use_the_shared_rules() -> None:
    assert unknown_rules() == []
    covered = {r for p in POLICIES for r in p.rules}
    assert covered == set(RULES), "every rule is enforced by some policy"
    levels = {p.name: p.enforcement for p in POLICIES}
    assert levels["power-contract-per-phase"] == EnforcementLevel.MANDATORY
    assert {p.name for p in resource_policies()} == set(VALIDATORS)


def test_clean_dev_spec_passes(dev_spec) -> None:
    assert violations(dev_spec) == {}


def test_other_resources_are_ignored(dev_spec) -> None:
    bad = copy.deepcopy(dev_spec)
    bad["power"]["utility_contract_mw"] = 0.01
    assert violations(bad, "supercluster:site:Rack") == {}


def test_power_contract_per_phase(dev_spec) -> None:
    bad = copy.deepcopy(dev_spec)
    bad["power"]["utility_contract_mw"] = 0.2
    found = violations(bad)
    assert list(found) == ["power-contract-per-phase"]
    assert "exceeds contract 0.20 MW" in found["power-contract-per-phase"][0]


def test_thin_headroom_is_advisory(dev_spec) -> None:
    tight = copy.deepcopy(dev_spec)
    tight["power"]["utility_contract_mw"] = 0.35  # demand ~0.34 MW: under 5% headroom
    assert list(violations(tight)) == ["power-headroom"]


def test_cooling_capacity(dev_spec) -> None:
    bad = copy.deepcopy(dev_spec)
    bad["cooling"]["capacity_mw"] = 0.1
    assert "cooling.plant_exceeded" in violations(bad)["cooling-capacity"][0]


def test_cable_reach(dev_spec) -> None:
    far = copy.deepcopy(dev_spec)
    far["halls"][0]["spine_area"] = {"x_m": 0.0, "y_m": 2500.0}  # past 2 km single-mode
    msgs = violations(far)["cable-reach"]
    assert len(msgs) == 21  # 256 leaf-spine cables too long: 20 listed, then a count line
    assert all(m.startswith("cable.reach_exceeded") for m in msgs[:20])
    assert msgs[20].startswith("... and 236 more")


def test_fabric_lid_limit(project_dir) -> None:
    # The InfiniBand design of memphis: one subnet must hold every rail's LIDs.
    memphis = copy.deepcopy(read_stack_config("memphis-ib", project_dir)["supercluster:cluster"])
    memphis["fabric"]["planes"] = "single"  # 100k endpoints in one subnet
    msgs = violations(memphis).get("fabric-limits", [])
    assert any(m.startswith("fabric.lid_limit") for m in msgs)


def test_spec_that_does_not_parse_is_reported(dev_spec) -> None:
    bad = copy.deepcopy(dev_spec)
    bad["power"]["bogus"] = 1
    found = violations(bad)
    assert all("does not compile" in m for msgs in found.values() for m in msgs)
    assert found  # every policy says so rather than passing silently
