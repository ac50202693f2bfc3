"""Drive `pulumi preview|up|refresh|destroy` through the Automation API (pulumi.automation)
for a stack of this project, with the state in a local file backend inside the project
(.pulumi/, ignored by git) and secrets encrypted with a passphrase.

The CLI is the one scripts/setup.sh builds from the Go module proxy into the project's venv
(scripts/build_pulumi.sh), else a `pulumi` on PATH. Nothing may download: the update check
and automatic plugin acquisition are off for every run. Where the CLI is missing we say so
in one line with how to get it (MissingTool), instead of the SDK's traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from infra.errors import EnvironmentProblem

INSTALL_HINT = (
    "run `bash scripts/setup.sh` (it builds the Pulumi CLI from the Go module proxy into "
    ".venv/bin), or put a `pulumi` CLI on PATH"
)
CLI_VAR = "SUPERCLUSTER_PULUMI_CLI"  # an explicit CLI path overrides the search
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
# Every run, whatever the caller's environment: no update check, no plugin downloads.
ENGINE_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
}
# The state is written once at the end of an operation instead of after every step: the
# file backend rewrites the whole state per step (a 4 MB hall stack took 100 s to up, 6 s
# without). Safe here because every create/update is idempotent (files written whole, BMCs
# converged): a killed up records nothing and the next up redoes it (docs/pulumi.md).
# A caller that exports PULUMI_SKIP_CHECKPOINTS (e.g. false) keeps its own choice.
CHECKPOINTS_VAR = "PULUMI_SKIP_CHECKPOINTS"
POLICY_PACK = Path(__file__).resolve().parent / "policypack"


class MissingTool(EnvironmentProblem):
    """A prerequisite outside Python is missing (the CLI, the passphrase, a deployed site
    stack); the message is one line with the fix. The CLI exits 3 on it."""


def find_cli(environ: dict[str, str] | None = None) -> str | None:
    """The pulumi CLI: $SUPERCLUSTER_PULUMI_CLI, the one beside this Python (the project's
    venv, built by setup), on PATH, or where Pulumi's installer puts it (~/.pulumi/bin)."""
    environ = os.environ if environ is None else environ
    if environ.get(CLI_VAR):
        return environ[CLI_VAR] if os.access(environ[CLI_VAR], os.X_OK) else None
    beside = Path(sys.executable).parent / "pulumi"
    if os.access(beside, os.X_OK):
        return str(beside)
    default = Path.home() / ".pulumi" / "bin"
    return shutil.which("pulumi", path=environ.get("PATH")) or shutil.which(
        "pulumi", path=str(default)
    )


def require_cli() -> str:
    cli = find_cli()
    if cli is None:
        where = (
            f" ({CLI_VAR}={os.environ[CLI_VAR]} is not executable)" if CLI_VAR in os.environ else ""
        )
        raise MissingTool(f"the Pulumi CLI is not installed{where}: {INSTALL_HINT}")
    return cli


def backend_url(project_dir: Path) -> str:
    return f"file://{(Path(project_dir) / '.pulumi').resolve()}"


def workspace_env(project_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the CLI: the project's file backend and no downloads; the passphrase
    stays in the caller's environment (never copied into files or logs)."""
    environ = dict(os.environ if environ is None else environ)
    if not any(environ.get(v) for v in PASSPHRASE_VARS):
        raise MissingTool(
            "no secrets passphrase: export PULUMI_CONFIG_PASSPHRASE (or "
            "PULUMI_CONFIG_PASSPHRASE_FILE) before running this command"
        )
    env = {"PULUMI_BACKEND_URL": backend_url(project_dir), **ENGINE_ENV}
    env[CHECKPOINTS_VAR] = environ.get(CHECKPOINTS_VAR) or "true"
    if environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):  # a path, not the secret itself
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = environ["PULUMI_CONFIG_PASSPHRASE_FILE"]
    return env


def workspace_options(project_dir: Path, environ: dict[str, str] | None = None):
    from pulumi import automation as auto

    return auto.LocalWorkspaceOptions(**_workspace_args(project_dir, environ))


def _workspace_args(project_dir: Path, environ: dict[str, str] | None) -> dict:
    """What LocalWorkspaceOptions and LocalWorkspace both take."""
    from pulumi import automation as auto

    cli = Path(require_cli())
    # PulumiCommand wants the install root (<root>/bin/pulumi). This Python's directory
    # (the venv) goes first on PATH: its python3 runs the dynamic providers.
    # The engine is the one child that keeps the caller's environment (the SDK adds
    # os.environ under these): it needs PULUMI_CONFIG_PASSPHRASE, and the Redfish provider
    # falls back to SUPERCLUSTER_BMC_USERNAME/PASSWORD on a refresh. Neither reaches a
    # file: the state and stack files hold secrets as ciphertext only, and
    # tests/test_secrets_canary.py greps everything an `up` writes for them.
    env = workspace_env(project_dir, environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {
        "work_dir": str(project_dir),
        "env_vars": env,
        "secrets_provider": "passphrase",
        "pulumi_command": auto.PulumiCommand(root=str(cli.parent.parent)),
    }


def state_dir(project_dir: Path) -> Path:
    """The file backend's directory, this user's alone: the state holds every resource's
    outputs (addresses, hosts) and the secrets' ciphertext."""
    path = Path(project_dir) / ".pulumi"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)  # made before this rule
    return path


def select_stack(stack: str, project_dir: Path, environ: dict[str, str] | None = None):
    from pulumi import automation as auto

    opts = workspace_options(project_dir, environ)
    state_dir(project_dir)
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(project_dir), opts=opts)


def is_deployed(stack: str, project_dir: Path, environ: dict[str, str] | None = None) -> bool:
    """Whether `stack` exists in the project's backend with resources (a hall stack's
    StackReference needs its site stack deployed first)."""
    from pulumi import automation as auto

    state_dir(project_dir)
    ws = auto.LocalWorkspace(**_workspace_args(project_dir, environ))
    return any(s.name == stack and (s.resource_count or 0) > 0 for s in ws.list_stacks())


def run_operation(
    operation: str,
    stack: str,
    project_dir: Path,
    *,
    policy: bool = True,
    on_output: Callable[[str], None] = print,
    environ: dict[str, str] | None = None,
):
    """preview, up, refresh or destroy one stack; returns the SDK's result, raises
    pulumi.automation.errors.CommandError when the CLI fails."""
    s = select_stack(stack, project_dir, environ)
    packs = [str(POLICY_PACK)] if policy and operation in ("preview", "up") else None
    if operation == "preview":
        return s.preview(on_output=on_output, policy_packs=packs)
    if operation == "up":
        return s.up(on_output=on_output, policy_packs=packs)
    if operation == "refresh":
        return s.refresh(on_output=on_output)
    if operation == "destroy":
        return s.destroy(on_output=on_output)
    raise ValueError(operation)
