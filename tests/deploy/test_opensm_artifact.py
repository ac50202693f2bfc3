"""One OpenSM generator: the Pulumi program's opensm.conf artifact (run under Pulumi's
mocks) and `supercluster fabric render`'s opensm.conf are the same bytes, plane by plane:
on the dev stack and on a per-rail SuperPOD stack (8 planes, LMC 1), where each plane
carries its own subnet prefix and the spec's LMC."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.cli import main as cli
from infra.deploy.mocks import MockRun, run_stack

ARTIFACT = "pulumi-python:dynamic/artifact:Artifact"


def _artifact_texts(run: MockRun) -> dict[str, str]:
    """plane -> the opensm.conf text the program registered (inline artifact inputs)."""
    out = {}
    for r in run.of_type(ARTIFACT):
        if r.name.endswith("-opensm-conf"):
            out[r.name.removesuffix("-opensm-conf")] = r.inputs["args"]["text"]
    return out


def _rendered(project: Path, stack: str, out: Path) -> dict[str, str]:
    rc = cli(
        ["fabric", "render", "--stack", stack, "--project-dir", str(project), "--out", str(out)]
    )
    assert rc == 0
    return {d.name: (d / "opensm.conf").read_text() for d in out.iterdir() if d.is_dir()}


def _option(conf: str, name: str) -> str:
    lines = [ln.split()[1] for ln in conf.splitlines() if ln.split()[:1] == [name]]
    assert len(lines) == 1, (name, lines)
    return lines[0]


@pytest.fixture(scope="module")
def dev_project(tmp_path_factory, project_dir) -> Path:
    tmp = tmp_path_factory.mktemp("dev")
    for f in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(project_dir / f, tmp / f)
    return tmp


@pytest.fixture(scope="module")
def per_rail_project(tmp_path_factory, project_dir) -> Path:
    """`init --preset superpod --sus 2`, then one plane per rail and LMC 1."""
    tmp = tmp_path_factory.mktemp("sp2")
    shutil.copy(project_dir / "Pulumi.yaml", tmp / "Pulumi.yaml")
    args = ["init", "--preset", "superpod", "--sus", "2", "--stack", "sp2"]
    assert cli([*args, "--project-dir", str(tmp)]) == 0
    path = tmp / "Pulumi.sp2.yaml"
    doc = yaml.safe_load(path.read_text())
    fabric = doc["config"]["supercluster:cluster"]["fabric"]
    assert fabric["planes"] == "single"  # what the preset writes; changed here
    fabric["planes"] = "per_rail"
    fabric["lmc"] = 1
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp


def test_dev_artifact_is_fabric_renders_file(dev_project: Path, tmp_path: Path) -> None:
    artifact = _artifact_texts(run_stack("dev", dev_project))
    rendered = _rendered(dev_project, "dev", tmp_path / "render")
    assert set(artifact) == set(rendered) == {"p0"}
    assert artifact["p0"].encode() == rendered["p0"].encode()
    assert _option(artifact["p0"], "subnet_prefix") == "0xfe80000000000000"
    assert _option(artifact["p0"], "lmc") == "0"


def test_per_rail_artifacts_are_fabric_renders_files(
    per_rail_project: Path, tmp_path: Path
) -> None:
    run = run_stack("sp2", per_rail_project)
    artifact = _artifact_texts(run)
    rendered = _rendered(per_rail_project, "sp2", tmp_path / "render")
    planes = [f"p{i}" for i in range(8)]
    assert sorted(artifact) == sorted(rendered) == planes
    for plane in planes:
        assert artifact[plane].encode() == rendered[plane].encode(), plane
    # One SM per plane: each subnet its own prefix, plane index in the low bits.
    prefixes = [_option(artifact[p], "subnet_prefix") for p in planes]
    assert prefixes == [f"0xfe8000000000000{i}" for i in range(8)]
    # fabric.lmc from the spec reaches every plane's opensm.conf and the SM component.
    assert {_option(artifact[p], "lmc") for p in planes} == {"1"}
    sms = [r for r in run.resources if r.type == "supercluster:fabric:SubnetManager"]
    assert len(sms) == 8 and {r.outputs["lmc"] for r in sms} == {1}
    # The artifact's file on disk (where the provider writes it) is the same path layout.
    paths = {Path(r.inputs["path"]).parent.name for r in run.of_type(ARTIFACT)}
    assert set(planes) <= paths


def test_a_changed_lmc_changes_both_alike(per_rail_project: Path, tmp_path: Path) -> None:
    """The LMC is not fixed in either path: LMC 2 shows up in both, still byte-identical."""
    path = per_rail_project / "Pulumi.sp2.yaml"
    before = path.read_text()
    doc = yaml.safe_load(before)
    doc["config"]["supercluster:cluster"]["fabric"]["lmc"] = 2
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        artifact = _artifact_texts(run_stack("sp2", per_rail_project))
        rendered = _rendered(per_rail_project, "sp2", tmp_path / "render")
    finally:
        path.write_text(before)
    assert artifact["p1"] == rendered["p1"]
    assert _option(artifact["p1"], "lmc") == "2"
    assert _option(rendered["p1"], "subnet_prefix") == "0xfe80000000000001"
