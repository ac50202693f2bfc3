"""`supercluster fabric simulate | validate | render`, by the stack's fabric technology.
InfiniBand: the planes brought up under ibsim/OpenSM, ibnetdiscover output checked against
the design, the OpenSM configuration of every subnet (plane). Spectrum-X: the routed
fabric brought up in network namespaces under FRR and lldpd (infra/sim/ethfabric.py),
`lldpcli -f json show neighbors` output checked against the design, the NVUE
configuration of every switch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.commands import add_stack_args
from infra.commands.conventions import add_json_arg, print_json
from infra.errors import EnvironmentProblem, InputError
from infra.fsutil import write_output_dir
from infra.text import printable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fabric", help="the fabric (InfiniBand or Spectrum-X): simulate, validate cabling, render"
    )
    fsub = p.add_subparsers(dest="fabric_command", required=True, metavar="ACTION")

    s = fsub.add_parser(
        "simulate",
        help="InfiniBand: planes under ibsim + OpenSM (ftree,updn); Spectrum-X: the routed "
        "fabric in network namespaces under FRR (BGP unnumbered) and lldpd",
    )
    add_stack_args(s)
    s.add_argument("--plane", action="append", help="plane to simulate (default: all)")
    s.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[@TIER]:COUNT",
        help="inject faults: swap:N, down:N, speed:N, cross:N (Spectrum-X: swap and down); "
        "KIND@TIER takes the cables of one tier, e.g. down@spine_core:1, down@leaf_spine:1, "
        "swap@node_leaf:1 (repeatable)",
    )
    s.add_argument("--seed", type=int, default=0, help="fault injection seed")
    s.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per tool run (InfiniBand, default 300); seconds to converge "
        "(Spectrum-X, default 90)",
    )
    s.add_argument(
        "--down-links",
        type=int,
        default=1,
        metavar="N",
        help="Spectrum-X: take N leaf uplinks down after convergence and time the reroute "
        "(0: none; default 1)",
    )
    s.add_argument(
        "--nodes",
        type=int,
        default=None,
        metavar="N",
        help="Spectrum-X: simulate the first N nodes only (their NICs cabled, the rest dark)",
    )
    s.add_argument("--keep", type=Path, help="copy the run's files (logs, topology) here")
    s.add_argument(
        "--failover",
        action="store_true",
        help="run the master and a standby SM, kill the master, report the takeover time",
    )
    add_json_arg(s)
    s.set_defaults(func=cmd_simulate)

    v = fsub.add_parser(
        "validate", help="compare ibnetdiscover (InfiniBand) or LLDP (Spectrum-X) with the design"
    )
    add_stack_args(v)
    found = v.add_mutually_exclusive_group(required=True)
    found.add_argument("--discovered", type=Path, help="ibnetdiscover output (InfiniBand)")
    found.add_argument(
        "--lldp",
        type=Path,
        metavar="FILE|DIR",
        help="`lldpcli -f json show neighbors` output (Spectrum-X): <device>.json, a "
        "directory of them, or one {device: output} file",
    )
    v.add_argument("--plane", action="append", help="planes to check (default: those seen)")
    v.add_argument("--rate", default=None, help="expected link rate (default 4xNDR)")
    v.add_argument(
        "--name-map",
        type=Path,
        help="`hostname design-name` lines: switches (MF0;<hostname>:...) and hosts renamed",
    )
    v.add_argument(
        "--guid-map",
        type=Path,
        help='node GUID -> design name: `0x<guid> "name"` (render\'s node-name-map) or '
        "`guid,name` lines; how unmanaged switches are known",
    )
    add_json_arg(v)
    v.set_defaults(func=cmd_validate)

    r = fsub.add_parser(
        "render", help="write OpenSM configuration per plane, or NVUE configuration per switch"
    )
    add_stack_args(r)
    r.add_argument("--plane", action="append", help="plane to render (default: all)")
    r.add_argument("--out", type=Path, help="directory (default artifacts/fabric/<stack>)")
    r.add_argument(
        "--guids-from",
        type=Path,
        help="ibnetdiscover output of the real fabric: use its GUIDs, matched by name",
    )
    add_json_arg(r)
    r.set_defaults(func=cmd_render)


def _design(args: argparse.Namespace):
    """The site's design: the planes are site-wide, a hall stack is refused (exit 2)."""
    from infra.commands import site_design

    return site_design(args, f"fabric {args.fabric_command}")


def _planes(design, wanted: list[str] | None) -> list[str]:
    names = [p.name for p in design.planes]
    if not wanted:
        return names
    unknown = [p for p in wanted if p not in names]
    if unknown:
        raise InputError(
            [f"--plane {p}: not in the design (planes: {', '.join(names)})" for p in unknown]
        )
    return wanted


def cmd_simulate(args: argparse.Namespace) -> int:
    from infra.fabric.faults import parse_fault_args
    from infra.fabric.sim import SimError, simulate_plane

    faults = parse_fault_args(args.fault)
    design = _design(args)
    if design.technology == "spectrum_x":
        return _simulate_ethernet(args, design, faults)
    if args.failover:
        if faults:
            raise InputError(["--failover runs the designed plane: give no --fault with it"])
        return _simulate_failover(args, design)
    results = []
    for plane in _planes(design, args.plane):
        keep = args.keep / plane if args.keep else None
        try:
            timeout = 300.0 if args.timeout is None else args.timeout
            res = simulate_plane(design, plane, faults, args.seed, timeout, keep)
        except SimError as exc:
            if isinstance(exc, EnvironmentProblem):  # a missing tool is exit 3, not a finding
                raise
            print(f"{plane}: simulation failed: {exc}", file=sys.stderr)
            return 1
        results.append(res)
        if not args.json:
            _print_sim(res)
    ok = all(r.ok for r in results)
    if args.json:
        print_json("fabric simulate", args.stack, ok, planes=[_sim_json(r) for r in results])
    return 0 if ok else 1


def _simulate_failover(args: argparse.Namespace, design) -> int:
    from infra.fabric.sim import SimError, failover_plane

    results = []
    for plane in _planes(design, args.plane):
        keep = args.keep / plane if args.keep else None
        try:
            timeout = 300.0 if args.timeout is None else args.timeout
            r = failover_plane(design, plane, timeout, keep_dir=keep)
        except SimError as exc:
            if isinstance(exc, EnvironmentProblem):
                raise
            print(f"{plane}: failover simulation failed: {exc}", file=sys.stderr)
            return 1
        results.append(r)
        if not args.json:
            took = "none" if r.takeover_s is None else f"{r.takeover_s:.2f} s"
            print(
                f"{plane}: {'OK' if r.ok else 'FAILED'}: master {r.master} "
                f"({r.master_guid}) killed, standby {r.standby} ({r.standby_guid}) took "
                f"over in {took}; sminfo master before {r.sminfo_before or 'none'}, after "
                f"{r.sminfo_after or 'none'}; subnet up again "
                f"{'yes' if r.subnet_up_after else 'NO'} ({r.routing_engine_after or 'none'}, "
                f"resweep {r.resweep_s} s), {r.hcas_seen_after}/{r.hcas_designed} HCAs seen, "
                f"{len(r.findings)} cabling finding(s)"
            )
    ok = all(r.ok for r in results)
    if args.json:
        print_json(
            "fabric simulate",
            args.stack,
            ok,
            failover=[
                {
                    "plane": r.plane,
                    "ok": r.ok,
                    "master": r.master,
                    "master_guid": r.master_guid,
                    "standby": r.standby,
                    "standby_guid": r.standby_guid,
                    "sminfo_master_before": r.sminfo_before,
                    "sminfo_master_after": r.sminfo_after,
                    "takeover_s": r.takeover_s,
                    "resweep_s": r.resweep_s,
                    "subnet_up_after": r.subnet_up_after,
                    "routing_engine_after": r.routing_engine_after,
                    "hcas_seen_after": r.hcas_seen_after,
                    "hcas_designed": r.hcas_designed,
                    "findings": [f.to_json() for f in r.findings],
                }
                for r in results
            ],
        )
    return 0 if ok else 1


def _simulate_ethernet(args: argparse.Namespace, design, faults: dict[str, int]) -> int:
    from infra.sim.ethfabric import EthSimError, simulate_fabric

    if args.failover:
        raise InputError(["--failover: a Spectrum-X fabric has no subnet manager to fail over"])
    if args.plane:
        raise InputError(["--plane: a Spectrum-X fabric is one routed plane; give no --plane"])
    if args.down_links < 0:
        raise InputError([f"--down-links {args.down_links}: 0 or more"])
    try:
        r = simulate_fabric(
            design,
            faults,
            seed=args.seed,
            timeout_s=90.0 if args.timeout is None else args.timeout,
            down_links=args.down_links,
            nodes=args.nodes,
            keep_dir=args.keep,
        )
    except EthSimError as exc:
        if isinstance(exc, EnvironmentProblem):
            raise
        print(f"{design.stack}: simulation failed: {printable(str(exc))}", file=sys.stderr)
        return 1
    if args.json:
        print_json("fabric simulate", args.stack, r.ok, technology="spectrum_x", **_eth_json(r))
    else:
        _print_eth(r)
    return 0 if r.ok else 1


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _print_eth(r) -> None:
    print(
        f"{r.stack}: {r.switches} switches, {r.nodes} nodes, {r.nics} NICs cabled; BGP "
        f"{r.sessions_up}/{r.sessions_designed} sessions Established in "
        f"{_secs(r.bgp_converged_s)}; routes {r.routes_ok}/{r.routes_checked} at the "
        f"designed ECMP width in {_secs(r.routes_converged_s)} (leaf -> remote NIC: "
        f"{', '.join(sorted({str(w) for w in r.designed_width.values()})) or 'none'} paths)"
    )
    for line in r.route_problems[:10]:
        print(f"  route: {printable(line)}")
    if r.ping is not None:
        print(f"  data plane: ping across the spines {'ok' if r.ping else 'FAILED'}")
    if r.reroute:
        rr = r.reroute
        changed = {k: (rr.widths_before[k], v) for k, v in rr.widths_after.items()
                   if rr.widths_before.get(k) != v}  # fmt: skip
        widths = ", ".join(f"{k} {a} -> {b} paths" for k, (a, b) in changed.items())
        took = "in " + _secs(rr.seconds) if rr.ok else "NOT within the timeout"
        ping = "" if rr.ping_after is None else f", ping {'ok' if rr.ping_after else 'FAILED'}"
        print(
            f"  link down: {printable(rr.link)}: rerouted {took} "
            f"({widths or 'no width change'}){ping}"
        )
    if r.faults:
        print(
            f"  injected {len(r.faults)} fault(s); LLDP validation found {len(r.findings)}: "
            f"{'exactly the injected ones' if r.faults_found else 'MISMATCH'}"
        )
    elif r.findings:
        print(f"  LLDP validation: {len(r.findings)} finding(s)")
    for f in r.findings:
        print(f"  {printable(f.summary)}")
        for place in f.places:
            print(f"     at {printable(place)}")
    for e in r.errors:
        print(f"  error: {printable(e)}")
    print(f"  wall {r.wall_s:.1f} s (namespaces and cables {r.setup_s:.1f} s)")


def _eth_json(r) -> dict:
    return {
        "switches": r.switches,
        "nodes": r.nodes,
        "nics": r.nics,
        "sessions_designed": r.sessions_designed,
        "sessions_up": r.sessions_up,
        "bgp_converged_s": r.bgp_converged_s,
        "routes_converged_s": r.routes_converged_s,
        "routes_checked": r.routes_checked,
        "routes_ok": r.routes_ok,
        "route_problems": r.route_problems,
        "designed_width": r.designed_width,
        "ping": r.ping,
        "reroute": None
        if r.reroute is None
        else {
            "link": r.reroute.link,
            "seconds": r.reroute.seconds,
            "ok": r.reroute.ok,
            "widths_before": r.reroute.widths_before,
            "widths_after": r.reroute.widths_after,
            "ping_after": r.reroute.ping_after,
        },
        "faults": _faults_json(r.faults),
        "faults_found": r.faults_found,
        "findings": [f.to_json() for f in r.findings],
        "lldp_neighbors": r.lldp_neighbors,
        "setup_s": r.setup_s,
        "wall_s": r.wall_s,
        "errors": r.errors,
    }


def _print_sim(r) -> None:
    engine = r.routing_engine or "none"
    if r.ftree:
        verdict = "ftree"
    elif r.fell_back:
        verdict = f"{engine} (fallback: ftree could not route this fabric)"
    else:
        verdict = f"FAILED: {engine} (ftree or updn required; others are not deadlock-free)"
    sweep = f"{r.sweep_s:.3f} s" if r.sweep_s is not None else "n/a"
    print(
        f"{r.plane}: subnet {'UP' if r.subnet_up else 'NOT UP'}, routing {verdict}, "
        f"sweep {sweep} (opensm {r.opensm_wall_s:.2f} s wall), "
        f"switches {r.switches_seen}/{r.switches_designed}, HCAs {r.hcas_seen}/{r.hcas_designed}"
    )
    if r.fell_back:
        print(f"  warning: {r.plane} routed by {engine}, not ftree: deadlock-free, but not the "
              "fat tree's balanced routes; the opensm errors say why")  # fmt: skip
    for line in r.opensm_errors[:5]:
        print(f"  opensm: {printable(line)}")
    _print_pkeys(r)
    if r.faults:
        print(
            f"  injected {len(r.faults)} fault(s); validation found {len(r.findings)}: "
            f"{'exactly the injected ones' if r.faults_found else 'MISMATCH'}"
        )
    for f in r.findings:
        print(f"  {printable(f.summary)}")


def _print_pkeys(r) -> None:
    """P_Key membership read back per compute HCA: a summary, then each HCA that fails."""
    reached = [p for p in r.pkeys if p.lid is not None]
    full = [p for p in reached if p.ok]
    index = r.pkeys[0].index if r.pkeys else 0
    pkeys = sorted({f"0x{p.pkey:04x}" for p in full if p.pkey is not None})
    print(
        f"  P_Key index {index} (NCCL, IPoIB): {len(full)}/{len(reached)} compute HCAs full "
        f"members ({', '.join(pkeys) or 'none'}); {'ok' if r.pkeys_ok else 'FAILED'}"
        + (f"; {len(r.pkeys) - len(reached)} not reached" if len(reached) < len(r.pkeys) else "")
    )
    for p in [p for p in reached if not p.ok][:20]:
        pkey = "none" if p.pkey is None else f"0x{p.pkey:04x}"
        print(f"    {printable(p.hca)} (lid {p.lid}): index {p.index} holds {pkey}, "
              f"{p.membership}{': ' + printable(p.error) if p.error else ''}")  # fmt: skip


def _sim_json(r) -> dict:
    return {
        "plane": r.plane,
        "subnet_up": r.subnet_up,
        "routing_engine": r.routing_engine,
        "ftree": r.ftree,
        "fell_back": r.fell_back,
        "sweep_s": r.sweep_s,
        "opensm_wall_s": r.opensm_wall_s,
        "switches_seen": r.switches_seen,
        "switches_designed": r.switches_designed,
        "hcas_seen": r.hcas_seen,
        "hcas_designed": r.hcas_designed,
        "faults": _faults_json(r.faults),
        "faults_found": r.faults_found,
        "findings": [f.to_json() for f in r.findings],
        "opensm_errors": r.opensm_errors,
        "pkeys_ok": r.pkeys_ok,
        "pkeys": [p.to_json() for p in r.pkeys],
        "ok": r.ok,
    }


def cmd_validate(args: argparse.Namespace) -> int:
    from infra.fabric.discovered import read_discovered
    from infra.fabric.naming import FabricNames, read_guid_map, read_name_map
    from infra.fabric.validate import (
        DESIGN_RATE,
        by_kind,
        check_names,
        parse_rate,
        unmatched_note,
        unmatched_switches,
        validate,
    )

    if args.lldp is not None:
        return _validate_lldp(args)
    rate = args.rate or DESIGN_RATE
    parse_rate(rate)  # bad --rate is bad input before the (slow) design compile
    names = FabricNames(
        hosts=read_name_map(args.name_map) if args.name_map else {},
        guids=read_guid_map(args.guid_map) if args.guid_map else {},
    )
    found = read_discovered(args.discovered, names)
    design = _design(args)
    check_names(design, names)
    planes = _planes(design, args.plane) if args.plane else None
    findings = validate(design, found, planes, rate)
    # Switches the design does not know: their links are `unexpected` findings; say which
    # records they are, in case they are renamed ones a map would resolve.
    unmatched = unmatched_switches(design, found)
    if args.json:
        print_json(
            "fabric validate",
            args.stack,
            not findings,
            counts=by_kind(findings),
            findings=[f.to_json() for f in findings],
            unmatched_switches=[printable(unmatched_note(found, n)) for n in unmatched[:20]],
        )
    else:
        for f in findings:  # descriptions come from the fabric: escaped before printing
            print(f"{f.kind:10} {printable(f.summary)}")
            for place in f.places:
                print(f"{'':10}   at {printable(place)}")
        if unmatched:
            print(
                f"{len(unmatched)} switch(es) in the file are not in the design, first "
                f"{printable(unmatched_note(found, unmatched[0]))} (renamed? --name-map or "
                "--guid-map)",
                file=sys.stderr,
            )
        counts = ", ".join(f"{n} {k}" for k, n in sorted(by_kind(findings).items()))
        print(
            f"{args.stack}: {len(findings)} finding(s){': ' + counts if counts else ''}",
            file=sys.stderr,
        )
    return 1 if findings else 0


def _validate_lldp(args: argparse.Namespace) -> int:
    from infra.fabric.lldp import read_lldp, validate_lldp

    for flag in ("rate", "name_map", "guid_map", "plane"):
        if getattr(args, flag):
            raise InputError([f"--{flag.replace('_', '-')}: InfiniBand only, not with --lldp"])
    neighbors = read_lldp(args.lldp)  # bad files are exit 2 before the design compiles
    design = _design(args)
    if design.technology != "spectrum_x":
        raise InputError(
            [f"--lldp: stack {args.stack} is {design.technology}; LLDP validation is for "
             "spectrum_x fabrics (InfiniBand: --discovered ibnetdiscover output)"]
        )  # fmt: skip
    findings = validate_lldp(design, neighbors)
    _report_findings(args, findings, extra={"neighbors": len(neighbors)})
    return 1 if findings else 0


def _report_findings(args: argparse.Namespace, findings, extra: dict) -> None:
    from infra.fabric.validate import by_kind

    if args.json:
        print_json(
            "fabric validate",
            args.stack,
            not findings,
            counts=by_kind(findings),
            findings=[f.to_json() for f in findings],
            **extra,
        )
        return
    for f in findings:  # names come from the fabric: escaped before printing
        print(f"{f.kind:10} {printable(f.summary)}")
        for place in f.places:
            print(f"{'':10}   at {printable(place)}")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(by_kind(findings).items()))
    print(
        f"{args.stack}: {len(findings)} finding(s){': ' + counts if counts else ''}",
        file=sys.stderr,
    )


def cmd_render(args: argparse.Namespace) -> int:
    from infra.fabric.discovered import read_node_guids
    from infra.fabric.opensm import GuidSource, render_plane
    from infra.fabric.plane import plane_fabric

    # Discovered GUIDs are untrusted: typed (switch GUIDs only from Switch records), checked,
    # duplicates refused, every problem with its file:line (infra/fabric/discovered.py).
    guids = GuidSource(read_node_guids(args.guids_from)) if args.guids_from else GuidSource()
    design = _design(args)
    out = args.out or args.project_dir / "artifacts" / "fabric" / args.stack
    if design.technology == "spectrum_x":
        return _render_nvue(args, design, out)
    planes = _planes(design, args.plane)
    files: dict[str, str] = {}
    for plane in planes:
        for name, text in render_plane(design, plane_fabric(design, plane), guids=guids).items():
            files[f"{plane}/{name}"] = text
    # The directory is replaced as a whole: --plane renders only those planes' files.
    command = " ".join(
        ["fabric render --stack", args.stack, *(f"--plane {p}" for p in args.plane or ())]
    )
    out = write_output_dir(out, files, command=command, protect=(args.project_dir,))
    if args.json:
        print_json(
            "fabric render", args.stack, True, out=str(out), planes=planes, files=sorted(files)
        )
    else:
        print(f"wrote {len(files)} files under {out}")
    return 0


def _render_nvue(args: argparse.Namespace, design, out: Path) -> int:
    """One NVUE file per switch under nvue/ (the bytes of the Pulumi artifact and of what
    the switches role deploys: infra.deploy.render.nvue_configs)."""
    from infra.deploy.render import nvue_configs

    if args.guids_from or args.plane:
        raise InputError(["--guids-from, --plane: InfiniBand only (Spectrum-X has one plane)"])
    files = {f"nvue/{name}": text for name, text in nvue_configs(design).items()}
    out = write_output_dir(
        out, files, command=f"fabric render --stack {args.stack}", protect=(args.project_dir,)
    )
    if args.json:
        print_json(
            "fabric render",
            args.stack,
            True,
            out=str(out),
            technology="spectrum_x",
            switches=len(files),
            files=sorted(files),
        )
    else:
        print(f"wrote {len(files)} NVUE switch configurations under {out / 'nvue'}")
    return 0


def _faults_json(faults) -> list[dict]:
    """The injected faults (InfiniBand or Ethernet simulation): kind and designed cables."""
    return [{"kind": f.kind, "designed": [list(map(list, k)) for k in f.designed]} for f in faults]
