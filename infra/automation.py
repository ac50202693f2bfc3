"""Drive `pulumi preview|up|destroy` through the Automation API (pulumi.automation) for a
stack of this project, with the state in a local file backend inside the project
(.pulumi/, ignored by git) and secrets encrypted with a passphrase.

The Pulumi CLI is a separate binary the Automation API runs; where it is missing we say so
in one line with how to install it (MissingTool), instead of the SDK's traceback.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

INSTALL_HINT = (
    "install it with `curl -fsSL https://get.pulumi.com | sh` (or see "
    "https://www.pulumi.com/docs/install/) and make sure `pulumi` is on PATH"
)
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
POLICY_PACK = Path(__file__).resolve().parent / "policypack"


class MissingTool(Exception):
    """A prerequisite outside Python is missing; the message is one line with the fix."""


def find_cli() -> str | None:
    """The pulumi binary: on PATH, or where the installer puts it (~/.pulumi/bin)."""
    default = Path.home() / ".pulumi" / "bin"
    return shutil.which("pulumi") or shutil.which("pulumi", path=str(default))


def require_cli() -> str:
    cli = find_cli()
    if cli is None:
        raise MissingTool(f"the Pulumi CLI is not installed: {INSTALL_HINT}")
    return cli


def backend_url(project_dir: Path) -> str:
    return f"file://{(Path(project_dir) / '.pulumi').resolve()}"


def workspace_env(project_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the CLI: the project's file backend; the passphrase stays in the
    caller's environment (never copied into files or logs)."""
    environ = dict(os.environ if environ is None else environ)
    if not any(environ.get(v) for v in PASSPHRASE_VARS):
        raise MissingTool(
            "no secrets passphrase: export PULUMI_CONFIG_PASSPHRASE (or "
            "PULUMI_CONFIG_PASSPHRASE_FILE) before running this command"
        )
    return {"PULUMI_BACKEND_URL": backend_url(project_dir)}


def workspace_options(project_dir: Path, environ: dict[str, str] | None = None):
    from pulumi import automation as auto

    cli = require_cli()
    return auto.LocalWorkspaceOptions(
        work_dir=str(project_dir),
        env_vars=workspace_env(project_dir, environ),
        secrets_provider="passphrase",
        pulumi_command=auto.PulumiCommand(root=str(Path(cli).parent.parent)),
    )


def select_stack(stack: str, project_dir: Path):
    from pulumi import automation as auto

    opts = workspace_options(project_dir)
    (Path(project_dir) / ".pulumi").mkdir(exist_ok=True)
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(project_dir), opts=opts)


def run_operation(
    operation: str,
    stack: str,
    project_dir: Path,
    *,
    policy: bool = True,
    on_output: Callable[[str], None] = print,
) -> None:
    """preview, up or destroy one stack; raises pulumi.automation.errors.CommandError."""
    s = select_stack(stack, project_dir)
    packs = [str(POLICY_PACK)] if policy and operation != "destroy" else None
    if operation == "preview":
        s.preview(on_output=on_output, policy_packs=packs)
    elif operation == "up":
        s.up(on_output=on_output, policy_packs=packs)
    elif operation == "destroy":
        s.destroy(on_output=on_output)
    else:
        raise ValueError(operation)
