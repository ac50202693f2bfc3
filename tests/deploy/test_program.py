"""The Pulumi program under Pulumi's own mocks: resource tree, key properties, outputs and
secrets of the dev stack and of a 4-SU SuperPOD stack made by `supercluster init`."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from infra.cli import main as cli
from infra.deploy.components.index import DesignIndex
from infra.deploy.mocks import MockRun, run_stack
from infra.deploy.program import design_for, resource_count
from infra.design import compile_design
from infra.spec import load_spec

ARTIFACT = "pulumi-python:dynamic/artifact:Artifact"
SITE, HALL, SU, RACK = (f"supercluster:site:{t}" for t in ("Site", "Hall", "ScalableUnit", "Rack"))
PLANE, TIER, SM = (
    f"supercluster:fabric:{t}" for t in ("FabricPlane", "SwitchTier", "SubnetManager")
)
PASSWORD = "bmc-pw-never-in-plaintext"


def _project(tmp: Path, project_dir: Path, *stacks: str) -> Path:
    shutil.copy(project_dir / "Pulumi.yaml", tmp / "Pulumi.yaml")
    for s in stacks:
        shutil.copy(project_dir / f"Pulumi.{s}.yaml", tmp / f"Pulumi.{s}.yaml")
    return tmp


@pytest.fixture(scope="module")
def dev(tmp_path_factory, project_dir) -> MockRun:
    tmp = _project(tmp_path_factory.mktemp("dev"), project_dir, "dev")
    return run_stack(
        "dev",
        tmp,
        extra_config={
            "supercluster:bmcUsername": "admin",
            "supercluster:bmcPassword": PASSWORD,
        },
        secret_keys=("supercluster:bmcPassword",),
    )


@pytest.fixture(scope="module")
def superpod(tmp_path_factory, project_dir) -> MockRun:
    tmp = _project(tmp_path_factory.mktemp("sp4"), project_dir)
    rc = cli(
        ["init", "--preset", "superpod", "--sus", "4", "--stack", "sp4", "--project-dir", str(tmp)]
    )
    assert rc == 0
    return run_stack("sp4", tmp)


def test_dev_resource_tree(dev: MockRun, project_dir: Path) -> None:
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    counts = dev.counts()
    assert counts == Counter(
        {
            SITE: 1,
            "supercluster:power:PowerPlant": 1,
            "supercluster:power:PowerPhase": len(design.power.phases),
            "supercluster:cooling:CoolingPlant": 1,
            PLANE: 1,
            TIER: 2,  # leaf and spine: the dev fabric is 2 tiers
            SM: 1,
            HALL: 1,
            "supercluster:power:PowerFeed": 1,
            "supercluster:cooling:CoolingLoop": 1,
            SU: 1,
            RACK: len(design.racks),
            ARTIFACT: 3,  # cabling plan, opensm.conf, inventory
        }
    )
    assert dev.plan.layer == "all"
    # Parents: racks of an SU under it, switch racks under the hall, all under the site.
    for r in dev.of_type(RACK):
        parent = dev.parent_of(r)
        want = SU if r.outputs["kind"] == "compute" else HALL
        assert parent is not None and parent.type == want, r.name
    for t in (HALL, PLANE, "supercluster:power:PowerPlant"):
        for r in dev.of_type(t):
            assert dev.parent_of(r).type == SITE
    assert {dev.parent_of(r).type for r in dev.of_type(TIER)} == {PLANE}
    names = [r.name for r in dev.resources]
    assert len(names) == len(set(names)), "resource names must be unique and stable"


def test_dev_key_properties(dev: MockRun, project_dir: Path) -> None:
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    site = dev.of_type(SITE)[0]
    assert site.name == "dev" and site.inputs["spec"]["site"]["name"] == "dev"
    racks = {r.name: r.outputs for r in dev.of_type(RACK)}
    first = design.nodes[0]
    rack = racks[first.rack]
    assert rack["nodes"][0] == {
        "name": first.name,
        "u": first.u,
        "model": first.model,
        "mgmt_ip": first.mgmt_ip,
        "bmc_ip": first.bmc_ip,
    }
    assert rack["cdu"]["name"] == f"{first.rack}-cdu"
    power = next(p for p in design.power.racks if p.rack == first.rack)
    assert rack["power"]["nameplate_kw"] == power.nameplate_kw
    plane = dev.of_type(PLANE)[0]
    assert plane.name == "p0" and plane.outputs["lids"] == design.planes[0].lids
    cabling = next(r for r in dev.of_type(ARTIFACT) if r.name == "p0-cabling")
    assert cabling.inputs["renderer"] == "cabling_plan"
    assert "text" not in cabling.inputs["args"], "the cabling plan must not sit in the state"
    assert cabling.inputs["path"].endswith("artifacts/pulumi/dev/p0/cabling.csv")


def test_dev_outputs(dev: MockRun, project_dir: Path) -> None:
    out = dev.outputs
    assert out["summary"]["gpus"] == 256 and out["summary"]["violations"] == []
    inv = out["inventory"]
    assert len(inv["hosts"]) == 32
    mgmt, bmc, hall, su, rack, u = inv["hosts"]["hall1-su001-n01"].split()
    assert inv["host_fields"] == ["mgmt_ip", "bmc_ip", "hall", "su", "rack", "u"]
    assert (mgmt, bmc, hall, su) == ("127.0.1.1", "127.0.2.1", "hall1", "su001")
    assert (rack, u) == ("hall1-r01-01", "5")
    assert inv["hca_rails"]["mlx5_3"] == {"rail": 3, "plane": "p0"}
    arts = out["artifacts"]
    assert set(arts) == {"p0/cabling", "p0/opensm_conf", "inventory"}
    assert all(len(a["sha256"]) == 64 for a in arts.values())


def test_bmc_password_stays_secret(dev: MockRun) -> None:
    assert "bmc_credentials" in dev.secret_outputs
    assert dev.outputs["bmc_credentials"] == {"username": "admin", "password": PASSWORD}
    plain = {k: v for k, v in dev.outputs.items() if k not in dev.secret_outputs}
    assert PASSWORD not in json.dumps(plain)
    for r in dev.resources:
        assert PASSWORD not in json.dumps([r.inputs, r.outputs], default=str), r.name


def test_manage_bmcs_adds_one_bmc_rack_per_compute_rack(tmp_path, project_dir) -> None:
    tmp = _project(tmp_path, project_dir, "dev")
    run = run_stack(
        "dev",
        tmp,
        extra_config={
            "supercluster:manageBmcs": "true",
            "supercluster:bmcUsername": "admin",
            "supercluster:bmcPassword": PASSWORD,
        },
        secret_keys=("supercluster:bmcPassword",),
    )
    design, _ = design_for(run.plan.spec, "dev")
    assert resource_count(run.plan, DesignIndex.build(design), True) == len(run.resources)
    bmcs = [r for r in run.resources if r.name.endswith("-bmcs")]
    compute = [r for r in run.of_type(RACK) if r.outputs["kind"] == "compute"]
    assert len(bmcs) == len(compute) == 4
    for b in bmcs:
        rack = run.parent_of(b)
        assert rack.type == RACK and b.name == f"{rack.name}-bmcs"
        assert [n["address"] for n in b.inputs["nodes"]] == [
            n["bmc_ip"] for n in rack.outputs["nodes"]
        ]


def test_manage_bmcs_without_password_is_one_clear_error(tmp_path, project_dir) -> None:
    from infra.errors import InputError

    tmp = _project(tmp_path, project_dir, "dev")
    with pytest.raises(InputError, match="bmcPassword"):
        run_stack("dev", tmp, extra_config={"supercluster:manageBmcs": "true"})


def test_superpod_4su_tree(superpod: MockRun) -> None:
    counts = superpod.counts()
    s = superpod.outputs["summary"]
    assert s["scalable_units"] == 4 and counts[SU] == 4
    assert counts[RACK] == s["racks"] + s["network_racks"]
    assert counts[PLANE] == s["planes"] == 1
    assert counts[ARTIFACT] == 2 * s["planes"] + 1
    for su in superpod.of_type(SU):
        assert len(su.outputs["racks"]) == 8  # 4 DGX per rack, 32 per SU
        assert len(superpod.parent_of(su).name) and superpod.parent_of(su).type == HALL
    assert len(superpod.outputs["inventory"]["hosts"]) == s["nodes"]
    assert sum(counts.values()) < 1500
    design, _ = design_for(superpod.plan.spec, "sp4")
    assert resource_count(superpod.plan, DesignIndex.build(design)) == len(superpod.resources)


def test_names_are_stable_across_runs(dev: MockRun, tmp_path, project_dir) -> None:
    again = run_stack("dev", _project(tmp_path, project_dir, "dev"))
    assert sorted(r.urn for r in again.resources) == sorted(r.urn for r in dev.resources)
    assert (
        again.outputs["artifacts"]["p0/cabling"]["sha256"]
        == (dev.outputs["artifacts"]["p0/cabling"]["sha256"])
    )


def test_entry_point_runs_the_same_program(dev: MockRun, project_dir) -> None:
    """infra/__main__.py, as the Pulumi CLI runs it, registers the same resources."""
    run = run_stack("dev", project_dir, as_entry_point=True)
    assert sorted(r.urn for r in run.resources) == sorted(r.urn for r in dev.resources)
    assert run.outputs["layer"] == "all"
