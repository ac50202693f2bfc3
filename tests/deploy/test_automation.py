"""`supercluster preview|up|refresh|destroy` when the Pulumi CLI is missing: one clear line,
exit 3, no traceback; and the workspace the Automation API gets: the project's file
backend, the passphrase secrets provider, no downloads. The runs against the real engine
are in test_engine_*.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.deploy import automation

VENV_BIN = Path(sys.executable).parent


def _run(args: list[str], project_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": str(VENV_BIN),
        "HOME": str(tmp_path),
        "PULUMI_CONFIG_PASSPHRASE": "test",
        automation.CLI_VAR: str(tmp_path / "no-such-pulumi"),  # the CLI named is missing
    }
    return subprocess.run(
        [str(VENV_BIN / "supercluster"), *args, "--project-dir", str(project_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("op", [["preview"], ["up"], ["refresh"], ["destroy", "--yes"]])
def test_missing_cli_is_one_line(op, project_dir, tmp_path) -> None:
    proc = _run([*op, "--stack", "dev"], project_dir, tmp_path)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: the Pulumi CLI is not installed")
    assert "scripts/setup.sh" in lines[0] and "no-such-pulumi" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_the_project_cli_is_the_one_setup_built(tmp_path) -> None:
    # Beside this Python (the venv): found first, whatever PATH says.
    assert automation.find_cli({"PATH": str(tmp_path)}) == str(VENV_BIN / "pulumi")
    version = subprocess.run(
        [str(VENV_BIN / "pulumi"), "version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.strip() == "v3.274.1"


def test_bad_stack_is_reported_before_the_cli(project_dir, tmp_path) -> None:
    proc = _run(["preview", "--stack", "nosuch"], project_dir, tmp_path)
    assert proc.returncode == 2 and "no such stack file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_destroy_needs_yes(project_dir, tmp_path) -> None:
    proc = _run(["destroy", "--stack", "dev"], project_dir, tmp_path)
    assert proc.returncode == 2 and "pass --yes" in proc.stderr


def test_workspace_uses_project_file_backend(tmp_path) -> None:
    env = automation.workspace_env(tmp_path, {"PULUMI_CONFIG_PASSPHRASE": "pw"})
    assert env == {
        "PULUMI_BACKEND_URL": f"file://{tmp_path.resolve()}/.pulumi",
        "PULUMI_SKIP_UPDATE_CHECK": "true",  # nothing may try to download
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_CHECKPOINTS": "true",  # state once per operation (docs/pulumi.md)
    }
    assert "pw" not in repr(env)  # the passphrase stays in the caller's environment
    mine = {"PULUMI_CONFIG_PASSPHRASE": "pw", "PULUMI_SKIP_CHECKPOINTS": "false"}
    assert automation.workspace_env(tmp_path, mine)["PULUMI_SKIP_CHECKPOINTS"] == "false"


def test_workspace_needs_a_passphrase(tmp_path) -> None:
    with pytest.raises(automation.MissingTool, match="PULUMI_CONFIG_PASSPHRASE"):
        automation.workspace_env(tmp_path, {})


def test_policy_pack_and_gitignore_in_place(project_dir) -> None:
    assert (automation.POLICY_PACK / "PulumiPolicy.yaml").is_file()
    assert ".pulumi/" in (project_dir / ".gitignore").read_text().split()
