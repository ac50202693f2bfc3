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
    "infra.commands.fabric",
    "infra.commands.stack",
)


# Commands registered by a module of another name (infra.commands.<name> otherwise).
COMMAND_HOME = {
    "validate": "infra.commands.design",
    "export": "infra.commands.design",
    "preview": "infra.commands.stack",
    "up": "infra.commands.stack",
    "refresh": "infra.commands.stack",
    "destroy": "infra.commands.stack",
}


def _modules_for(argv: list[str]) -> tuple[str, ...]:
    """Only the module of the command being run: importing every command's dependencies
    (pydantic, paramiko, sushy, pulumi...) would cost seconds on every start."""
    first = next((a for a in argv if not a.startswith("-")), None)
    home = COMMAND_HOME.get(first or "", f"infra.commands.{first}")
    return (home,) if home in COMMAND_MODULES else COMMAND_MODULES


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supercluster",
        description="Infrastructure as code for AI training superclusters.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = COMMAND_MODULES if argv is None else _modules_for(argv)
    for module in modules:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
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
