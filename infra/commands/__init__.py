"""Subcommands of the `supercluster` CLI, one module each (see infra/cli.py)."""

import argparse
from pathlib import Path


def add_stack_args(parser: argparse.ArgumentParser) -> None:
    """--stack NAME means Pulumi.NAME.yaml in the project directory."""
    parser.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="directory holding Pulumi.yaml"
    )


def load_design(args: argparse.Namespace):
    """(spec, design, violations) for --stack; raises InputError on bad input."""
    from infra.design import compile_design
    from infra.policy import check_design
    from infra.spec import load_spec

    spec = load_spec(args.stack, args.project_dir)
    design = compile_design(spec, stack=args.stack)
    return spec, design, check_design(design)
