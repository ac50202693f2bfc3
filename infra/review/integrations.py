"""Optional parts of a review that need the world: `pulumi preview` (Pulumi CLI through
the Automation API, infra/deploy/automation.py) and Ansible check mode (the configure runner,
infra/nodes/configure.py). Each returns {"status", "summary", "details"}; when a tool or module
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


NO_CLI = (
    "the Pulumi CLI is not installed (scripts/setup.sh builds it into .venv/bin; or put "
    "`pulumi` on PATH); pulumi preview was not run"
)


def preview(stack: str, project_dir: Path) -> dict:
    """`pulumi preview` of each stack of the site (site layer, then its halls) through the
    Automation API (infra.deploy.automation), summarized as operation counts per stack."""
    automation = _module("infra.deploy.automation")
    if automation is None:
        if shutil.which("pulumi") is None:
            return _result("unavailable", NO_CLI)
        return _result(
            "unavailable",
            "infra.deploy.automation (the Automation API driver) is not in this tree; "
            "pulumi preview was not run",
        )
    if automation.find_cli() is None:
        return _result("unavailable", NO_CLI)
    stacks = _module("infra.deploy.stacks")
    order = stacks.stack_order(stack, Path(project_dir)) if stacks else [stack]
    details, total, failed = [], 0, 0
    for name in order:
        try:
            result = automation.select_stack(name, Path(project_dir)).preview(
                on_output=lambda _line: None
            )
        except automation.MissingTool as exc:
            return _result("unavailable", f"{exc}; pulumi preview was not run")
        except Exception as exc:  # the CLI's CommandError: report it, keep the review
            failed += 1
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            details.append(f"{name}: preview failed: {first[:300]}")
            continue
        counts = {str(getattr(op, "value", op)): n for op, n in result.change_summary.items()}
        total += sum(n for op, n in counts.items() if op != "same")
        details.append(
            f"{name}: " + (", ".join(f"{op} {n}" for op, n in sorted(counts.items())) or "none")
        )
    status = "failed" if failed else "ok"
    summary = f"{total} resource change(s) across {len(order) - failed} of {len(order)} stack(s)"
    return _result(status, summary, details)


def config_check(stack: str, project_dir: Path, design: Design) -> dict:
    """Ansible check mode (--check --diff) of site.yml through the configure runner, on
    the stack's generated inventory; unreachable hosts are counted, not fatal."""
    configure = _module("infra.nodes.configure")
    run = getattr(configure, "run", None) if configure else None
    if run is None:
        return _result(
            "unavailable",
            "the configure runner (infra.nodes.configure) is not available in this tree; "
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
