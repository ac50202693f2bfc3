"""Optional parts of a review that need the world: `pulumi preview` (Pulumi CLI through
the Automation API, infra/automation.py) and Ansible check mode (the configure runner,
infra/configure.py). Each returns {"status", "summary", "details"}; when a tool or module
is missing it says so plainly and the rest of the review goes on."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from infra.design.model import Design
from infra.errors import InputError


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
    """Ansible check mode (--check --diff) of site.yml through the configure runner, on
    the stack's generated inventory; unreachable hosts are counted, not fatal."""
    configure = _module("infra.configure")
    run = getattr(configure, "run", None) if configure else None
    if run is None:
        return _result(
            "unavailable",
            "the configure runner (infra.configure) is not available in this tree; "
            "Ansible check mode was not run",
        )
    project_dir = Path(project_dir).resolve()
    inventory = project_dir / "inventory" / stack
    if not (inventory / "hosts.yml").is_file():
        return _result(
            "unavailable",
            f"no inventory for stack {stack} ({inventory}/hosts.yml); run `supercluster "
            f"inventory --stack {stack}` first; Ansible check mode was not run",
        )
    try:
        result = run(
            project_dir=project_dir,
            inventory_dir=inventory,
            playbook="site",
            check=True,
            diff=True,
            artifacts_dir=project_dir / "artifacts" / "plan" / stack,
            out=None,
        )
    except InputError as exc:
        return _result("unavailable", "; ".join(exc.problems))
    return summarize_check(result, design)


def summarize_check(result, design: Design) -> dict:
    """Changed tasks per role and changed hosts per scalable unit (the rolling batch)."""
    su = {n.name: n.su for n in design.nodes}
    reached = [h for h in result.stats if h not in result.unreachable]
    changed_hosts = sorted(h for h, n in result.changed_hosts.items() if n)
    per_group: dict[str, int] = {}
    for host in changed_hosts:
        group = su.get(host, "other hosts")
        per_group[group] = per_group.get(group, 0) + 1
    details = [
        f"role {role}: {n} changed task result(s)"
        for role, n in sorted(result.changed_by_role.items())
    ]
    details += [f"{group}: {n} host(s) would change" for group, n in sorted(per_group.items())]
    details += [f"unreachable {h}: {why}" for h, why in sorted(result.unreachable.items())]
    details += [f"failed {h}: {why}" for h, why in sorted(result.failed.items())]
    status = "ok" if reached and not result.failed else ("unreachable" if not reached else "failed")
    summary = (
        f"{len(changed_hosts)} of {len(reached)} reachable host(s) would change "
        f"({sum(result.changed_by_role.values())} task result(s)); "
        f"{len(result.unreachable)} unreachable, {len(result.failed)} failed"
    )
    return _result(status, summary, details)
