"""Layered stacks: which part of a site a Pulumi stack deploys.

A small site is one stack (layer "all"). A large site is split so every stack stays within
~1,500 resources: the stack that holds the spec deploys the site layer (power plant,
cooling plant, fabric planes with their subnet managers and cabling plans) and one stack
per hall deploys that hall (scalable units, racks, cooling loop, power feed, the hall's
inventory). The spec lives once, in Pulumi.<site>.yaml; a hall stack file only points at it:

    # Pulumi.memphis-hall1.yaml
    config:
      supercluster:specStack: memphis
      supercluster:layer: hall1

The spec-holding stack is the site layer when any hall stack points at it (or when it says
`supercluster:layer: site`), otherwise it deploys everything. Hall stacks read the site
stack's outputs through a StackReference. Pure except for reading stack files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import CONFIG_ROOT, InputError, shown
from infra.spec import ClusterSpec, parse_spec, read_config_mapping, read_stack_config, stack_file

NS = "supercluster"
SPEC_STACK_KEY = f"{NS}:specStack"
LAYER_KEY = f"{NS}:layer"
RESOURCE_BUDGET = 1500  # per stack; the engine and file backend slow down past this


@dataclass(frozen=True)
class StackPlan:
    stack: str  # the stack being deployed
    spec_stack: str  # the stack file that holds the spec (itself unless a hall layer)
    layer: str  # "all" | "site" | a hall name
    spec: ClusterSpec

    @property
    def has_site(self) -> bool:
        return self.layer in ("all", "site")

    @property
    def halls(self) -> tuple[str, ...]:
        """The halls this stack deploys."""
        if self.layer == "all":
            return tuple(h.name for h in self.spec.halls)
        return () if self.layer == "site" else (self.layer,)

    @property
    def is_hall(self) -> bool:
        """A hall layer: every subcommand reads it as that hall's part of the site whose
        spec it points at (the spec stack itself, site layer or not, is the whole site)."""
        return not self.has_site

    def site_command(self, command: str) -> str:
        """The same command on the site stack: what a refusal for a hall tells one to run."""
        return f"`supercluster {command} --stack {self.spec_stack}`"


def _stack_files(project_dir: Path) -> dict[str, Path]:
    return {
        p.name.removeprefix("Pulumi.").removesuffix(".yaml"): p
        for p in sorted(Path(project_dir).glob("Pulumi.*.yaml"))
    }


def _quick_config(path: Path) -> dict:
    """The config of another stack file, {} when it is unreadable: a broken unrelated
    stack file is reported when that stack is used (read through the same capped,
    strict reader, so a hostile neighbour costs no more than a bad spec)."""
    try:
        return read_config_mapping(path, path.name)
    except InputError:
        return {}


def hall_stacks(spec_stack: str, project_dir: Path) -> dict[str, str]:
    """hall -> stack name, for the stack files whose specStack is `spec_stack`."""
    out: dict[str, str] = {}
    for name, path in _stack_files(project_dir).items():
        config = _quick_config(path)
        if config.get(SPEC_STACK_KEY) != spec_stack:
            continue
        hall = _setting(path.name, config, LAYER_KEY)
        if hall in out:
            raise InputError(
                [f"{path}: {LAYER_KEY} {hall!r} is already deployed by stack {out[hall]!r}"]
            )
        out[str(hall)] = name
    return out


def _setting(here: str, config: Mapping[str, Any], key: str) -> str | None:
    """A plain-text stack setting (specStack, layer): a list or a mapping there would
    otherwise reach a set lookup or a file name."""
    value = config.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError([f"{here}: {key} must be a string, got {shown(value)}"])
    return value


def resolve(stack: str, project_dir: Path, config: Mapping[str, Any]) -> StackPlan:
    """The plan of `stack` from its config (the `config:` mapping of its stack file, or the
    same keys read through pulumi.Config)."""
    here = f"Pulumi.{stack}.yaml"
    spec_stack = _setting(here, config, SPEC_STACK_KEY)
    layer = _setting(here, config, LAYER_KEY)
    if spec_stack is not None:
        if CONFIG_ROOT in config:
            raise InputError([f"{here}: set either {CONFIG_ROOT} or {SPEC_STACK_KEY}, not both"])
        spec = parse_spec(read_stack_config(str(spec_stack), project_dir)[CONFIG_ROOT])
        halls = [h.name for h in spec.halls]
        if layer not in halls:
            raise InputError(
                [
                    f"{here}: {LAYER_KEY} must name a hall of stack {spec_stack!r} "
                    f"({', '.join(halls)}), got {shown(layer)}"
                ]
            )
        return StackPlan(stack, str(spec_stack), str(layer), spec)
    if CONFIG_ROOT not in config:
        raise InputError([f"{here}: config {CONFIG_ROOT} (or {SPEC_STACK_KEY}) is missing"])
    spec = parse_spec(config[CONFIG_ROOT])
    if layer is None:
        layer = "site" if hall_stacks(stack, project_dir) else "all"
    if layer not in ("all", "site"):
        raise InputError(
            [f"{here}: {LAYER_KEY} of the spec stack is 'all' or 'site', got {shown(layer)}"]
        )
    return StackPlan(stack, stack, str(layer), spec)


def load_plan(stack: str, project_dir: Path) -> StackPlan:
    return resolve(stack, project_dir, read_stack_config_any(stack, project_dir))


def read_stack_config_any(stack: str, project_dir: Path) -> dict:
    """The config of a stack file that holds either the spec or a specStack pointer."""
    path = stack_file(stack, project_dir)
    config = read_config_mapping(path, stack)  # errors name the file and line
    if SPEC_STACK_KEY in config:
        return config
    return read_stack_config(stack, project_dir)


def stack_order(stack: str, project_dir: Path) -> list[str]:
    """The stacks of a site in deployment order: the site layer, then its halls (destroy
    runs it backwards). A hall stack or an unlayered stack is just itself."""
    plan = load_plan(stack, project_dir)
    if plan.layer != "site":
        return [stack]
    halls = hall_stacks(stack, project_dir)
    order = [h.name for h in plan.spec.halls if h.name in halls]
    return [stack, *(halls[h] for h in order)]
