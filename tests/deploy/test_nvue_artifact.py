"""One NVUE renderer: on a Spectrum-X stack the Pulumi program registers the fabric's
switch configurations as one artifact (renderer nvue_bundle, its content hash in the
state), and what the provider writes is, switch by switch, the very files `supercluster
fabric render` writes and the switches role deploys."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

from infra.cli import main as cli
from infra.deploy.mocks import run_stack
from infra.deploy.providers.artifact import render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodes"))
from roceutil import spectrum_x_spec

ARTIFACT = "pulumi-python:dynamic/artifact:Artifact"


def test_nvue_artifact_is_fabric_renders_files(tmp_path: Path, project_dir: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((project_dir / "Pulumi.yaml").read_text())
    doc = {"config": {"supercluster:cluster": spectrum_x_spec()}}
    (tmp_path / "Pulumi.sx.yaml").write_text(yaml.safe_dump(doc))
    run = run_stack("sx", tmp_path)
    (nvue,) = [r for r in run.of_type(ARTIFACT) if r.name.endswith("-nvue")]
    assert nvue.inputs["renderer"] == "nvue_bundle"
    assert Path(nvue.inputs["path"]).name == "nvue.yaml"
    bundle = render("nvue_bundle", nvue.inputs["args"])
    assert nvue.inputs["sha256"] == hashlib.sha256(bundle.encode()).hexdigest()
    assert not [r for r in run.of_type(ARTIFACT) if r.name.endswith("-opensm-conf")]

    out = tmp_path / "render"
    argv = ["fabric", "render", "--stack", "sx", "--project-dir", str(tmp_path), "--out", str(out)]
    assert cli(argv) == 0
    files = {p.name: p.read_text() for p in out.rglob("*.yaml")}
    docs = bundle.split("--- # ")[1:]
    assert len(docs) == len(files) == 6  # every switch: 4 leaves and 2 spines
    for chunk in docs:
        name, text = chunk.split("\n", 1)
        assert files[name] == text, name
