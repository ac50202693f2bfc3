"""The `supercluster` command. Each subcommand lives in infra/commands/<name>.py and
exposes `register(subparsers)`; this file only wires them and turns bad input into one
clear line per problem (exit 2) instead of a traceback."""

from __future__ import annotations

import argparse
import importlib
import sys

from infra.errors import InputError

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "infra.commands.run",
    "infra.commands.design",
    "infra.commands.init",
    "infra.commands.plan",
    "infra.commands.bmc",
    "infra.commands.sim",
    "infra.commands.facts",
    "infra.commands.health",
    "infra.commands.inventory",
    "infra.commands.configure",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supercluster",
        description="Infrastructure as code for AI training superclusters.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
