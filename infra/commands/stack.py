"""`supercluster preview|up|refresh|destroy --stack NAME`: the Pulumi program of a stack
through the Automation API (infra/deploy/automation.py), with the policy pack on preview and up.
`--layers` runs every stack of a layered site: the site stack first, then its halls
(destroy: the halls first). `--sim` deploys onto the simulated site, from a workspace of
its own (infra/deploy/simdeploy.py): its BMCs managed, its state and files apart from the project's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.commands import add_sim_args, add_stack_args, sim_site
from infra.commands.conventions import add_json_arg, human, print_json
from infra.errors import InputError

OPERATIONS = {
    "preview": "show what `up` would change (runs the policy pack)",
    "up": "create or update the stack's resources (runs the policy pack)",
    "refresh": "read the resources back (files, BMCs) and record the drift",
    "destroy": "delete the stack's resources (generated files included)",
}


def register(sub: argparse._SubParsersAction) -> None:
    for op, help_text in OPERATIONS.items():
        p = sub.add_parser(op, help=help_text)
        add_stack_args(p)
        p.add_argument(
            "--layers", action="store_true", help="all stacks of a layered site, in order"
        )
        add_sim_args(p, "onto the simulated site (`sim up` first): its BMCs managed, its own state")
        if op in ("preview", "up"):
            p.add_argument("--no-policy", action="store_true", help="skip the policy pack")
        if op == "destroy":
            p.add_argument("--yes", action="store_true", help="confirm the destroy")
        add_json_arg(p)
        p.set_defaults(func=cmd_stack, operation=op)


def _workspace(args: argparse.Namespace, stack: str, sim) -> tuple[Path, dict[str, str] | None]:
    """The project (the real site), or the simulated site's own workspace when `sim`
    (infra.sim.site.Found: --sim, or the record of `sim up` for this stack)."""
    if sim is None:
        return args.project_dir, None
    from infra.deploy import simdeploy

    return simdeploy.prepare(stack, args.project_dir, sim.state_dir)


def cmd_stack(args: argparse.Namespace) -> int:
    from infra.deploy import automation
    from infra.deploy.stacks import load_plan, stack_order

    if args.operation == "destroy" and not args.yes:
        raise InputError([f"destroy deletes stack {args.stack}'s resources: pass --yes"])
    load_plan(args.stack, args.project_dir)  # bad stack files fail here, before the CLI
    stacks = stack_order(args.stack, args.project_dir) if args.layers else [args.stack]
    if args.operation == "destroy":
        stacks.reverse()
    stack = stacks[0]
    done = []
    # A missing CLI or passphrase (automation.MissingTool) reaches the CLI's boundary: exit 3.
    automation.require_cli()
    sim = sim_site(args)  # chosen once, said once, for every stack of --layers
    try:
        for stack in stacks:
            work_dir, environ = _workspace(args, stack, sim)
            _require_site(args, stack, work_dir, environ)
            result = automation.run_operation(
                args.operation,
                stack,
                work_dir,
                policy=not getattr(args, "no_policy", False),
                on_output=lambda line: print(line, file=human(args)),
                environ=environ,
            )
            done.append(_summary(args.operation, stack, result))
    except Exception as exc:  # the CLI's own failure: its output was streamed above
        from pulumi.automation.errors import CommandError

        if not isinstance(exc, CommandError):
            raise
        print(f"error: pulumi {args.operation} failed for stack {stack}", file=sys.stderr)
        _print_json(args, done, failed=stack)
        return 1
    _print_json(args, done)
    return 0


def _print_json(args: argparse.Namespace, done: list[dict], failed: str | None = None) -> None:
    if args.json:
        print_json(args.operation, args.stack, failed is None, stacks=done, failed_stack=failed)


def _require_site(args, stack: str, work_dir: Path, environ) -> None:
    """A hall stack reads its site stack's outputs: say so in one line when the site stack
    is not deployed, instead of the engine's failed StackReference mid-update."""
    from infra.deploy import automation
    from infra.deploy.stacks import load_plan

    plan = load_plan(stack, args.project_dir)
    if args.operation not in ("preview", "up") or plan.has_site:
        return
    if not automation.is_deployed(plan.spec_stack, work_dir, environ):
        raise automation.MissingTool(
            f"stack {stack} is a hall of site stack {plan.spec_stack}, which is not deployed: "
            f"run `supercluster up --stack {plan.spec_stack}` first (or `--layers`)"
        )


def _summary(operation: str, stack: str, result) -> dict:
    """One line per stack on stderr: what the engine did, and for up what the stack now
    holds; the same as a dict for --json."""
    summary = getattr(result, "summary", None)
    changes = getattr(summary, "resource_changes", None) or getattr(result, "change_summary", {})
    done = ", ".join(f"{n} {op}" for op, n in sorted((changes or {}).items())) or "no changes"
    line = f"{operation} {stack}: {done}"
    outputs = getattr(result, "outputs", None) or {}
    design = outputs.get("summary")
    report = {"stack": stack, "changes": dict(changes or {}), "site": None}
    if design is not None:
        s = design.value
        report["site"] = s
        line += (
            f"; site {s.get('site')}: {s.get('gpus')} GPUs, {s.get('racks')} racks, "
            f"{len(outputs.get('artifacts').value or {})} artifacts"
        )
    print(line, file=sys.stderr)
    return report
