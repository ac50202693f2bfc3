"""`supercluster fabric simulate | validate | render`: the InfiniBand fabric brought up
under ibsim/OpenSM, the discovered cabling checked against the design, and the OpenSM
configuration of every subnet (plane)."""

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
    p = sub.add_parser("fabric", help="InfiniBand fabric: simulate, validate cabling, render")
    fsub = p.add_subparsers(dest="fabric_command", required=True, metavar="ACTION")

    s = fsub.add_parser("simulate", help="bring planes up under ibsim + OpenSM (ftree)")
    add_stack_args(s)
    s.add_argument("--plane", action="append", help="plane to simulate (default: all)")
    s.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND:COUNT",
        help="inject faults: swap:N, down:N, speed:N (repeatable)",
    )
    s.add_argument("--seed", type=int, default=0, help="fault injection seed")
    s.add_argument("--timeout", type=float, default=300.0, help="seconds per tool run")
    s.add_argument("--keep", type=Path, help="copy the run's files (logs, topology) here")
    add_json_arg(s)
    s.set_defaults(func=cmd_simulate)

    v = fsub.add_parser("validate", help="compare ibnetdiscover output with the design")
    add_stack_args(v)
    v.add_argument("--discovered", type=Path, required=True, help="ibnetdiscover output")
    v.add_argument("--plane", action="append", help="planes to check (default: those seen)")
    v.add_argument("--rate", default=None, help="expected link rate (default 4xNDR)")
    add_json_arg(v)
    v.set_defaults(func=cmd_validate)

    r = fsub.add_parser("render", help="write OpenSM configuration per plane")
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
    results = []
    for plane in _planes(design, args.plane):
        keep = args.keep / plane if args.keep else None
        try:
            res = simulate_plane(design, plane, faults, args.seed, args.timeout, keep)
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


def _print_sim(r) -> None:
    engine = r.routing_engine or "none"
    verdict = "ftree" if r.ftree else f"FELL BACK to {engine} (ftree required)"
    sweep = f"{r.sweep_s:.3f} s" if r.sweep_s is not None else "n/a"
    print(
        f"{r.plane}: subnet {'UP' if r.subnet_up else 'NOT UP'}, routing {verdict}, "
        f"sweep {sweep} (opensm {r.opensm_wall_s:.2f} s wall), "
        f"switches {r.switches_seen}/{r.switches_designed}, HCAs {r.hcas_seen}/{r.hcas_designed}"
    )
    for line in r.opensm_errors[:5]:
        print(f"  opensm: {printable(line)}")
    if r.faults:
        print(
            f"  injected {len(r.faults)} fault(s); validation found {len(r.findings)}: "
            f"{'exactly the injected ones' if r.faults_found else 'MISMATCH'}"
        )
    for f in r.findings:
        print(f"  {printable(f.summary)}")


def _sim_json(r) -> dict:
    return {
        "plane": r.plane,
        "subnet_up": r.subnet_up,
        "routing_engine": r.routing_engine,
        "ftree": r.ftree,
        "sweep_s": r.sweep_s,
        "opensm_wall_s": r.opensm_wall_s,
        "switches_seen": r.switches_seen,
        "switches_designed": r.switches_designed,
        "hcas_seen": r.hcas_seen,
        "hcas_designed": r.hcas_designed,
        "faults": [
            {"kind": f.kind, "designed": [list(map(list, k)) for k in f.designed]} for f in r.faults
        ],
        "faults_found": r.faults_found,
        "findings": [f.to_json() for f in r.findings],
        "opensm_errors": r.opensm_errors,
        "ok": r.ok,
    }


def cmd_validate(args: argparse.Namespace) -> int:
    from infra.fabric.discovered import read_discovered
    from infra.fabric.validate import DESIGN_RATE, by_kind, parse_rate, validate

    rate = args.rate or DESIGN_RATE
    parse_rate(rate)  # bad --rate is bad input before the (slow) design compile
    found = read_discovered(args.discovered)
    design = _design(args)
    planes = _planes(design, args.plane) if args.plane else None
    findings = validate(design, found, planes, rate)
    if args.json:
        print_json(
            "fabric validate",
            args.stack,
            not findings,
            counts=by_kind(findings),
            findings=[f.to_json() for f in findings],
        )
    else:
        for f in findings:  # descriptions come from the fabric: escaped before printing
            print(f"{f.kind:10} {printable(f.summary)}")
            for place in f.places:
                print(f"{'':10}   at {printable(place)}")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(by_kind(findings).items()))
        print(
            f"{args.stack}: {len(findings)} finding(s){': ' + counts if counts else ''}",
            file=sys.stderr,
        )
    return 1 if findings else 0


def cmd_render(args: argparse.Namespace) -> int:
    from infra.fabric.discovered import read_node_guids
    from infra.fabric.opensm import GuidSource, render_plane
    from infra.fabric.plane import plane_fabric

    # Discovered GUIDs are untrusted: typed (switch GUIDs only from Switch records), checked,
    # duplicates refused, every problem with its file:line (infra/fabric/discovered.py).
    guids = GuidSource(read_node_guids(args.guids_from)) if args.guids_from else GuidSource()
    design = _design(args)
    out = args.out or args.project_dir / "artifacts" / "fabric" / args.stack
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
