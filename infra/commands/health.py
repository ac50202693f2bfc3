"""`supercluster health`: every node's facts against the design (GPU count and model, each
rail's HCA Active at the fabric's rate, NCCL_IB_HCA), the pins (driver version) and the
acceptance catalogue (inventory/group_vars/all/thresholds.yml: ECC errors, row remap, XIDs,
clock events, power limit, PCIe links, NVLink, fabric manager, the GPUDirect path; with
--benchmarks ib_write_bw, all_reduce_perf and dcgmi diag). Exit 1 when any host fails or
cannot be asked."""

from __future__ import annotations

import argparse

from infra.commands import fleetargs
from infra.commands.conventions import print_json
from infra.errors import InputError
from infra.fleet.catalogue import load as load_catalogue
from infra.fleet.health import Expectation, expectation_for
from infra.fleet.pins import load_pins
from infra.fleet.run import Host, design_hosts, health, limit_hosts, render_summary, timed
from infra.text import printable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("health", help="check every node against the design and the pins")
    fleetargs.add_fanout_args(p)
    p.add_argument(
        "--driver-version",
        default=None,
        help="expected driver (default: nvidia_driver_version in inventory/group_vars/all)",
    )
    p.add_argument(
        "--benchmarks",
        action="store_true",
        help="also run the acceptance benchmarks (ib_write_bw per rail, all_reduce_perf, "
        "dcgmi diag at acceptance_dcgm_diag_level)",
    )
    p.set_defaults(func=cmd_health)


def cmd_health(args: argparse.Namespace) -> int:
    if args.hosts:
        raise InputError(["health: --hosts has no design to check against; use --stack"])
    from infra.commands import load_design

    _, design, _ = load_design(args)
    hosts = limit_hosts(design_hosts(design), args.limit)
    driver = args.driver_version or load_pins(args.project_dir, args.stack).get(
        "nvidia_driver_version"
    )
    if not driver:
        raise InputError(
            ["health: no driver pin: set nvidia_driver_version in inventory/group_vars/all "
             "or pass --driver-version"]
        )  # fmt: skip
    options = fleetargs.ssh_options(args)
    nics: dict[str, list[tuple[int, str]]] = {}
    for nic in design.nics_l3:  # Spectrum-X: the rails are the design's NICs
        nics.setdefault(nic.node, []).append((nic.rail, nic.device))
    catalogue = load_catalogue(args.project_dir, args.stack)
    expectations = {
        h.name: expectation_for(
            h.node,
            driver,
            design.technology,
            tuple(nics.get(h.name, ())) if nics else None,
            catalogue=catalogue,
        )
        for h in hosts
    }

    def expect(host: Host) -> Expectation:
        return expectations[host.name]

    results, summary = timed(
        lambda: health(hosts, options, expect, args.progress, benchmarks=args.benchmarks)
    )
    ok = summary["ok"] == summary["hosts"]
    if args.json:
        print_json("health", args.stack, ok, hosts=results, summary=summary)
    else:
        for r in results:
            if r["status"] != "ok":
                # the detail quotes what the node said: escaped, one line
                print(printable(f"{r['name']:24} {r['address']:15} {r['status']}: {r['detail']}"))
        print(render_summary(summary, results))
    return 0 if ok else 1
