"""The tree shows the architecture: every module of infra/ belongs to one layer and
imports only from its own layer or the ones below it (function-level imports included).
A new module outside every layer, or an import that reaches up, fails here."""

from __future__ import annotations

import ast
from pathlib import Path

INFRA = Path(__file__).resolve().parents[1] / "infra"

# Bottom to top. A module's layer is that of its longest listed prefix.
LAYERS: list[tuple[str, ...]] = [
    # foundation: input errors, terminal text, atomic writes, child env, processes, progress
    (
        "infra",
        "infra.errors",
        "infra.text",
        "infra.fsutil",
        "infra.childenv",
        "infra.procs",
        "infra.progress",
    ),
    ("infra.catalog", "infra.spec", "infra.presets"),  # what a user declares
    ("infra.design",),  # the pure compiler, and the design written out as files
    ("infra.policy",),  # rules over a design
    ("infra.fabric", "infra.sim", "infra.fleet"),  # OpenSM/ibsim, simulated site, SSH fan-out
    ("infra.nodes",),  # Ansible-facing: inventory, configure
    ("infra.deploy",),  # Pulumi-facing: program, components, providers, policy pack
    ("infra.review",),  # plan review (reads the design, runs previews and check mode)
    ("infra.commands", "infra.cli", "infra.__main__"),  # the CLI and the Pulumi entry point
]


def layer_of(module: str) -> int:
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found is not None, f"{module}: in no layer of tests/test_layers.py"
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(INFRA.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "infra":
                found |= {f"infra.{alias.name}" for alias in node.names}
            elif node.module.startswith("infra."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("infra.")}
    return found


def test_every_import_goes_down_or_sideways():
    upward = []
    for path in sorted(INFRA.rglob("*.py")):
        module = module_name(path)
        mine = layer_of(module)
        for target in sorted(imports(path)):
            theirs = layer_of(target)
            if theirs > mine:
                upward.append(f"{module} (layer {mine}) imports {target} (layer {theirs})")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The rule can fail: a design module importing the CLI is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("from infra.commands import load_design\nimport infra.nodes.inventory\n")
    assert imports(probe) == {"infra.commands", "infra.nodes.inventory"}
    assert layer_of("infra.design.layout") < layer_of("infra.commands")
