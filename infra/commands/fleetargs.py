"""Options `facts` and `health` share: which hosts, how to log in, how patient to be."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infra.commands import add_stack_args
from infra.errors import InputError
from infra.fleet.run import Host, design_hosts, file_hosts, limit_hosts
from infra.fleet.ssh import SshOptions


def add_fanout_args(p: argparse.ArgumentParser) -> None:
    add_stack_args(p)
    p.add_argument("--limit", default=None, help="globs on node, rack, SU or hall; !glob excludes")
    p.add_argument("--json", action="store_true", help="JSON per host and the summary on stdout")
    p.add_argument(
        "--hosts",
        type=Path,
        default=None,
        help="take hosts from this file (a sim connection.json or `name address` lines) "
        "instead of the stack's design",
    )
    p.add_argument("--user", default=None, help="SSH user (default root)")
    p.add_argument("--key", type=Path, default=None, help="private key (default: see docs)")
    p.add_argument("--known-hosts", type=Path, default=None, help="known_hosts to verify against")
    p.add_argument(
        "--accept-new",
        action="store_true",
        help="trust and record unknown host keys (a changed key is always refused)",
    )
    p.add_argument("--forks", type=int, default=128, help="hosts in flight at once")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds per host")
    p.add_argument("--command-timeout", type=float, default=60.0, help="seconds per host")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def sim_connection(args: argparse.Namespace) -> dict:
    path = args.project_dir / ".sim" / "fleet" / "connection.json"
    return json.loads(path.read_text()) if path.exists() else {}


def ssh_options(args: argparse.Namespace) -> SshOptions:
    """Login settings: the flags, else the simulated site's (when `sim up` ran in this
    project), else the user's ~/.ssh/id_ed25519 and ~/.ssh/known_hosts."""
    sim = sim_connection(args)
    home = Path.home() / ".ssh"
    key = args.key or Path(sim.get("private_key", home / "id_ed25519"))
    known = args.known_hosts or Path(sim.get("known_hosts", home / "known_hosts"))
    problems = []
    if not key.exists():
        problems.append(f"--key: {key} does not exist")
    if args.forks < 1:
        problems.append("--forks: at least 1")
    if args.connect_timeout <= 0 or args.command_timeout <= 0:
        problems.append("--connect-timeout/--command-timeout: must be positive")
    if problems:
        raise InputError(problems)
    return SshOptions(
        key_path=key,
        known_hosts=known,
        user=args.user or sim.get("user", "root"),
        connect_timeout_s=args.connect_timeout,
        command_timeout_s=args.command_timeout,
        concurrency=args.forks,
        accept_new=args.accept_new,
    )


def hosts(args: argparse.Namespace) -> list[Host]:
    if args.hosts:
        found = file_hosts(args.hosts)
    else:
        from infra.commands import load_design

        _, design, _ = load_design(args)
        found = design_hosts(design)
    return limit_hosts(found, args.limit)
