"""Packaging: `pip install .` carries every runtime dependency.

The static half reads every import under infra/ (the AST, plus the modules found by
name, e.g. Mitogen's through importlib.util.find_spec) and holds pyproject.toml's
`dependencies` to them: each third-party module a runtime module imports comes from a
declared distribution, the simulated site's emulator alone may use the `sim` extra, and
nothing declared goes unused. The install half builds and installs a copy of the package
into a fresh venv with plain `pip install` (no editable install, no lock: the lock only
constrains versions, so pip fetches the same releases setup installs, from its cache or
PyPI), then, outside the source tree, imports every runtime module and runs
`configure --help`, `design`, `validate` and `inventory` on a project directory.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT_DIR = Path(__file__).resolve().parents[1]
# Modules only the simulated site runs (a child process of `sim up`): they may import what
# the `sim` extra installs.
SIM_ONLY = {"infra.sim.bmc_emulator"}
# Entry points that run a Pulumi program when imported.
NOT_IMPORTED = {"infra.__main__", "infra.deploy.policypack.__main__"}
# Calls that import a module named by a string.
IMPORT_BY_NAME = {"find_spec", "import_module"}


def _pyproject() -> dict:
    return tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _modules() -> dict[str, Path]:
    """infra's module name -> file."""
    out = {}
    for path in sorted((PROJECT_DIR / "infra").rglob("*.py")):
        rel = path.relative_to(PROJECT_DIR).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


def _imports(path: Path) -> set[str]:
    """Top-level names of the modules a file imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in IMPORT_BY_NAME
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {name.split(".")[0] for name in found}


def _third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n != "infra"}


def _distributions(module: str) -> set[str]:
    """The distributions (in this venv) that provide a top-level module."""
    dists = importlib.metadata.packages_distributions().get(module, [])
    assert dists, f"{module}: imported under infra/ but no installed distribution provides it"
    return {canonicalize_name(d) for d in dists}


def test_runtime_imports_are_declared_dependencies():
    project = _pyproject()["project"]
    runtime = _names(project["dependencies"])
    sim = _names(project["optional-dependencies"]["sim"])
    used: set[str] = set()
    problems = []
    for name, path in _modules().items():
        allowed = runtime | sim if name in SIM_ONLY else runtime
        for module in sorted(_third_party(_imports(path))):
            dists = _distributions(module)
            used |= dists
            if not dists & allowed:
                where = "dependencies" + (" or the sim extra" if name in SIM_ONLY else "")
                problems.append(
                    f"{name} imports {module} ({', '.join(sorted(dists))}): not in {where}"
                )
    assert not problems, "\n".join(problems)
    unused = (runtime | sim) - used
    assert not unused, f"declared but imported nowhere under infra/: {sorted(unused)}"


def test_lock_satisfies_every_declared_requirement():
    """The lock is what setup installs: it holds a release of each declared distribution,
    in the declared range (runtime and extras), and requirements.in names the package."""
    project = _pyproject()["project"]
    locked = {}
    for line in (PROJECT_DIR / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            locked[canonicalize_name(name)] = version.strip()
    declared = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    problems = []
    for text in declared:
        req = Requirement(text)
        version = locked.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            problems.append(f"{text}: requirements.lock has {version or 'nothing'}")
    assert not problems, problems
    extras = ",".join(project["optional-dependencies"])
    assert f".[{extras}]" in (PROJECT_DIR / "requirements.in").read_text()


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)}: rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


@pytest.mark.integration
def test_plain_pip_install_runs_configure_help_and_imports_every_runtime_module(tmp_path):
    # A copy of what the package is built from: pip builds in the source tree.
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(PROJECT_DIR / "pyproject.toml", src)
    shutil.copytree(
        PROJECT_DIR / "infra", src / "infra", ignore=shutil.ignore_patterns("__pycache__")
    )
    # The caller's pip settings (index, certificates, find-links) stand; not their Python
    # path or venv.
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "VIRTUAL_ENV", "PIP_NO_DEPS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    py, bin_ = venv / "bin" / "python", venv / "bin"
    # Plain `pip install .`; the lock only pins versions (a constraint adds no package).
    _run(
        [str(py), "-m", "pip", "install", "-q", "-c", str(PROJECT_DIR / "requirements.lock"), "."],
        src,
        env,
        timeout=600,
    )
    work = tmp_path / "work"  # outside both the checkout and the copy
    work.mkdir()
    where = _run([str(py), "-c", "import infra; print(infra.__file__)"], work, env)
    assert str(venv) in where, where
    modules = sorted(set(_modules()) - SIM_ONLY - NOT_IMPORTED)
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('ansible_mitogen'), 'mitogen'\n"
    )
    _run([str(py), "-c", script, *modules], work, env)
    assert "--playbook" in _run([str(bin_ / "supercluster"), "configure", "--help"], work, env)
    # A project directory: the stack files, the shared group_vars.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    shutil.copytree(PROJECT_DIR / "inventory" / "group_vars", project / "inventory" / "group_vars")
    assert "violations" in _run(
        [str(bin_ / "supercluster"), "design", "--stack", "dev"], project, env
    )
    _run([str(bin_ / "supercluster"), "validate", "--stack", "dev"], project, env)
    _run([str(bin_ / "supercluster"), "inventory", "--stack", "dev"], project, env)
    defaults = (project / "inventory" / "dev" / "defaults.yml").read_text()
    assert "nvidia_driver_version:" in defaults  # the project's shared group_vars, carried
