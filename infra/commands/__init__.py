"""Subcommands of the `supercluster` CLI, one module each (see infra/cli.py)."""

import argparse
import re
from pathlib import Path

# Pulumi's rule for a stack's own name (no org/project qualifier): letters, digits, `-`,
# `_`, `.`, at most 100. The name becomes part of paths (Pulumi.<stack>.yaml,
# out/<stack>/, inventory/<stack>/): no `/`, and no `..` that could climb out of them.
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def stack_name(value: str) -> str:
    """argparse type of --stack: a name that stays a single path component."""
    if not _STACK_NAME.fullmatch(value) or ".." in value or value.startswith("."):
        raise argparse.ArgumentTypeError(
            f"{value[:40]!r}: a stack name is 1-100 letters, digits, '-', '_' or '.' "
            "(no '/', no '..', not starting with '.')"
        )
    return value


def add_stack_args(parser: argparse.ArgumentParser) -> None:
    """--stack NAME means Pulumi.NAME.yaml in the project directory."""
    parser.add_argument(
        "--stack", type=stack_name, default="dev", help="stack name (Pulumi.<stack>.yaml)"
    )
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
