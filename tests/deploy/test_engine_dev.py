"""The dev stack under the real Pulumi engine, the way a Pulumi user drives it: `pulumi
login file://`, `stack init`, preview with the policy pack, up, a second preview that
expects no changes, a config change, refresh after a hand edit, the policy pack blocking an
up, destroy. Artifacts go to a temp dir; the checkout's files and state are never touched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from engineproject import EngineProject, steps

from infra.design import compile_design
from infra.spec import load_spec

pytestmark = pytest.mark.integration

POLICY = ("--policy-pack", "infra/deploy/policypack")
CONTRACT = "supercluster:cluster.power.utility_contract_mw"
LMC = "supercluster:cluster.fabric.lmc"


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> EngineProject:
    root = tmp_path_factory.mktemp("engine-dev")
    project = EngineProject(root / "project", login=True)
    project.init("dev", {"supercluster:artifactsDir": str(root / "artifacts")})
    project.first_preview = project.pulumi("preview", "--json", *POLICY)
    project.first_up = project.pulumi("up", "--yes", *POLICY)
    return project


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _artifacts(project: EngineProject) -> dict[str, dict]:
    return project.outputs("dev")["artifacts"]


def _state(project: EngineProject) -> list[tuple]:
    """What the state says about each resource, without its timestamps."""
    return sorted(
        (r["urn"], json.dumps(r.get("outputs"), sort_keys=True)) for r in project.resources("dev")
    )


def _set(project: EngineProject, key: str, value: str) -> None:
    project.pulumi("config", "set", "--path", key, value)


def test_preview_lists_what_up_creates(dev: EngineProject) -> None:
    planned = steps(dev.first_preview.stdout)["create"]
    created = [r["urn"].rsplit("::", 1)[1] for r in dev.resources("dev")]
    # Everything the preview planned now exists (plus the default dynamic provider).
    assert set(planned) <= set(created)
    assert {"dev", "dev-power", "p0", "su001", "hall1-r01-01", "p0-cabling"} <= set(planned)
    assert "22 created" in dev.first_up.stdout
    types = {r["type"] for r in dev.resources("dev")}
    assert {"supercluster:site:Site", "supercluster:site:Rack", "pulumi:pulumi:Stack"} <= types
    assert "pulumi-python:dynamic/artifact:Artifact" in types


def test_up_writes_the_artifacts_its_outputs_name(dev: EngineProject) -> None:
    artifacts = _artifacts(dev)
    assert set(artifacts) == {"p0/cabling", "p0/opensm_conf", "inventory"}
    for name, art in artifacts.items():
        assert _sha(art["path"]) == art["sha256"], name
    assert "routing_engine ftree" in Path(artifacts["p0/opensm_conf"]["path"]).read_text()
    inventory = json.loads(Path(artifacts["inventory"]["path"]).read_text())
    assert len(inventory["hosts"]) == 32
    assert dev.outputs("dev")["summary"]["gpus"] == 256


def test_second_preview_expects_no_changes(dev: EngineProject) -> None:
    proc = dev.pulumi("preview", "--expect-no-changes", *POLICY, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_config_change_updates_exactly_what_it_touches(dev: EngineProject) -> None:
    cabling = _artifacts(dev)["p0/cabling"]["path"]
    before = Path(cabling).stat().st_mtime_ns
    _set(dev, LMC, "1")
    planned = steps(dev.pulumi("preview", "--json").stdout)
    # The Site carries the spec; opensm.conf carries the LMC; nothing else changes.
    assert planned.get("update") == ["dev", "p0-opensm-conf"]
    assert not planned.get("create") and not planned.get("delete")
    dev.pulumi("up", "--yes", *POLICY)
    assert "lmc 1\n" in Path(_artifacts(dev)["p0/opensm_conf"]["path"]).read_text()
    assert Path(cabling).stat().st_mtime_ns == before  # the cabling plan was not rewritten
    _set(dev, LMC, "0")
    dev.pulumi("up", "--yes", *POLICY)


def test_refresh_shows_a_hand_edit_and_up_repairs_it(dev: EngineProject) -> None:
    conf = _artifacts(dev)["p0/opensm_conf"]
    inventory = Path(_artifacts(dev)["inventory"]["path"])
    Path(conf["path"]).write_text(Path(conf["path"]).read_text() + "sm_priority 15\n")
    inventory.unlink()
    refresh = dev.pulumi("refresh", "--yes")
    assert "p0-opensm-conf" in refresh.stdout and "all-inventory" in refresh.stdout
    drift = dev.pulumi("preview", "--expect-no-changes", check=False)
    assert drift.returncode != 0
    planned = steps(dev.pulumi("preview", "--json").stdout)
    assert planned.get("update") == ["p0-opensm-conf"]
    assert planned.get("create") == ["all-inventory"]  # refresh found it gone
    dev.pulumi("up", "--yes", *POLICY)
    assert _sha(conf["path"]) == conf["sha256"]
    assert inventory.is_file()
    dev.pulumi("preview", "--expect-no-changes")


def test_policy_pack_blocks_a_contract_cut_before_any_change(dev: EngineProject) -> None:
    before = _state(dev)
    conf = Path(_artifacts(dev)["p0/opensm_conf"]["path"])
    conf_before = conf.read_bytes()
    _set(dev, CONTRACT, "0.05")
    _set(dev, LMC, "2")  # a change that would rewrite opensm.conf if the up went ahead
    try:
        proc = dev.pulumi("up", "--yes", *POLICY, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "power-contract-per-phase" in out and "[mandatory]" in out
        assert "power.contract_exceeded phase all: facility demand" in out
        assert "exceeds contract 0.05 MW" in out
        assert _state(dev) == before  # nothing changed in the state
        assert conf.read_bytes() == conf_before  # nor on disk
    finally:
        _set(dev, CONTRACT, "0.5")
        _set(dev, LMC, "0")


def test_advisory_policy_prints_and_lets_the_preview_pass(dev: EngineProject) -> None:
    design = compile_design(load_spec("dev", dev.root), stack="dev")
    demand_mw = max(p.facility_kw for p in design.power.phases) / 1000
    _set(dev, CONTRACT, f"{demand_mw * 1.02:.4f}")  # 2% headroom: under the 5% warning
    try:
        proc = dev.pulumi("preview", *POLICY, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert "power-headroom" in out and "[advisory]" in out and "headroom" in out
    finally:
        _set(dev, CONTRACT, "0.5")


def test_bad_config_is_one_line_naming_the_field(dev: EngineProject) -> None:
    _set(dev, CONTRACT, "lots")
    try:
        proc = dev.pulumi("preview", check=False)
    finally:
        _set(dev, CONTRACT, "0.5")
    errors = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith("error:")]
    assert proc.returncode != 0
    assert errors == [
        "error: supercluster:cluster.power.utility_contract_mw: Input should be a valid number, "
        "not a string"
    ]  # in the diagnostics once, no "unhandled error", no traceback
    assert "Traceback" not in proc.stdout + proc.stderr


def test_destroy_removes_every_artifact(dev: EngineProject) -> None:
    paths = [a["path"] for a in _artifacts(dev).values()]
    assert all(Path(p).is_file() for p in paths)
    dev.pulumi("destroy", "--yes")
    assert not any(Path(p).exists() for p in paths)
    assert dev.resources("dev") == []
    assert dev.outputs("dev") == {}
