"""Run the Pulumi program in-process under Pulumi's own mocks (pulumi.runtime.set_mocks):
what the tests and bench/pulumi_resources.py use to see the resource tree, its props and
the stack outputs (with their secretness) without the Pulumi CLI.

Config goes in the way the CLI passes it: flat `supercluster:<key>` values (objects as
JSON) through pulumi.runtime.set_all_config, read back by Settings.from_pulumi_config.
A hall stack's StackReference answers with the outputs of a site run given to the mocks.
"""

from __future__ import annotations

import json
import runpy
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.deploy import program
from infra.deploy.stacks import read_stack_config_any

PROJECT = "supercluster"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    parent: str  # parent URN ("" for children of the stack)
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)  # a component's registered outputs


class SiteMocks(pulumi.runtime.Mocks):
    """Resources echo their inputs; StackReferences return a recorded stack's outputs."""

    def __init__(self, stack_outputs: dict[str, dict[str, Any]] | None = None):
        self.stack_outputs = stack_outputs or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ == STACK_REFERENCE:
            name = args.inputs["name"]
            outputs = self.stack_outputs.get(name.rsplit("/", 1)[-1], {})
            return name, {"name": name, "outputs": outputs, "secretOutputNames": []}
        state = {k: v for k, v in args.inputs.items() if k != "__provider"}
        if args.custom:
            return state.get("path") or f"{args.name}-id", state
        return "", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also recording each resource's parent URN."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []
        self._by_urn: dict[str, Registered] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = self.resources[response.urn].state
            self.registered.append(
                Registered(response.urn, request.type, request.name, request.parent, inputs)
            )
            self._by_urn[response.urn] = self.registered[-1]
        return response

    def ReadResource(self, request):  # StackReferences are read, not registered
        response = super().ReadResource(request)
        state = self.resources[response.urn].state
        self.registered.append(
            Registered(response.urn, request.type, request.name, request.parent, state)
        )
        return response

    def RegisterResourceOutputs(self, request):
        entry = self._by_urn.get(request.urn)
        if entry is not None:
            entry.outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclass
class MockRun:
    stack: str
    plan: Any  # infra.deploy.stacks.StackPlan
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    seconds: float
    by_urn: dict[str, Registered] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}

    def counts(self) -> Counter:
        return Counter(r.type for r in self.resources)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def parent_of(self, r: Registered) -> Registered | None:
        return self.by_urn.get(r.parent)


def flat_config(config: dict[str, Any]) -> dict[str, str]:
    """Pulumi's wire form: every value a string, objects as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def run_stack(
    stack: str,
    project_dir: Path,
    *,
    extra_config: dict[str, Any] | None = None,
    secret_keys: tuple[str, ...] = (),
    stack_outputs: dict[str, dict[str, Any]] | None = None,
    as_entry_point: bool = False,
) -> MockRun:
    """Run the program for `stack` (config from Pulumi.<stack>.yaml plus extra_config)."""
    config = {**read_stack_config_any(stack, project_dir), **(extra_config or {})}
    monitor = RecordingMonitor(SiteMocks(stack_outputs))
    pulumi_settings.set_root_resource(None)  # a fresh Stack per run: outputs don't leak
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=monitor,
        organization="organization",
    )
    pulumi.runtime.set_all_config(flat_config(config), list(secret_keys))
    result: dict[str, Any] = {}

    async def body() -> None:
        if as_entry_point:
            # Exactly what the Pulumi CLI runs: infra/__main__.py (it reads the stack's
            # Pulumi.<stack>.yaml relative to the package, not project_dir).
            runpy.run_path(str(Path(program.__file__).parents[1]), run_name="__main__")
            result["plan"] = None
        else:
            settings = program.Settings.from_pulumi_config()
            result["plan"] = program.run(stack, settings, project_dir)
        root = pulumi_settings.get_root_resource()
        outs, secret = {}, set()
        for key, value in root.outputs.items():
            out = pulumi.Output.from_input(value)
            outs[key] = await out.future()
            if await out.is_secret():
                secret.add(key)
        result["outputs"], result["secret"] = outs, secret

    start = time.perf_counter()
    _sync_await(run_pulumi_func(body))
    seconds = time.perf_counter() - start
    return MockRun(
        stack, result["plan"], monitor.registered, result["outputs"], result["secret"], seconds
    )


def run_site(site_stack: str, project_dir: Path, **kwargs: Any) -> list[MockRun]:
    """Every stack of a site in deployment order, each hall seeing the site's outputs."""
    from infra.deploy.stacks import stack_order

    runs: list[MockRun] = []
    recorded: dict[str, dict[str, Any]] = {}
    for stack in stack_order(site_stack, project_dir):
        run = run_stack(stack, project_dir, stack_outputs=recorded, **kwargs)
        recorded[stack] = run.outputs
        runs.append(run)
    return runs
