"""Options `facts` and `health` share: which hosts, how to log in, how patient to be."""

from __future__ import annotations

import argparse
from pathlib import Path

from infra.commands import add_sim_args, add_stack_args
from infra.commands.conventions import add_concurrency_arg, add_json_arg
from infra.errors import InputError
from infra.fleet.run import Host, design_hosts, file_hosts, limit_hosts
from infra.fleet.ssh import SshOptions
from infra.progress import add_progress_arg


def add_fanout_args(p: argparse.ArgumentParser) -> None:
    add_stack_args(p)
    p.add_argument("--limit", default=None, help="globs on node, rack, SU or hall; !glob excludes")
    add_json_arg(p)
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
    add_concurrency_arg(p, default=128, what="hosts in flight at once", old="--forks")
    add_sim_args(p, "log in to the simulated site's nodes with its key and known_hosts")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds per host")
    p.add_argument("--command-timeout", type=float, default=60.0, help="seconds per host")
    add_progress_arg(p)


def sim_connection(args: argparse.Namespace) -> dict:
    """The simulated site's SSH settings with --sim (or the record of `sim up` for this
    stack), else {}: the state dir's mere presence never decides it."""
    from infra.commands import sim_site
    from infra.sim.site import read_connection

    found = sim_site(args)
    return read_connection(found.state_dir, args.stack) if found else {}


def ssh_options(args: argparse.Namespace) -> SshOptions:
    """Login settings: the flags, else the simulated site's (--sim, or recorded by `sim up`
    for this stack), else the user's ~/.ssh/id_ed25519 and ~/.ssh/known_hosts."""
    sim = sim_connection(args)
    home = Path.home() / ".ssh"
    key = args.key or Path(sim.get("private_key", home / "id_ed25519"))
    known = args.known_hosts or Path(sim.get("known_hosts", home / "known_hosts"))
    problems = []
    if not key.exists():
        problems.append(f"--key: {key} does not exist")
    if args.concurrency < 1:
        problems.append("--concurrency: at least 1")
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
        concurrency=args.concurrency,
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
