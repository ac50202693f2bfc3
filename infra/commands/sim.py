"""`supercluster sim up | down | status`: the simulated site's nodes (real sshd per design
node on its management address) with hardware fixtures, under a state dir (default .sim/).
The BMC emulator (infra.sim.bmc) joins the same state dir under bmc/."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from infra.commands import add_stack_args
from infra.commands.conventions import add_json_arg, human, print_json
from infra.errors import EnvironmentProblem, InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="the simulated site: up, down, status")
    actions = p.add_subparsers(dest="sim_action", required=True, metavar="ACTION")

    up = actions.add_parser("up", help="start one sshd node per design node")
    add_stack_args(up)
    _add_state_dir(up)
    up.add_argument("--nodes", type=int, default=None, help="only the first N design nodes")
    up.add_argument(
        "--no-hardware",
        action="store_true",
        help="plain hosts: no nvidia-smi/ibstat fixtures (hardware fixtures are for tests "
        "and the demo only)",
    )
    up.add_argument(
        "--controllers",
        type=int,
        default=0,
        metavar="N",
        help="also start N controller hosts ctl1..ctlN (plain hosts running the project's "
        "venv) on the management addresses after the nodes', for `configure --controllers`",
    )
    up.add_argument(
        "--live",
        action="store_true",
        help="nodes that boot systemd (systemd-nspawn over a shared Debian 12 root, built "
        "once per machine): the roles start units, run handlers and reboot for real",
    )
    add_json_arg(up)
    up.set_defaults(func=cmd_up)

    down = actions.add_parser("down", help="stop every node; leaves no process, mount or file")
    add_stack_args(down)
    _add_state_dir(down)
    down.set_defaults(func=cmd_down)

    status = actions.add_parser("status", help="which nodes run and answer SSH")
    add_stack_args(status)
    _add_state_dir(status)
    add_json_arg(status)
    status.set_defaults(func=cmd_status)


def _add_state_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir", type=Path, default=None, help="where the site lives (default <project>/.sim)"
    )


def state_dir(args: argparse.Namespace) -> Path:
    from infra.sim import site

    return site.state_dir(args.project_dir, args.state_dir)


def fleet_for(args: argparse.Namespace, live: bool | None = None):
    """The site's fleet: live nodes when asked (`up --live`) or when the running fleet's
    connection.json says so (status, down)."""
    import json

    from infra.sim.fleet import Fleet
    from infra.sim.live import LiveFleet

    path = state_dir(args) / "fleet"
    if live is None:
        connection = path / "connection.json"
        live = connection.exists() and bool(json.loads(connection.read_text()).get("live"))
    return LiveFleet(path) if live else Fleet(path)


def cmd_up(args: argparse.Namespace) -> int:
    from infra.commands import load_design
    from infra.sim.fleet import FleetError, venv_python_dirs

    spec, design, _ = load_design(args)
    nodes = list(design.nodes)
    if args.nodes is not None:
        if not 1 <= args.nodes <= len(nodes):
            raise InputError([f"--nodes: between 1 and {len(nodes)} for stack {args.stack}"])
        nodes = nodes[: args.nodes]
    hardware = None if args.no_hardware else _design_hardware(args, nodes)
    controllers = _controller_hosts(args, spec, design)
    if args.live and controllers:
        raise InputError(["--controllers: not with --live (controllers run the host's venv)"])
    fleet = fleet_for(args, live=args.live)
    started = time.monotonic()
    try:
        statuses = fleet.up(
            [(n.name, n.mgmt_ip) for n in nodes] + controllers,
            hardware,
            shared=venv_python_dirs() if controllers else (),
        )
    except FleetError as exc:
        if isinstance(exc, EnvironmentProblem):  # root, tools, a busy address: exit 3
            raise
        raise InputError([f"sim up: {exc}"]) from exc
    out = human(args)
    kind = "live nodes (systemd)" if args.live else "nodes"
    print(
        f"sim: {len(statuses)} {kind} answering SSH in {time.monotonic() - started:.1f}s "
        f"({nodes[0].mgmt_ip} .. {nodes[-1].mgmt_ip})",
        file=out,
    )
    print(f"sim: connection info for Ansible and paramiko: {fleet.connection}", file=out)
    from infra.sim import bmc  # the nodes' BMCs: one sushy-emulator system per node

    try:
        emulator = bmc.start_emulator(nodes, state_dir(args))
    except (RuntimeError, OSError) as exc:  # it crashed, or its address is taken: exit 3
        raise EnvironmentProblem(f"sim up: BMC emulator: {exc}") from exc
    print(f"sim: {len(emulator.systems)} BMCs (Redfish) at {emulator.url}", file=out)
    from infra.sim import mirror  # the site's vendor package mirror (stand-in packages)

    try:
        served = mirror.start_mirror(state_dir(args))
    except (RuntimeError, OSError) as exc:
        raise EnvironmentProblem(f"sim up: vendor mirror: {exc}") from exc
    print(f"sim: vendor package mirror at {served['url']}", file=out)
    from infra.sim import site  # from now on, commands on this stack use this site (and say so)

    record = site.record(state_dir(args), args.stack)
    print(f"sim: stack {args.stack} runs here ({record}; `sim down` removes it)", file=out)
    if args.json:
        print_json(
            "sim up",
            args.stack,
            True,
            nodes=[s.__dict__ for s in statuses],
            connection=str(fleet.connection),
            live=args.live,
            bmc_url=emulator.url,
            mirror_url=served["url"],
        )
    return 0


def _controller_hosts(args: argparse.Namespace, spec, design) -> list[tuple[str, str]]:
    """(name, address) of the controllers asked for: the management addresses after the
    design's nodes and subnet manager hosts (which take the ones right after the nodes)."""
    from infra.design.layout import address_plan

    if not 0 <= args.controllers <= 64:
        raise InputError(["--controllers: between 0 and 64"])
    if not args.controllers:
        return []
    taken = len(design.nodes) + len(design.sm_hosts)
    mgmt, _ = address_plan(spec, taken + args.controllers)
    return [(f"ctl{i + 1}", mgmt[taken + i]) for i in range(args.controllers)]


def _design_hardware(args: argparse.Namespace, nodes: list) -> dict:
    """A healthy node of each design node's catalog model, at the pinned driver."""
    from infra.catalog import load_catalog
    from infra.fleet.pins import load_pins
    from infra.sim.hardware import Hardware

    catalog = load_catalog()
    pins = load_pins(args.project_dir, args.stack)
    extra = {}
    if "nvidia_driver_version" in pins:
        extra["driver_version"] = pins["nvidia_driver_version"]
    return {
        n.name: Hardware(
            gpus=catalog.nodes[n.model].gpus, rails=catalog.nodes[n.model].rails, **extra
        )
        for n in nodes
    }


def cmd_down(args: argparse.Namespace) -> int:
    fleet = fleet_for(args)
    count = len(fleet.nodes())
    fleet.down()
    from infra.sim import bmc

    bmc.destroy_emulator(state_dir(args))
    from infra.sim import mirror

    mirror.stop_mirror(state_dir(args))
    from infra.deploy import simdeploy  # the Pulumi workspace of `up --sim`: its BMCs are gone

    simdeploy.remove(state_dir(args))
    from infra.sim import site  # no stack runs on the simulated site any more

    site.forget(state_dir(args))
    with contextlib.suppress(OSError):  # the state dir itself, once nothing else is in it
        state_dir(args).rmdir()
    print(f"sim: {count} nodes stopped; nothing left under {fleet.state_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    fleet = fleet_for(args)
    statuses = fleet.status()
    if not args.json:  # under --json, one document at the end, with the BMCs
        _print_nodes(statuses)
    from infra.sim import bmc

    bmcs = bmc.emulator_status(state_dir(args))
    if not args.json:
        print(
            f"bmc: {bmcs['systems']} systems at {bmcs['url']}" if bmcs["running"] else "bmc: down"
        )
    healthy = all(s.running and s.ssh for s in statuses)
    if statuses and not healthy:
        print("sim: some nodes are not answering", file=sys.stderr)
    if args.json:
        nodes = [s.__dict__ for s in statuses]
        print_json("sim status", args.stack, healthy, nodes=nodes, bmc=bmcs)
    return 0 if healthy else 1


def _print_nodes(statuses: list) -> None:
    if not statuses:
        print("sim: no nodes up")
    for s in statuses:
        state = "up" if s.running and s.ssh else ("running, no ssh" if s.running else "down")
        print(f"{s.name:24} {s.ip:15} {state}")
