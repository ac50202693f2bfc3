"""`supercluster inventory --stack NAME [--sim]`: write inventory/NAME/ from the design."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from infra.commands import add_sim_args, add_stack_args
from infra.commands.conventions import add_json_arg, print_json
from infra.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inventory", help="write the Ansible inventory of a stack from its design")
    add_stack_args(p)
    add_sim_args(
        p,
        "for the simulated site: SSH key and known_hosts from the running sim "
        "(<state-dir>/fleet/connection.json), its nodes only, marked not live",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default <project>/inventory/<stack>; replaced as a whole, its group_vars/ kept",
    )
    add_json_arg(p)
    p.set_defaults(func=cmd_inventory)


def sim_connection(args: argparse.Namespace) -> dict | None:
    """The simulated site's connection (with its vendor mirror) with --sim or the record of
    `sim up` for this stack; None for the real site."""
    from infra.commands import sim_site
    from infra.sim.mirror import mirror_status
    from infra.sim.site import read_connection

    found = sim_site(args)
    if found is None:
        return None
    state = found.state_dir
    connection = read_connection(state, args.stack)

    served = mirror_status(state)
    if served:  # the simulated site's vendor mirror stands in for the site's
        connection["mirror"] = {"url": served["url"], "suite": served["suite"]}
    return connection


def cmd_inventory(args: argparse.Namespace) -> int:
    from infra.catalog import load_catalog
    from infra.commands import load_design
    from infra.nodes import inventory

    _, design, _ = load_design(args)
    connection = sim_connection(args)
    if connection is not None:
        missing = [n.name for n in design.nodes if n.name not in connection.get("hosts", {})]
        if len(missing) == len(design.nodes):
            raise InputError([f"--sim: the running sim holds none of stack {args.stack}'s nodes"])
    nodes = list(design.nodes)
    if connection is not None:  # only the nodes the sim runs (`sim up --nodes N`)
        nodes = [n for n in nodes if n.name in connection["hosts"]]
    files = inventory.render(
        args.stack,
        nodes,
        inventory.models_from_catalog(load_catalog()),
        connection,
        # The project's shared group_vars (the checkout's, or --project-dir's), carried in.
        defaults=inventory.shared_defaults(args.project_dir),
        # The simulated site runs no SM hosts (ibsim stands in for the fabric).
        sm_hosts=design.sm_hosts if connection is None else (),
        # Spectrum-X: each node's rails (addresses, gateways) and the switches group.
        design=design,
    )
    out = args.out or args.project_dir / "inventory" / args.stack
    out = inventory.write(out, files, args.stack, protect=(args.project_dir,))
    groups = len(yaml.safe_load(files["hosts.yml"])["all"]["children"])
    if args.json:
        print_json("inventory", args.stack, True, out=str(out), hosts=len(nodes), groups=groups)
    else:
        print(f"inventory: {len(nodes)} hosts, {groups} groups -> {out}")
    return 0
