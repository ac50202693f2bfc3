"""Optional parts of a review that need the world: `pulumi preview` (Pulumi CLI through
the Automation API, infra/automation.py) and Ansible check mode (the configure runner,
infra/configure.py). Each returns {"status", "summary", "details"}; when a tool or module
is missing it says so plainly and the rest of the review goes on."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from infra.design.model import Design


def _result(status: str, summary: str, details: list[str] | None = None) -> dict:
    return {"status": status, "summary": summary, "details": details or []}


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the module exists but something it needs is missing: show that
        return None


def preview(stack: str, project_dir: Path) -> dict:
    if shutil.which("pulumi") is None:
        return _result(
            "unavailable",
            "the Pulumi CLI is not installed (no `pulumi` on PATH); pulumi preview was not run",
        )
    automation = _module("infra.automation")
    run = getattr(automation, "preview_summary", None) if automation else None
    if run is None:
        return _result(
            "unavailable",
            "infra.automation.preview_summary is not available in this tree; "
            "pulumi preview was not run",
        )
    # preview_summary(stack, project_dir) -> {stack name: {operation: count}}
    changes: dict[str, dict[str, int]] = run(stack, project_dir)
    details = [
        f"{name}: " + ", ".join(f"{op} {n}" for op, n in sorted(ops.items()))
        for name, ops in sorted(changes.items())
    ]
    total = sum(n for ops in changes.values() for op, n in ops.items() if op != "same")
    return _result("ok", f"{total} resource change(s) across {len(changes)} stack(s)", details)


def config_check(stack: str, project_dir: Path, design: Design) -> dict:
    configure = _module("infra.configure")
    run = getattr(configure, "check_diff_summary", None) if configure else None
    if run is None:
        return _result(
            "unavailable",
            "the configure runner (infra.configure.check_diff_summary) is not available in "
            "this tree; Ansible check mode was not run",
        )
    # check_diff_summary(stack, project_dir, design) -> {"role/group": {"changed": n, ...}}
    diff: dict[str, dict[str, int]] = run(stack, project_dir, design)
    details = [
        f"{key}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        for key, counts in sorted(diff.items())
    ]
    changed = sum(c.get("changed", 0) for c in diff.values())
    return _result(
        "ok", f"{changed} task(s) would change across {len(diff)} role/group(s)", details
    )
