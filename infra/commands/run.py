"""`supercluster run --stack NAME`: the main job, end to end, on one stack: compile the
design, check the rules, export the build files. Each step prints what it did; the run
stops at the first step that fails and exits with its code."""

from __future__ import annotations

import argparse
import sys
import time

from infra.commands import add_stack_args, load_design
from infra.design.summary import render_text, summarize
from infra.export import export_design
from infra.policy import errors


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the main job: design, validate, export (default stack dev)")
    add_stack_args(p)
    p.set_defaults(func=cmd_run)


def _step(name: str) -> float:
    print(f"==> {name}", file=sys.stderr, flush=True)
    return time.perf_counter()


def cmd_run(args: argparse.Namespace) -> int:
    t = _step(f"design: compiling stack {args.stack}")
    _, design, violations = load_design(args)
    print(render_text(summarize(design, violations)))
    print(f"    compiled in {time.perf_counter() - t:.2f} s", file=sys.stderr)

    _step("validate: rules")
    blocking = errors(violations)
    if blocking:
        print(f"validate: {len(blocking)} blocking violation(s); stopping", file=sys.stderr)
        return 1

    _step("export: cabling plan, rack elevations, node port map")
    for path in export_design(design, args.project_dir / "out" / args.stack):
        print(f"    wrote {path}")
    return 0
