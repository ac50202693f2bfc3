"""`supercluster preview|up|refresh|destroy` (the Automation API) on the real engine, and
layered stacks for real: a two-hall site deployed as a site stack plus one stack per hall,
each hall reading the site stack's real outputs through a StackReference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from engineproject import EngineProject

from infra.deploy.stacks import CONFIG_ROOT

pytestmark = pytest.mark.integration

SITE, HALLS = "duo", ("duo-hall1", "duo-hall2")


def _two_hall_site(project: EngineProject) -> None:
    """Pulumi.duo.yaml: the dev spec with a second hall; one stack file per hall."""
    config = project.stack_config("dev")["config"]
    spec = config[CONFIG_ROOT]
    hall2 = json.loads(json.dumps(spec["halls"][0]))
    hall2["name"] = "hall2"
    spec["halls"].append(hall2)
    spec["site"]["name"] = SITE
    spec["power"]["utility_contract_mw"] = 1.5
    spec["cooling"]["capacity_mw"] = 1.5
    (project.root / f"Pulumi.{SITE}.yaml").write_text(
        yaml.safe_dump({"config": {CONFIG_ROOT: spec}}, sort_keys=False)
    )
    for i, stack in enumerate(HALLS, start=1):
        (project.root / f"Pulumi.{stack}.yaml").write_text(
            f"config:\n  supercluster:specStack: {SITE}\n  supercluster:layer: hall{i}\n"
        )


@pytest.fixture(scope="module")
def duo(tmp_path_factory) -> EngineProject:
    project = EngineProject(tmp_path_factory.mktemp("engine-layers") / "project")
    _two_hall_site(project)
    return project


def _outputs(project: EngineProject, stack: str) -> dict:
    backend = {"PULUMI_BACKEND_URL": f"file://{project.root / '.pulumi'}"}
    saved = dict(project.env)
    project.env.update(backend)  # `supercluster` keeps its state in <project>/.pulumi
    try:
        return project.outputs(stack)
    finally:
        project.env = saved


def test_hall_stack_without_its_site_stack_fails_in_one_line(duo: EngineProject) -> None:
    proc = duo.supercluster("up", "--stack", HALLS[0], "--no-policy")
    assert proc.returncode == 3, proc.stdout + proc.stderr  # do this first, then retry
    assert proc.stderr.strip().splitlines() == [
        f"error: stack {HALLS[0]} is a hall of site stack {SITE}, which is not deployed: "
        f"run `supercluster up --stack {SITE}` first (or `--layers`)"
    ]
    assert "Updating" not in proc.stdout  # refused before the engine touched anything
    # The plain CLI gets the engine's own line for the StackReference it cannot read.
    duo.init(HALLS[0])
    raw = duo.pulumi("up", "--yes", "--stack", HALLS[0], check=False)
    assert raw.returncode != 0
    assert f'unknown stack "organization/supercluster/{SITE}"' in raw.stdout


def test_layers_deploy_site_then_halls_reading_its_outputs(duo: EngineProject) -> None:
    proc = duo.supercluster("up", "--stack", SITE, "--layers")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("up duo")]
    assert [ln.split(":")[0] for ln in lines] == ["up duo", "up duo-hall1", "up duo-hall2"]
    site = _outputs(duo, SITE)
    assert site["layer"] == "site" and "p0/cabling" in site["artifacts"]
    for i, stack in enumerate(HALLS, start=1):
        hall = _outputs(duo, stack)
        assert hall["layer"] == f"hall{i}" and hall["halls"] == [f"hall{i}"]
        assert hall["site_spec_sha256"] == site["spec_sha256"]  # through the StackReference
        assert Path(hall["artifacts"]["inventory"]["path"]).is_file()


def test_hall_warns_when_the_site_runs_another_spec(duo: EngineProject) -> None:
    path = duo.root / f"Pulumi.{SITE}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"][CONFIG_ROOT]["fabric"]["lmc"] = 1  # changed, site stack not redeployed
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = duo.supercluster("preview", "--stack", HALLS[1], "--no-policy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [ln for ln in proc.stdout.splitlines() if f"site stack {SITE} was deployed" in ln]
    assert warnings and f"run `supercluster up --stack {SITE}` first" in warnings[0]


def test_refresh_and_destroy_layers(duo: EngineProject) -> None:
    refresh = duo.supercluster("refresh", "--stack", SITE, "--layers")
    assert refresh.returncode == 0, refresh.stdout + refresh.stderr
    files = [
        Path(a["path"])
        for stack in (SITE, *HALLS)
        for a in _outputs(duo, stack)["artifacts"].values()
    ]
    assert files and all(f.is_file() for f in files)
    refused = duo.supercluster("destroy", "--stack", SITE, "--layers")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    proc = duo.supercluster("destroy", "--stack", SITE, "--layers", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    order = [ln.split(":")[0] for ln in proc.stderr.splitlines() if ln.startswith("destroy duo")]
    assert order == ["destroy duo-hall2", "destroy duo-hall1", "destroy duo"]
    assert not any(f.exists() for f in files)
