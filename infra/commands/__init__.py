"""Subcommands of the `supercluster` CLI, one module each (see infra/cli.py)."""

import argparse
from pathlib import Path


def add_stack_args(parser: argparse.ArgumentParser) -> None:
    """--stack NAME means Pulumi.NAME.yaml in the project directory."""
    parser.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="directory holding Pulumi.yaml"
    )
