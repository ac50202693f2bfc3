"""`supercluster design | validate | export`: the compiled design, its rule check, and
the files the people who build the site work from."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infra.commands import add_stack_args, load_design
from infra.design.export import export_design
from infra.policy import errors
from infra.policy.summary import render_text, summarize


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("design", help="compile the stack's design and print its summary")
    add_stack_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("validate", help="run the rules: exit 0 clean, 1 errors, 2 bad input")
    add_stack_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("export", help="write cabling plan, rack elevations, node port map")
    add_stack_args(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory (default out/<stack>/export), replaced as a whole",
    )
    p.set_defaults(func=cmd_export)


def cmd_design(args: argparse.Namespace) -> int:
    _, design, violations = load_design(args)
    summary = summarize(design, violations)
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else render_text(summary))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    _, _, violations = load_design(args)
    blocking = errors(violations)
    if args.json:
        print(
            json.dumps(
                {"ok": not blocking, "violations": [v.to_dict() for v in violations]},
                indent=2,
                sort_keys=True,
            )
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
    for path in export_design(design, out, protect=(args.project_dir,)):
        print(path)
    if errors(violations):
        print(
            f"warning: the design has {len(errors(violations))} rule error(s); run "
            "`supercluster validate`",
            file=sys.stderr,
        )
    return 0
