"""Subcommands of the `supercluster` CLI, one module each (see infra/cli.py).

The helpers here are how every subcommand reads a stack and finds the simulated site, so
that `--stack` and `--sim` mean the same thing everywhere:
- `load_stack`: the stack's plan (infra/deploy/stacks.py): a hall stack
  (`supercluster:specStack` + `supercluster:layer`) is that hall of its spec stack's site.
- `load_design`: the design a command works on: the whole site for a spec stack, the
  hall's part (infra/design/part.py) for a hall stack, with the rules' findings for it.
- `sim_site`: the simulated site, only with `--sim` or the record of `sim up`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def stack_name(value: str) -> str:
    """argparse type of --stack: a name that stays a single path component (the same
    check as every stack file read: infra.spec.stack_name_problem)."""
    from infra.spec import stack_name_problem

    problem = stack_name_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def add_stack_args(parser: argparse.ArgumentParser) -> None:
    """--stack NAME means Pulumi.NAME.yaml in the project directory."""
    parser.add_argument(
        "--stack",
        type=stack_name,
        default="dev",
        help="stack name (Pulumi.<stack>.yaml); a hall stack means that hall of its site",
    )
    parser.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="directory holding Pulumi.yaml"
    )


def add_sim_args(parser: argparse.ArgumentParser, what: str) -> None:
    """--sim and --state-dir: the simulated site, chosen explicitly (infra/sim/site.py)."""
    parser.add_argument(
        "--sim",
        action="store_true",
        help=f"{what} (default: only when `sim up` recorded this stack)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the simulated site's state dir (default <project>/.sim)",
    )


def sim_site(args: argparse.Namespace):
    """The simulated site this command runs against (infra.sim.site.Found), or None for
    the real site. Said on stderr, so a run on the simulated site is never a surprise."""
    from infra.sim import site

    found = site.find(
        args.project_dir, args.stack, getattr(args, "sim", False), getattr(args, "state_dir", None)
    )
    if found is not None:
        print(found.notice(), file=sys.stderr)
    return found


def load_stack(args: argparse.Namespace):
    """The plan of --stack (infra.deploy.stacks.StackPlan); InputError on a bad stack."""
    from infra.deploy.stacks import load_plan

    return load_plan(args.stack, args.project_dir)


@dataclass(frozen=True)
class StackDesign:
    plan: Any  # infra.deploy.stacks.StackPlan
    site: Any  # the whole site's Design (the spec stack's)
    design: Any  # what this stack covers: the site, or a hall stack's part of it
    violations: list  # the rules' findings on the whole site that concern `design`


def stack_design(args: argparse.Namespace) -> StackDesign:
    """The design of --stack. The rules always run on the whole site (a hall cannot be
    judged apart from the contract, the plant and the fabric it shares): a hall stack
    reports the site-wide findings and those on its own racks, nodes, switches, CDUs and
    cables, not those lying wholly in other halls."""
    from infra.design import compile_design
    from infra.design.part import hall_view
    from infra.policy import check_design

    plan = load_stack(args)
    site = compile_design(plan.spec, stack=plan.spec_stack)
    violations = check_design(site)
    if not plan.is_hall:
        return StackDesign(plan, site, site, violations)
    part, mine = hall_view(site, violations, plan.halls, plan.stack)
    return StackDesign(plan, site, part, mine)


def load_design(args: argparse.Namespace):
    """(spec, design, violations) for --stack (see stack_design); InputError on bad input."""
    found = stack_design(args)
    return found.plan.spec, found.design, found.violations


def site_design(args: argparse.Namespace, command: str):
    """The whole site's design, for what only exists site-wide (the fabric planes: one
    InfiniBand subnet spans every hall, and the site stack deploys them). A hall stack is
    refused before anything is compiled, naming its site stack."""
    from infra.design import compile_design
    from infra.errors import InputError

    plan = load_stack(args)
    if plan.is_hall:
        raise InputError(
            [
                f"--stack {args.stack}: hall {plan.layer} of site stack {plan.spec_stack}; "
                f"{command} covers the site's fabric planes, which span every hall: run "
                f"{plan.site_command(command)}"
            ]
        )
    return compile_design(plan.spec, stack=plan.spec_stack)
