"""`supercluster design | validate | export`: the compiled design, its rule check, and
the files the people who build the site work from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.commands import add_stack_args, load_design
from infra.commands.conventions import add_json_arg, print_json
from infra.design.export import export_design
from infra.policy import errors
from infra.policy.summary import render_text, summarize


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("design", help="compile the stack's design and print its summary")
    add_stack_args(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("validate", help="run the rules: exit 0 clean, 1 errors, 2 bad input")
    add_stack_args(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("export", help="write cabling plan, rack elevations, node port map")
    add_stack_args(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory (default out/<stack>/export), replaced as a whole",
    )
    add_json_arg(p)
    p.set_defaults(func=cmd_export)


def cmd_design(args: argparse.Namespace) -> int:
    _, design, violations = load_design(args)
    summary = summarize(design, violations)
    if args.json:
        print_json("design", args.stack, True, **summary)
    else:
        print(render_text(summary))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    _, _, violations = load_design(args)
    blocking = errors(violations)
    if args.json:
        print_json(
            "validate", args.stack, not blocking, violations=[v.to_dict() for v in violations]
        )
    else:
        for v in violations:
            print(f"{v.severity:7} {v.rule:26} {v.object}: {v.message}")
        print(
            f"{args.stack}: {len(blocking)} error(s), {len(violations) - len(blocking)} warning(s)",
            file=sys.stderr,
        )
    return 1 if blocking else 0


def cmd_export(args: argparse.Namespace) -> int:
    _, design, violations = load_design(args)
    # Not out/<stack> itself: `plan` writes out/<stack>/review, and one output never
    # holds another (each run replaces its directory as a whole).
    out = args.out or args.project_dir / "out" / args.stack / "export"
    written = export_design(design, out, protect=(args.project_dir,))
    if args.json:
        print_json("export", args.stack, True, out=str(out), files=[str(p) for p in written])
    else:
        for path in written:
            print(path)
    if errors(violations):
        print(
            f"warning: the design has {len(errors(violations))} rule error(s); run "
            "`supercluster validate`",
            file=sys.stderr,
        )
    return 0
