"""`supercluster bmc status`: every node's BMC, read over Redfish concurrently: power
state, boot override and BIOS drift against the node profile.

It talks to the simulated site's sushy-emulator with `--sim` (or when `supercluster sim up`
recorded this stack: said on stderr), else to the real BMC endpoints (https://<bmc_ip>).
Exit 0 when every BMC answered and matches its profile, 1 when any drifted or failed, 2 on
bad input.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from infra.commands import add_sim_args, add_stack_args
from infra.commands.conventions import add_concurrency_arg, add_json_arg, print_json
from infra.deploy.providers import bmc_targets
from infra.deploy.providers import redfish_ops as ops
from infra.errors import EnvironmentProblem, InputError
from infra.progress import Progress, add_progress_arg
from infra.sim import bmc as sim_bmc
from infra.text import printable


def register(sub: argparse._SubParsersAction) -> None:
    bmc = sub.add_parser("bmc", help="node BMCs over Redfish")
    bmc_sub = bmc.add_subparsers(dest="bmc_command", required=True, metavar="ACTION")
    p = bmc_sub.add_parser("status", help="power, boot override and BIOS drift per node")
    add_stack_args(p)
    add_json_arg(p)
    add_sim_args(p, "the simulated site's BMCs (`sim up` first)")
    p.add_argument(
        "--ca-bundle",
        default=os.environ.get("SUPERCLUSTER_BMC_CA_BUNDLE"),
        help="PEM CA bundle of the site's BMC certificates (env SUPERCLUSTER_BMC_CA_BUNDLE)",
    )
    p.add_argument(
        "--no-verify-tls", action="store_true", help="do not verify BMC certificates (unsafe)"
    )
    add_concurrency_arg(p, default=32, what="BMC sessions at once", old="--workers")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument("--attempts", type=int, default=4, help="tries per request (backoff)")
    add_progress_arg(p)
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from infra.commands import load_design

    if args.concurrency < 1 or args.attempts < 1 or args.timeout <= 0:
        raise InputError(["--concurrency, --attempts and --timeout must be positive"])
    _, design, _ = load_design(args)  # a hall stack: that hall's nodes
    emulator, state_dir = _emulator(args)
    sim = None
    nodes = list(design.nodes)
    if emulator is not None:
        sim = {"url": emulator.url, "systems": emulator.systems}
        # `sim up --nodes N` simulates the first N nodes only: report those.
        nodes = [n for n in nodes if n.bmc_ip in emulator.systems]
        if not nodes:  # else "0 BMCs, 0 in profile" would pass as success
            raise InputError(
                [f"the simulated BMCs under {state_dir} hold none of stack {args.stack}'s "
                 f"nodes: run `supercluster sim up --stack {args.stack}`"]
            )  # fmt: skip
    try:
        endpoints = [bmc_targets.endpoint(n, sim) for n in nodes]
    except KeyError as exc:
        raise InputError([f"{exc.args[0]}; run `supercluster sim up` again"]) from None
    wants = {n.name: bmc_targets.profile(n) for n in nodes}
    creds = _credentials(state_dir if emulator else None)
    conn = ops.Connection(
        verify_tls=not args.no_verify_tls,
        ca_bundle=emulator.ca_bundle if emulator and not args.ca_bundle else args.ca_bundle,
        timeout_s=args.timeout,
        attempts=args.attempts,
    )
    started = time.monotonic()
    bar = Progress("bmc status", asked=args.progress)
    rows = ops.status(endpoints, wants, creds, conn, workers=args.concurrency, progress=bar.update)
    bar.close()
    wall_s = time.monotonic() - started
    report = _report(args.stack, "simulated" if emulator else "site", rows, wall_s)
    ok = report["summary"]["in_profile"] == len(rows)
    if args.json:
        print_json("bmc status", args.stack, ok, **report)
    else:
        print(render(report))
    return 0 if ok else 1


def _emulator(args: argparse.Namespace):
    """(the simulated BMCs, their state dir), or (None, None) for the site's real BMCs."""
    from infra.commands import sim_site

    found = sim_site(args)
    if found is None:
        return None, None
    emulator = sim_bmc.load_emulator(found.state_dir)
    if emulator is None:  # not started, or crashed: a service missing (exit 3)
        raise EnvironmentProblem(
            f"--sim: no simulated BMCs running under {found.state_dir}: run "
            f"`supercluster sim up --stack {args.stack}` first"
        )
    return emulator, found.state_dir


def _credentials(sim_state_dir: Path | None) -> ops.Credentials:
    if sim_state_dir is not None:  # the simulated BMCs' own credentials
        return ops.Credentials(*sim_bmc.sim_credentials(sim_state_dir))
    username = os.environ.get("SUPERCLUSTER_BMC_USERNAME")
    password = os.environ.get("SUPERCLUSTER_BMC_PASSWORD")
    if username and password:
        return ops.Credentials(username, password)
    raise InputError(
        [
            "BMC credentials: set SUPERCLUSTER_BMC_USERNAME and SUPERCLUSTER_BMC_PASSWORD "
            "(no simulated site is up for this stack)"
        ]
    )


def _report(stack: str, source: str, rows: list[dict[str, Any]], wall_s: float) -> dict:
    failed = sum(1 for r in rows if "error" in r)
    drifted = sum(1 for r in rows if r.get("drift"))
    return {
        "stack": stack,
        "source": source,
        "nodes": rows,
        "summary": {
            "nodes": len(rows),
            "in_profile": len(rows) - failed - drifted,
            "drifted": drifted,
            "failed": failed,
            "wall_s": round(wall_s, 3),
        },
    }


def render(report: dict) -> str:
    lines = [f"{'NODE':<18} {'BMC':<15} {'POWER':<6} {'BOOT':<16} DRIFT"]
    for row in report["nodes"]:  # values and errors come from the BMC: escaped, one line each
        lines.append(printable(_row_line(row)))
    s = report["summary"]
    lines.append(
        f"{report['stack']} ({report['source']}): {s['nodes']} BMCs, {s['in_profile']} in "
        f"profile, {s['drifted']} drifted, {s['failed']} failed, {s['wall_s']:.2f}s"
    )
    return "\n".join(lines)


def _row_line(row: dict) -> str:
    if "error" in row:
        return f"{row['node']:<18} {row['address']:<15} {'?':<6} {'?':<16} {row['error']}"
    boot = f"{row['boot_target']}/{row['boot_mode']}"
    drift = ", ".join(f"{k}={v[1]} (want {v[0]})" for k, v in row["drift"].items()) or "-"
    return f"{row['node']:<18} {row['address']:<15} {row['power']:<6} {boot:<16} {drift}"
