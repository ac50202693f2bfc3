"""A Pulumi project in a temp dir, driven by the real engine (the CLI scripts/setup.sh
builds into .venv): the project's Pulumi.yaml and stack files copied, infra/ linked (the
program, policy pack and providers exactly as they are), and its own state backend,
PULUMI_HOME and passphrase, so a test never touches the checkout's files or state."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

VENV_BIN = Path(sys.executable).parent
CLI = VENV_BIN / "pulumi"
PROJECT_DIR = Path(__file__).resolve().parents[2]


class EngineProject:
    def __init__(self, root: Path, stacks: tuple[str, ...] = ("dev",), login: bool = False):
        self.root = root
        self.state = root / "state"
        self.passphrase = "pp-" + secrets.token_hex(16)
        root.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(exist_ok=True)
        shutil.copyfile(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
        (root / "infra").symlink_to(PROJECT_DIR / "infra", target_is_directory=True)
        for stack in stacks:
            shutil.copyfile(PROJECT_DIR / f"Pulumi.{stack}.yaml", root / f"Pulumi.{stack}.yaml")
        self.env = {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(root / "home"),
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }
        if login:  # as a user does it: the backend remembered in PULUMI_HOME
            self.pulumi("login", f"file://{self.state}")
        else:
            self.env["PULUMI_BACKEND_URL"] = f"file://{self.state}"

    def pulumi(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Run the CLI in the project; with check, a failure shows its whole output."""
        proc = subprocess.run(
            [str(CLI), *args],
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def supercluster(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        env = {k: v for k, v in self.env.items() if k != "PULUMI_BACKEND_URL"}
        return subprocess.run(
            [str(VENV_BIN / "supercluster"), *args, "--project-dir", str(self.root)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def init(self, stack: str, config: dict[str, str] | None = None) -> None:
        self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
        for key, value in (config or {}).items():
            self.pulumi("config", "set", "--stack", stack, key, value)

    def outputs(self, stack: str) -> dict:
        return json.loads(self.pulumi("stack", "output", "--json", "--stack", stack).stdout)

    def export(self, stack: str) -> dict:
        return json.loads(self.pulumi("stack", "export", "--stack", stack).stdout)

    def resources(self, stack: str) -> list[dict]:
        return self.export(stack)["deployment"].get("resources") or []

    def stack_config(self, stack: str) -> dict:
        return yaml.safe_load((self.root / f"Pulumi.{stack}.yaml").read_text())


def steps(preview_json: str) -> dict[str, list[str]]:
    """op -> resource names, from `pulumi preview --json`."""
    out: dict[str, list[str]] = {}
    for step in json.loads(preview_json).get("steps", []):
        out.setdefault(step["op"], []).append(step["urn"].rsplit("::", 1)[1])
    return {op: sorted(names) for op, names in out.items()}
