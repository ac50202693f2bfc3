"""`supercluster run --stack NAME`: the main job, end to end, on one stack.

With the simulated site (the default for the `dev` stack): design, validate, export,
inventory, fabric bring-up under ibsim/OpenSM, the simulated nodes and BMCs, `pulumi up`
on the real engine (the BMCs converged by it: `bmc status` then finds no drift), node
configuration through Ansible, fleet health, the plan review, and the site torn down again
(unless --keep-sim). `--design-only` stops after export (any stack, no simulation).
Each step is an ordinary subcommand; the run stops at the first that fails.
"""

from __future__ import annotations

import argparse
import sys
import time

from infra.commands import add_stack_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the main job end to end (default stack dev)")
    add_stack_args(p)
    p.add_argument("--design-only", action="store_true", help="design, validate, export only")
    p.add_argument("--keep-sim", action="store_true", help="leave the simulated site running")
    p.add_argument(
        "--nodes",
        type=int,
        default=8,
        help="simulated nodes to bring up and configure (default 8: one rack); "
        "the design, fabric and review always cover the whole stack",
    )
    p.set_defaults(func=cmd_run)


def _steps(
    stack: str, project: str, design_only: bool, nodes: list[str]
) -> list[tuple[str, list[str]]]:
    s = ["--stack", stack, "--project-dir", project]
    steps = [
        ("design: compile the stack", ["design", *s]),
        ("validate: the rules", ["validate", *s]),
        (
            "export: cabling plan, rack elevations, node port map",
            ["export", *s, "--out", f"{project}/out/{stack}/export"],
        ),
    ]
    if design_only:
        return steps
    return [
        *steps,
        ("fabric: OpenSM under ibsim, routed by ftree", ["fabric", "simulate", *s]),
        (
            f"sim up: {len(nodes)} sshd hosts, their BMCs, the vendor mirror",
            ["sim", "up", *s, "--nodes", str(len(nodes))],
        ),
        (
            "up: `pulumi up` of the stack on the real engine, policy pack included; "
            "the simulated BMCs converged (power on, PXE once, BIOS profile)",
            ["up", *s, "--sim"],
        ),
        ("bmc status: power, boot and BIOS against the design", ["bmc", "status", *s, "--sim"]),
        (
            "inventory: Ansible inventory from the design, for the simulated nodes",
            ["inventory", *s, "--sim"],
        ),
        ("configure: the playbooks, in rolling batches", ["configure", *s]),
        (
            "configure: acceptance checks against the design and pins",
            ["configure", *s, "--playbook", "acceptance"],
        ),
        (
            "health: every simulated node against the design",
            ["health", *s, "--sim", "--limit", ",".join(nodes)],
        ),
        (
            "plan: review of the working tree against HEAD",
            ["plan", *s, "--out", f"{project}/out/{stack}/review"],
        ),
    ]


def cmd_run(args: argparse.Namespace) -> int:
    from infra.cli import main

    project = str(args.project_dir.resolve())
    from infra.commands import load_design

    _, design, _ = load_design(args)
    nodes = [n.name for n in design.nodes[: max(1, args.nodes)]]
    steps = _steps(args.stack, project, args.design_only, nodes)
    started = time.perf_counter()
    simulated = False
    code = 0
    try:
        for i, (title, argv) in enumerate(steps, start=1):
            print(f"\n==> [{i}/{len(steps)}] {title}", file=sys.stderr, flush=True)
            t = time.perf_counter()
            simulated |= argv[:2] == ["sim", "up"]
            code = main(argv)
            print(
                f"    {argv[0]} exit {code} in {time.perf_counter() - t:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            if code:
                print(f"run: stopped at `supercluster {' '.join(argv[:2])}`", file=sys.stderr)
                break
    finally:
        if simulated and not args.keep_sim:
            print("\n==> sim down: leave nothing behind", file=sys.stderr, flush=True)
            main(["sim", "down", "--stack", args.stack, "--project-dir", project])
    print(
        f"\nrun: {'ok' if code == 0 else 'FAILED'} in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return code
