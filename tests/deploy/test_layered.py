"""Layered stacks: the memphis site stack (Spectrum-X, as built) and memphis-ib (its
InfiniBand design), each plus one stack per hall, every stack within the resource budget,
the halls reading their site through a StackReference; and the rules of how a stack file
names its layer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.deploy.mocks import MockRun, run_site, run_stack
from infra.deploy.stacks import RESOURCE_BUDGET, hall_stacks, load_plan, stack_order
from infra.errors import InputError

MEMPHIS = ["memphis", "memphis-hall1", "memphis-hall2", "memphis-hall3", "memphis-hall4"]
MEMPHIS_IB = ["memphis-ib", *(f"memphis-ib-hall{i}" for i in range(1, 5))]


@pytest.fixture(scope="module")
def memphis(project_dir) -> list[MockRun]:
    return run_site("memphis", project_dir)


@pytest.fixture(scope="module")
def memphis_ib(project_dir) -> list[MockRun]:
    return run_site("memphis-ib", project_dir)


def test_memphis_layers_and_order(project_dir) -> None:
    assert stack_order("memphis", project_dir) == MEMPHIS
    assert hall_stacks("memphis", project_dir) == {
        f"hall{i}": f"memphis-hall{i}" for i in range(1, 5)
    }
    assert load_plan("memphis", project_dir).layer == "site"
    assert load_plan("memphis-hall3", project_dir).halls == ("hall3",)
    assert stack_order("memphis-hall2", project_dir) == ["memphis-hall2"]
    assert stack_order("dev", project_dir) == ["dev"]
    assert stack_order("memphis-ib", project_dir) == MEMPHIS_IB
    assert load_plan("memphis-ib-hall4", project_dir).spec_stack == "memphis-ib"


def test_every_memphis_stack_within_budget(
    memphis: list[MockRun], memphis_ib: list[MockRun]
) -> None:
    assert [r.stack for r in memphis] == MEMPHIS
    assert [r.stack for r in memphis_ib] == MEMPHIS_IB
    for run in (*memphis, *memphis_ib):
        assert len(run.resources) <= RESOURCE_BUDGET, (run.stack, len(run.resources))


def test_site_stack_holds_plants_and_fabric(memphis: list[MockRun]) -> None:
    """memphis as built: one Spectrum-X fabric, no subnet manager, no opensm.conf."""
    site = memphis[0]
    counts = site.counts()
    assert counts["supercluster:fabric:FabricPlane"] == 1  # one routed fabric, all rails
    assert counts["supercluster:fabric:SwitchTier"] == 3  # leaf, spine, core
    assert counts["supercluster:fabric:SubnetManager"] == 0
    assert counts["supercluster:site:Hall"] == 0 and counts["supercluster:site:Rack"] == 0
    assert "inventory" not in site.outputs
    assert list(site.outputs["artifacts"]) == ["p0/cabling", "p0/nvue"]  # switch configs
    assert site.outputs["summary"]["gpus"] == 100_352
    assert site.outputs["planes"]["p0"]["rails"] == list(range(8))


def test_ib_site_stack_holds_plants_and_planes(memphis_ib: list[MockRun]) -> None:
    site = memphis_ib[0]
    counts = site.counts()
    assert counts["supercluster:fabric:FabricPlane"] == 8  # one subnet per rail
    assert counts["supercluster:fabric:SwitchTier"] == 24  # leaf, spine, core each
    assert counts["supercluster:fabric:SubnetManager"] == 8
    assert counts["supercluster:site:Hall"] == 0 and counts["supercluster:site:Rack"] == 0
    assert len(site.outputs["artifacts"]) == 16  # cabling + opensm.conf per plane
    # two node slots of su001 hold the subnet manager hosts (master + standby)
    assert site.outputs["summary"]["gpus"] == 100_352 - 16


def test_hall_stacks_hold_their_hall(memphis: list[MockRun]) -> None:
    site, halls = memphis[0], memphis[1:]
    all_hosts: set[str] = set()
    for i, run in enumerate(halls, start=1):
        counts = run.counts()
        assert counts["supercluster:site:Hall"] == 1
        assert counts["supercluster:site:ScalableUnit"] == 98
        assert counts["supercluster:fabric:FabricPlane"] == 0
        hosts = run.outputs["inventory"]["hosts"]
        assert len(hosts) == 98 * 32 and all(h.startswith(f"hall{i}-") for h in hosts)
        all_hosts |= set(hosts)
        # The StackReference to the site stack resolved to its spec hash.
        assert run.outputs["site_spec_sha256"] == site.outputs["spec_sha256"]
        refs = run.of_type("pulumi:pulumi:StackReference")
        assert [r.name for r in refs] == ["organization/supercluster/memphis"]
    assert len(all_hosts) == 12_544


def _tmp_project(tmp: Path, project_dir: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(project_dir / name, tmp / name)
    return tmp


def _hall_file(tmp: Path, stack: str, spec_stack: str, layer: str) -> None:
    (tmp / f"Pulumi.{stack}.yaml").write_text(
        f"config:\n  supercluster:specStack: {spec_stack}\n  supercluster:layer: {layer}\n"
    )


def test_a_hall_stack_makes_its_spec_stack_the_site_layer(tmp_path, project_dir) -> None:
    tmp = _tmp_project(tmp_path, project_dir)
    assert load_plan("dev", tmp).layer == "all"
    _hall_file(tmp, "dev-h1", "dev", "hall1")
    assert load_plan("dev", tmp).layer == "site"
    site = run_stack("dev", tmp)
    hall = run_stack("dev-h1", tmp, stack_outputs={"dev": site.outputs})
    assert site.counts()["supercluster:site:Rack"] == 0
    assert hall.counts()["supercluster:site:Rack"] == 6
    assert hall.outputs["site_spec_sha256"] == site.outputs["spec_sha256"]


def test_bad_layer_files_are_one_line_errors(tmp_path, project_dir) -> None:
    tmp = _tmp_project(tmp_path, project_dir)
    _hall_file(tmp, "x", "dev", "hall9")
    with pytest.raises(InputError, match="must name a hall of stack 'dev'"):
        load_plan("x", tmp)
    _hall_file(tmp, "x", "dev", "hall1")
    _hall_file(tmp, "y", "dev", "hall1")
    with pytest.raises(InputError, match="already deployed by stack 'x'"):
        load_plan("dev", tmp)
    _hall_file(tmp, "y", "nope", "hall1")
    with pytest.raises(InputError, match="no such stack file"):
        load_plan("y", tmp)


def test_resource_count_matches_what_registers(
    memphis: list[MockRun], memphis_ib: list[MockRun], project_dir
) -> None:
    from infra.deploy.components.index import DesignIndex
    from infra.deploy.program import design_for, resource_count

    for run in (*memphis, *memphis_ib):
        design, _ = design_for(run.plan.spec, run.plan.spec_stack)
        assert resource_count(run.plan, DesignIndex.build(design)) == len(run.resources)


def test_over_budget_stack_warns(tmp_path, project_dir, monkeypatch, caplog) -> None:
    import infra.deploy.program

    monkeypatch.setattr(infra.deploy.program, "RESOURCE_BUDGET", 10)
    with caplog.at_level("WARNING"):
        run_stack("dev", _tmp_project(tmp_path, project_dir))
    assert any("over the 10 a stack should hold" in r.getMessage() for r in caplog.records)
