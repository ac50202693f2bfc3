"""`supercluster facts`: what every node says it is (GPUs, driver, HCAs, modules, NCCL
config, OS), gathered over SSH in parallel. Exit 1 when any host could not be asked."""

from __future__ import annotations

import argparse

from infra.commands import fleetargs
from infra.commands.conventions import print_json
from infra.fleet.run import facts_line, gather, render_summary, timed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("facts", help="gather facts from every node over SSH (paramiko)")
    fleetargs.add_fanout_args(p)
    p.set_defaults(func=cmd_facts)


def cmd_facts(args: argparse.Namespace) -> int:
    hosts = fleetargs.hosts(args)
    options = fleetargs.ssh_options(args)
    results, summary = timed(lambda: gather(hosts, options, "facts", args.progress))
    ok = summary["ok"] == summary["hosts"]
    if args.json:
        print_json("facts", args.stack, ok, hosts=results, summary=summary)
    else:
        for result in results:
            print(facts_line(result))
        print(render_summary(summary, results))
    return 0 if ok else 1
