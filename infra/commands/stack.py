"""`supercluster preview|up|destroy --stack NAME`: the Pulumi program of a stack through the
Automation API (infra/automation.py), with the policy pack on preview and up. `--layers`
runs every stack of a layered site: the site stack first, then its halls (destroy: the
halls first)."""

from __future__ import annotations

import argparse
import sys

from infra.commands import add_stack_args
from infra.errors import InputError

OPERATIONS = {
    "preview": "show what `up` would change (runs the policy pack)",
    "up": "create or update the stack's resources (runs the policy pack)",
    "destroy": "delete the stack's resources (generated files included)",
}
EXIT_MISSING_TOOL = 3


def register(sub: argparse._SubParsersAction) -> None:
    for op, help_text in OPERATIONS.items():
        p = sub.add_parser(op, help=help_text)
        add_stack_args(p)
        p.add_argument(
            "--layers", action="store_true", help="all stacks of a layered site, in order"
        )
        if op != "destroy":
            p.add_argument("--no-policy", action="store_true", help="skip the policy pack")
        else:
            p.add_argument("--yes", action="store_true", help="confirm the destroy")
        p.set_defaults(func=cmd_stack, operation=op)


def cmd_stack(args: argparse.Namespace) -> int:
    from infra import automation
    from infra.stacks import load_plan, stack_order

    if args.operation == "destroy" and not args.yes:
        raise InputError([f"destroy deletes stack {args.stack}'s resources: pass --yes"])
    load_plan(args.stack, args.project_dir)  # bad stack files fail here, before the CLI
    stacks = stack_order(args.stack, args.project_dir) if args.layers else [args.stack]
    if args.operation == "destroy":
        stacks.reverse()
    try:
        automation.require_cli()
        for stack in stacks:
            automation.run_operation(
                args.operation,
                stack,
                args.project_dir,
                policy=not getattr(args, "no_policy", False),
            )
    except automation.MissingTool as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_MISSING_TOOL
    except Exception as exc:  # the CLI's own failure: its output was streamed above
        from pulumi.automation.errors import CommandError

        if not isinstance(exc, CommandError):
            raise
        print(f"error: pulumi {args.operation} failed for stack {stack}", file=sys.stderr)
        return 1
    return 0
