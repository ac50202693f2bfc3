"""The `supercluster` command. Each subcommand lives in infra/commands/<name>.py and
exposes `register(subparsers)`; this file only wires them and is the one error boundary:
an expected failure (bad input, a path that cannot be read or written, undecodable bytes,
a value a parser refused) becomes one clear line per problem, never a traceback; a bug
keeps its traceback under an "internal error" header and its own exit code (70)."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback

from infra.errors import EnvironmentProblem, InputError
from infra.text import printable

# Exit codes (DESIGN.md, README "Exit codes"): 0 ok, 1 the check found something, 2 bad
# input, 3 the environment lacks something; and for what DESIGN's table leaves out:
EXIT_INPUT = 2
EXIT_ENV = 3
EXIT_INTERNAL = 70  # a bug: sysexits.h EX_SOFTWARE, never to be read as 1 ("found something")
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool its reader left
MAX_PROBLEMS = 50
DEBUG_ENV = "SUPERCLUSTER_DEBUG"  # set: every exception propagates with its traceback

# OS errors that mean a path the user gave is wrong (exit 2); any other (ENOSPC, EMFILE,
# ENOMEM, ...) is the environment's (exit 3).
INPUT_ERRNOS = frozenset(
    {
        errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EROFS,
        errno.EEXIST, errno.ELOOP, errno.ENAMETOOLONG, errno.ENOTEMPTY, errno.EXDEV,
        errno.ETXTBSY, errno.EINVAL,
    }
)  # fmt: skip

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
    """Run one subcommand. The one error boundary: every expected failure is printed as
    one line per problem naming the path or field, never a traceback (see `_expected`)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the boundary, not at exit
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        expected = _expected(exc)
        if expected is None:
            return _internal_error()
        problems, code = expected
        _report(problems)
        return code


def _expected(exc: BaseException) -> tuple[list[str], int] | None:
    """The problem lines and exit code of an expected failure; None for a bug."""
    if isinstance(exc, InputError):
        return list(exc.problems), EXIT_INPUT
    if isinstance(exc, EnvironmentProblem):  # a tool, root, a free address: say what to do
        return exc.problems, EXIT_ENV
    if isinstance(exc, OSError):
        return [_os_problem(exc)], EXIT_INPUT if exc.errno in INPUT_ERRNOS else EXIT_ENV
    if isinstance(exc, UnicodeDecodeError):
        where = f" ({'; '.join(exc.__notes__)})" if getattr(exc, "__notes__", None) else ""
        return [
            f"input is not UTF-8{where}: byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}: {exc.reason}"
        ], EXIT_INPUT
    if isinstance(exc, ModuleNotFoundError):
        return [
            f"the environment lacks the Python module {exc.name!r}: install the project's "
            "dependencies (see README, Setup)"
        ], EXIT_ENV
    if isinstance(exc, ValueError):  # a parser's complaint (json, ipaddress, int(), ...)
        return (str(exc).splitlines() or [type(exc).__name__]), EXIT_INPUT
    return None


def _os_problem(exc: OSError) -> str:
    """`<path>: <reason>`, naming both paths of a rename or link."""
    reason = exc.strerror or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return reason
    return f"{' -> '.join(map(os.fsdecode, paths))}: {reason}"


def _report(problems: list[str]) -> None:
    """At most MAX_PROBLEMS lines (a hostile file must not print megabytes), each one
    line with its control characters escaped."""
    for line in problems[:MAX_PROBLEMS]:
        print(f"error: {printable(line)}", file=sys.stderr)
    if len(problems) > MAX_PROBLEMS:
        print(f"error: ... and {len(problems) - MAX_PROBLEMS} more problems", file=sys.stderr)


def _broken_pipe() -> int:
    """The reader went away (`... --json | head -1`): stop quietly, as a program killed by
    SIGPIPE would, with its status (Python docs, "Note on SIGPIPE"). stdout is pointed at
    /dev/null so the interpreter's final flush does not complain again."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
        return EXIT_BROKEN_PIPE
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _internal_error() -> int:
    """A bug: the traceback is what a report needs, under a header that says so."""
    print(
        f"internal error (a bug in supercluster, exit {EXIT_INTERNAL}); please report it "
        "with the traceback below:",
        file=sys.stderr,
    )
    traceback.print_exc()
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
