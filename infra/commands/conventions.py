"""Conventions every subcommand shares: the same flag for the same thing (`--json`,
`--concurrency`) and one JSON style.

The one JSON style of every reporting command (`--json`): one object on stdout, keys
sorted, indented by 2, that starts from the same envelope everywhere:

    {"command": "bmc status", "stack": "dev", "ok": true, ...what the command reports}

`ok` is what the exit code says (true exactly when the command exits 0), so a script can
read either. Human text (progress, per-item lines, hints) goes to stderr under --json, so
stdout stays one parseable document."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO


def add_json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object on stdout (command, stack, ok, ...); human text on stderr",
    )


def human(args: argparse.Namespace) -> TextIO:
    """Where a command's human-readable report goes: stdout, or stderr under --json."""
    return sys.stderr if getattr(args, "json", False) else sys.stdout


def print_json(command: str, stack: str | None, ok: bool, /, **body: Any) -> None:
    """The report as one JSON object; the envelope keys win over the body's."""
    document = {**body, "command": command, "stack": stack, "ok": bool(ok)}
    print(json.dumps(document, indent=2, sort_keys=True, default=str))


def add_concurrency_arg(
    p: argparse.ArgumentParser, *, default: int, what: str, old: str | None = None
) -> None:
    """`--concurrency N`: how many hosts or BMCs are in flight at once, the one name for it
    in every command. `old` (`--forks`, `--workers`) is still accepted, hidden from --help,
    for scripts written before the names were made one."""
    p.add_argument(
        "--concurrency", type=int, default=default, metavar="N", help=f"{what} (default {default})"
    )
    if old:
        p.add_argument(
            old, type=int, dest="concurrency", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
