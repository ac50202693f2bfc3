"""`supercluster plan`: the dry-run review of a stack change (base revision vs working
tree), for pull requests and people. Exit 0 nothing blocking, 1 a blocking (error)
violation after the change, 2 bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

from infra.commands import add_stack_args
from infra.commands.conventions import add_json_arg, human, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="review what a stack change does: inventory, cabling, power, cooling, rules",
    )
    add_stack_args(p)
    p.add_argument("--base", default="HEAD", help="git revision to compare with (default HEAD)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for review.md/.html/.json (default out/<stack>/review)",
    )
    p.add_argument(
        "--with-preview",
        action="store_true",
        help="add the pulumi preview change summary (needs the Pulumi CLI)",
    )
    p.add_argument(
        "--with-config-check",
        action="store_true",
        help="add the Ansible check-mode diff summary (reachable hosts)",
    )
    add_json_arg(p)
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from infra.design.heap import no_cyclic_gc
    from infra.review.pipeline import run_plan
    from infra.review.render import render_text, write_outputs

    plan = run_plan(
        args.stack, args.project_dir, args.base, args.with_preview, args.with_config_check
    )
    out = args.out or args.project_dir / "out" / args.stack / "review"
    print(render_text(plan.review), file=human(args))
    with no_cyclic_gc():
        written = write_outputs(plan.review, plan.base, plan.head, out)
    for path in written:
        print(f"wrote {path}", file=human(args))
    if args.json:  # review.json's content, and where the files went
        review = plan.review.to_dict()
        ok = plan.review.exit_code == 0
        print_json("plan", args.stack, ok, **review, files=[str(p) for p in written])
    return plan.review.exit_code
