"""`supercluster configure --stack NAME [--check] [--diff] [--limit P] [--tags T]`: run the
node-configuration playbooks through ansible-runner (see infra/nodes/configure.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infra.commands import add_stack_args
from infra.commands.conventions import add_json_arg, human, print_json
from infra.errors import InputError
from infra.progress import Progress, add_progress_arg


def register(sub: argparse._SubParsersAction) -> None:
    from infra.nodes.configure import PLAYBOOKS

    p = sub.add_parser("configure", help="configure nodes with the playbooks (ansible-runner)")
    add_stack_args(p)
    p.add_argument("--check", action="store_true", help="report what would change, change nothing")
    p.add_argument("--diff", action="store_true", help="show file differences")
    p.add_argument("--limit", default=None, help="host pattern, or @file (a retry list)")
    p.add_argument("--tags", default=None, help="only these roles/tags (comma separated)")
    p.add_argument(
        "--playbook", default="site", choices=PLAYBOOKS, help="which playbook (default site)"
    )
    p.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="KEY=VALUE|JSON",
        help="extra variables (repeatable)",
    )
    p.add_argument(
        "--artifacts-dir",
        type=Path,
        default=None,
        help="default <project>/artifacts/configure/<stack>",
    )
    p.add_argument(
        "--controllers",
        default=None,
        metavar="HOST[,HOST...]",
        help="split the run over these controllers by scalable unit (ansible-runner's "
        "worker protocol over SSH; docs/configuration.md)",
    )
    add_json_arg(p)
    add_progress_arg(p)
    p.set_defaults(func=cmd_configure)


def parse_extra_vars(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        if item.lstrip().startswith("{"):
            try:
                out.update(json.loads(item))
            except json.JSONDecodeError as exc:
                raise InputError([f"--extra-vars: bad JSON: {exc}"]) from None
        elif "=" in item:
            key, value = item.split("=", 1)
            out[key.strip()] = value
        else:
            raise InputError([f"--extra-vars: expected KEY=VALUE or JSON, got {item!r}"])
    return out


def cmd_configure(args: argparse.Namespace) -> int:
    from infra.nodes import configure

    if args.controllers is not None:
        return _configure_sharded(args)
    result = configure.run(**_run_args(args))
    base = f"supercluster configure --stack {args.stack}"
    if args.playbook != "site":
        base += f" --playbook {args.playbook}"
    configure.report(result, human(args), lambda f: f"{base} --limit @{f}")
    if args.json:
        print_json("configure", args.stack, result.rc == 0, **_result_json(args, result))
    return 0 if result.rc == 0 else 1


def _run_args(args: argparse.Namespace) -> dict:
    """What a run takes from the command line, direct or split over controllers."""
    project = args.project_dir.resolve()
    return {
        "project_dir": project,
        "inventory_dir": project / "inventory" / args.stack,
        "playbook": args.playbook,
        "check": args.check,
        "diff": args.diff,
        "limit": args.limit,
        "tags": args.tags,
        "extravars": parse_extra_vars(args.extra_vars),
        "artifacts_dir": args.artifacts_dir or project / "artifacts" / "configure" / args.stack,
        "out": human(args),
        "progress": Progress("configure", asked=args.progress),
    }


def _result_json(args: argparse.Namespace, result) -> dict:
    """What the run did, per host and in all: the figures of its summary.json."""
    return {
        "playbook": args.playbook,
        "check": args.check,
        **result.summary(),
        "retry_file": str(result.retry_file) if result.retry_file else None,
        "artifacts": str(result.artifacts),
    }


def _configure_sharded(args: argparse.Namespace) -> int:
    """The same run split over --controllers (infra/nodes/shards.py)."""
    from infra.nodes import shards
    from infra.sim import site

    project = args.project_dir.resolve()
    conn = site.connection_file(site.state_dir(project))
    sim = json.loads(conn.read_text()) if conn.is_file() else None
    controllers = shards.controllers_from(args.controllers.split(","), sim)
    sharded = shards.run(controllers=controllers, **_run_args(args))
    base = f"supercluster configure --stack {args.stack} --controllers {args.controllers}"
    if args.playbook != "site":
        base += f" --playbook {args.playbook}"
    shards.report(sharded, human(args), lambda f: f"{base} --limit @{f}")
    if args.json:
        result = sharded.result
        print_json(
            "configure",
            args.stack,
            result.rc == 0,
            **{**_result_json(args, result), **sharded.summary()},
        )
    return 0 if sharded.result.rc == 0 else 1
