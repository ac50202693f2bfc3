"""The simulated site's own Pulumi workspace: `supercluster preview|up|refresh|destroy --sim`.

A deployment onto the simulated site must not edit the project's stack files (git tracks
them) nor share state with a real deployment of the same stack. So the simulated site
gets a workspace of its own, under the sim state dir (owned by `sim up`/`sim down`):

    <state>/deploy/Pulumi.yaml           the project's
    <state>/deploy/infra -> this infra/  the program, policy pack and providers
    <state>/deploy/Pulumi.<stack>.yaml   the stack's config plus the simulated BMCs:
                                         manageBmcs, bmcUsername, bmcSimRecord,
                                         artifactsDir, and bmcPassword as a Pulumi secret
    <state>/deploy/.pulumi/              the state (file backend)
    <state>/deploy/artifacts/<stack>/    the generated files
    <state>/deploy/passphrase            made once (0600) when the caller exports no
                                         PULUMI_CONFIG_PASSPHRASE(_FILE)

The BMC password enters the stack through `pulumi config set --secret` on stdin: it is
never on a command line, and the stack file holds only its ciphertext.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import yaml

from infra import childenv
from infra.deploy import automation
from infra.deploy.stacks import NS
from infra.errors import EnvironmentProblem, InputError

SALT_KEY = "encryptionsalt"  # the passphrase provider's salt, kept across rewrites


def workspace_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "deploy"


def prepare(stack: str, project_dir: Path, state_dir: Path) -> tuple[Path, dict[str, str]]:
    """(workspace dir, environment with a passphrase) for `stack` on the simulated site.
    Raises EnvironmentProblem (exit 3) when the simulated site's BMCs are not up: never
    started, or their emulator crashed."""
    from infra.deploy.stacks import read_stack_config_any
    from infra.sim import bmc

    record = bmc.bmc_dir(state_dir) / "endpoint.json"
    if bmc.load_emulator(state_dir) is None or not record.is_file():
        raise EnvironmentProblem(
            f"--sim: no simulated BMCs running under {state_dir}: run `supercluster sim up` "
            "first (after a crash: `sim down`, then `sim up`)"
        )
    ws = workspace_dir(state_dir)
    # The site's stack file, state and generated inventory: this user's alone.
    ws.mkdir(mode=0o700, parents=True, exist_ok=True)
    ws.chmod(0o700)
    shutil.copyfile(Path(project_dir) / "Pulumi.yaml", ws / "Pulumi.yaml")
    link = ws / "infra"
    if not link.is_symlink():
        link.symlink_to(Path(__file__).resolve().parents[1], target_is_directory=True)
    username, password = bmc.sim_credentials(state_dir)
    config = dict(read_stack_config_any(stack, project_dir))
    config.update(
        {
            f"{NS}:manageBmcs": "true",
            f"{NS}:bmcUsername": username,
            f"{NS}:bmcSimRecord": str(record.resolve()),
            f"{NS}:artifactsDir": str((ws / "artifacts" / stack).resolve()),
        }
    )
    _write_stack_file(ws / f"Pulumi.{stack}.yaml", config, project_dir, stack)
    _copy_spec_stack(config, ws, project_dir)
    env = _passphrase_env(ws)
    _set_secret(ws, stack, f"{NS}:bmcPassword", password, env)
    return ws, env


def _copy_spec_stack(config: dict, ws: Path, project_dir: Path) -> None:
    """A hall stack reads its spec from its site stack's file: the workspace needs it too
    (as it is in the project; the site stack's own `up --sim` adds the BMC settings)."""
    from infra.deploy.stacks import SPEC_STACK_KEY
    from infra.spec import stack_file

    spec_stack = config.get(SPEC_STACK_KEY)
    if isinstance(spec_stack, str) and not (ws / f"Pulumi.{spec_stack}.yaml").exists():
        shutil.copyfile(stack_file(spec_stack, project_dir), ws / f"Pulumi.{spec_stack}.yaml")


def _write_stack_file(path: Path, config: dict, project_dir: Path, stack: str) -> None:
    doc: dict = {"config": config}
    for source in (path, Path(project_dir) / f"Pulumi.{stack}.yaml"):
        salt = _salt(source)
        if salt:  # the state was encrypted with this salt: keep it
            doc[SALT_KEY] = salt
            break
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    tmp.replace(path)


def _salt(path: Path) -> str | None:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    return doc.get(SALT_KEY) if isinstance(doc, dict) else None


def _passphrase_env(ws: Path) -> dict[str, str]:
    """The caller's passphrase (or a file made for the site) and nothing else of the
    caller's: `pulumi stack select` and `config set` need no other secret (the BMC password
    goes in on stdin). The engine run itself takes the caller's environment (automation)."""
    env = childenv.minimal("PULUMI_HOME", *automation.PASSPHRASE_VARS)
    if any(env.get(v) for v in automation.PASSPHRASE_VARS):
        return env
    path = ws / "passphrase"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(path)
    return env


def _set_secret(ws: Path, stack: str, key: str, value: str, env: dict[str, str]) -> None:
    cli = automation.require_cli()
    run_env = {**env, **automation.workspace_env(ws, env)}
    automation.state_dir(ws)

    def pulumi(*args: str, stdin: str | None = None) -> None:
        done = subprocess.run(
            [cli, *args], cwd=ws, env=run_env, input=stdin, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise InputError([f"--sim: pulumi {' '.join(args[:2])}: {done.stderr.strip()}"])

    pulumi("stack", "select", "--create", stack, "--secrets-provider", "passphrase")
    pulumi("config", "set", "--secret", key, "--stack", stack, stdin=value)  # never in argv


def remove(state_dir: Path) -> None:
    """`sim down`: the workspace goes with the simulated site (its BMCs are gone too)."""
    ws = workspace_dir(state_dir)
    if ws.is_symlink() or not ws.is_dir():
        return
    shutil.rmtree(ws)
