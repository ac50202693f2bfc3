"""The artifact provider's CRUD against real files (no Pulumi engine): create writes
atomically, the same inputs diff clean, a changed input or an edited file diffs, update
rewrites, delete removes, and a spec that changed since the preview writes nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import dill
import pytest

from infra.deploy.providers.artifact import ArtifactError, ArtifactProvider, sha256_text


def props(path: Path, text: str, **over) -> dict:
    base = {
        "path": str(path),
        "sha256": sha256_text(text),
        "renderer": "inline",
        "args": {"text": text},
        "bytes": None,
    }
    return {**base, **over}


@pytest.fixture
def provider() -> ArtifactProvider:
    # What the engine runs is the pickled provider: round-trip it the same way (dill).
    return dill.loads(dill.dumps(ArtifactProvider(), recurse=True))


def test_create_then_same_inputs_report_no_diff(provider, tmp_path: Path) -> None:
    path = tmp_path / "out" / "opensm.conf"
    p = props(path, "routing_engine ftree\n")
    created = provider.create(p)
    assert created.id == str(path)
    assert path.read_text() == "routing_engine ftree\n"
    assert created.outs["bytes"] == len("routing_engine ftree\n")
    again = provider.diff(created.id, created.outs, p)
    assert again.changes is False
    assert not list(tmp_path.joinpath("out").glob(".*")), "no temp files left behind"


def test_changed_input_updates_the_file(provider, tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    old = provider.create(props(path, "{}\n")).outs
    new = props(path, '{"hosts": 1}\n')
    diff = provider.diff(str(path), old, new)
    assert diff.changes is True and not diff.replaces
    outs = provider.update(str(path), old, new).outs
    assert path.read_text() == '{"hosts": 1}\n'
    assert outs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_drift_on_disk_shows_in_diff_and_read(provider, tmp_path: Path) -> None:
    path = tmp_path / "cabling.csv"
    outs = provider.create(props(path, "a,b\n")).outs
    path.write_text("edited by hand\n")
    assert provider.diff(str(path), outs, props(path, "a,b\n")).changes is True
    read = provider.read(str(path), outs)
    assert read.outs["sha256"] == sha256_text("edited by hand\n")
    path.unlink()
    assert provider.diff(str(path), outs, props(path, "a,b\n")).changes is True
    assert provider.read(str(path), outs).id is None


def test_new_path_replaces(provider, tmp_path: Path) -> None:
    outs = provider.create(props(tmp_path / "a.txt", "x\n")).outs
    diff = provider.diff(str(tmp_path / "a.txt"), outs, props(tmp_path / "b.txt", "x\n"))
    assert diff.changes is True and diff.replaces == ["path"]


def test_delete_removes_the_file(provider, tmp_path: Path) -> None:
    path = tmp_path / "gone.txt"
    provider.create(props(path, "bye\n"))
    provider.delete(str(path), {})
    assert not path.exists()
    provider.delete(str(path), {})  # already gone: not an error


def test_hash_mismatch_writes_nothing(provider, tmp_path: Path) -> None:
    path = tmp_path / "keep.txt"
    path.write_text("old\n")
    bad = props(path, "new\n", sha256=sha256_text("what the preview saw\n"))
    with pytest.raises(ArtifactError, match="spec changed since the preview"):
        provider.create(bad)
    assert path.read_text() == "old\n"


def test_check_rejects_relative_paths_and_unknown_renderers(provider) -> None:
    result = provider.check({}, props(Path("rel.txt"), "x", renderer="nope"))
    assert {f.property for f in result.failures} == {"path", "renderer"}


def test_cabling_plan_rendered_from_the_spec(provider, tmp_path: Path, project_dir) -> None:
    from infra.deploy.render import cabling_plans
    from infra.design import compile_design
    from infra.spec import load_spec

    shutil.copy(project_dir / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    text = cabling_plans(compile_design(load_spec("dev", tmp_path), stack="dev"))["p0"]
    path = tmp_path / "art" / "p0" / "cabling.csv"
    p = {
        "path": str(path),
        "sha256": sha256_text(text),
        "renderer": "cabling_plan",
        "args": {"spec_stack": "dev", "project_dir": str(tmp_path), "plane": "p0"},
    }
    provider.create(p)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("cable_id,plane,tier")
    assert len(lines) == 1 + 512  # the dev fabric's 512 cables
