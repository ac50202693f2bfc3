"""`supercluster preview|up|destroy` without the Pulumi CLI (it cannot be installed here):
one clear line, non-zero exit, no traceback; and the workspace the Automation API would
get: the project's file backend and the passphrase secrets provider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import automation

VENV_BIN = Path(sys.executable).parent


def _run(args: list[str], project_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": str(VENV_BIN),  # no pulumi binary anywhere on it
        "HOME": str(tmp_path),  # nor in ~/.pulumi/bin
        "PULUMI_CONFIG_PASSPHRASE": "test",
    }
    return subprocess.run(
        [str(VENV_BIN / "supercluster"), *args, "--project-dir", str(project_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("op", [["preview"], ["up"], ["destroy", "--yes"]])
def test_missing_cli_is_one_line(op, project_dir, tmp_path) -> None:
    assert automation.find_cli() is None or os.environ.get("CI") is None
    proc = _run([*op, "--stack", "dev"], project_dir, tmp_path)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: the Pulumi CLI is not installed")
    assert "https://get.pulumi.com" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_stack_is_reported_before_the_cli(project_dir, tmp_path) -> None:
    proc = _run(["preview", "--stack", "nosuch"], project_dir, tmp_path)
    assert proc.returncode == 2 and "no such stack file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_destroy_needs_yes(project_dir, tmp_path) -> None:
    proc = _run(["destroy", "--stack", "dev"], project_dir, tmp_path)
    assert proc.returncode == 2 and "pass --yes" in proc.stderr


def test_workspace_uses_project_file_backend(tmp_path) -> None:
    env = automation.workspace_env(tmp_path, {"PULUMI_CONFIG_PASSPHRASE": "pw"})
    assert env == {"PULUMI_BACKEND_URL": f"file://{tmp_path.resolve()}/.pulumi"}
    assert "pw" not in repr(env)  # the passphrase stays in the caller's environment


def test_workspace_needs_a_passphrase(tmp_path) -> None:
    with pytest.raises(automation.MissingTool, match="PULUMI_CONFIG_PASSPHRASE"):
        automation.workspace_env(tmp_path, {})


def test_policy_pack_and_gitignore_in_place(project_dir) -> None:
    assert (automation.POLICY_PACK / "PulumiPolicy.yaml").is_file()
    assert ".pulumi/" in (project_dir / ".gitignore").read_text().split()
