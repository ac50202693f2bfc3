"""`supercluster inventory --stack NAME [--sim]`: write inventory/NAME/ from the design."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from infra.commands import add_stack_args
from infra.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inventory", help="write the Ansible inventory of a stack from its design")
    add_stack_args(p)
    p.add_argument(
        "--sim",
        action="store_true",
        help="for the simulated site: SSH key and known_hosts from the running sim "
        "(<state-dir>/fleet/connection.json), nodes marked not live",
    )
    p.add_argument(
        "--state-dir", type=Path, default=None, help="the sim's state dir (default <project>/.sim)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default <project>/inventory/<stack>; replaced as a whole, its group_vars/ kept",
    )
    p.set_defaults(func=cmd_inventory)


def sim_connection(args: argparse.Namespace) -> dict:
    state = (args.state_dir or args.project_dir / ".sim").resolve()
    path = state / "fleet" / "connection.json"
    if not path.exists():
        raise InputError(
            [f"{path}: no running sim; run `supercluster sim up --stack {args.stack}`"]
        )
    connection = json.loads(path.read_text())
    from infra.sim.mirror import mirror_status

    served = mirror_status(state)
    if served:  # the simulated site's vendor mirror stands in for the site's
        connection["mirror"] = {"url": served["url"], "suite": served["suite"]}
    return connection


def cmd_inventory(args: argparse.Namespace) -> int:
    from infra.catalog import load_catalog
    from infra.commands import load_design
    from infra.nodes import inventory

    _, design, _ = load_design(args)
    connection = sim_connection(args) if args.sim else None
    if connection is not None:
        missing = [n.name for n in design.nodes if n.name not in connection.get("hosts", {})]
        if len(missing) == len(design.nodes):
            raise InputError([f"--sim: the running sim holds none of stack {args.stack}'s nodes"])
    nodes = list(design.nodes)
    if connection is not None:  # only the nodes the sim runs (`sim up --nodes N`)
        nodes = [n for n in nodes if n.name in connection["hosts"]]
    files = inventory.render(
        args.stack, nodes, inventory.models_from_catalog(load_catalog()), connection
    )
    out = args.out or args.project_dir / "inventory" / args.stack
    out = inventory.write(out, files, args.stack, protect=(args.project_dir,))
    groups = len(yaml.safe_load(files["hosts.yml"])["all"]["children"])
    print(f"inventory: {len(nodes)} hosts, {groups} groups -> {out}")
    return 0
