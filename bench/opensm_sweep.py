"""OpenSM sweep time under ibsim for growing SuperPOD planes (the `superpod` preset at
1, 2, 4, 8... SUs), up to the largest plane ibsim holds here: for each size, the HCAs and
switches, the routing engine OpenSM used (ftree required) and the sweep time read from
OpenSM's log (DISCOVERING -> SUBNET UP), plus OpenSM's wall time; with the production
configuration (QoS on) and with QoS off (OpenSM then skips SL2VL/VL arbitration
programming, which dominates the sweep).

    .venv/bin/python bench/opensm_sweep.py [--sus 1 2 4 8 16] [--timeout 600]

One plane of a real stack instead (e.g. a full memphis-ib plane, 12,544 HCAs), QoS off, on or
both, with OpenSM's peak memory (VmHWM) and the wall time of ibnetdiscover + validation:

    .venv/bin/python bench/opensm_sweep.py --stack memphis-ib --plane p0 --qos off
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.design import compile_design
from infra.fabric.sim import SimError, simulate_plane
from infra.presets import PRESETS
from infra.spec import load_spec


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sus", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--stack", help="measure one plane of this stack (Pulumi.<stack>.yaml)")
    ap.add_argument("--plane", default="p0")
    ap.add_argument("--qos", choices=("on", "off", "both"), default="both")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    if args.stack:
        return one_plane(root, args)
    largest = None
    print(f"{'SUs':>4} {'HCAs':>6} {'switches':>8} {'engine':>8} {'sweep_s':>8} {'opensm_s':>8}"
          f" {'noqos_sweep_s':>13}")  # fmt: skip
    for sus in args.sus:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(root / "Pulumi.yaml", Path(tmp) / "Pulumi.yaml")
            stack = f"sp{sus}"
            (Path(tmp) / f"Pulumi.{stack}.yaml").write_text(PRESETS["superpod"](sus, stack))
            design = compile_design(load_spec(stack, Path(tmp)), stack=stack)
        plane = design.planes[0].name
        try:
            r = simulate_plane(
                design, plane, timeout_s=args.timeout, qos=True, read_back_pkeys=False
            )
            bare = simulate_plane(
                design, plane, timeout_s=args.timeout, qos=False, read_back_pkeys=False
            )
        except SimError as exc:
            print(f"{sus:>4} stops here: {exc}")
            break
        sweep = f"{r.sweep_s:.3f}" if r.sweep_s is not None else "n/a"
        print(
            f"{sus:>4} {r.hcas_seen:>6} {r.switches_seen:>8} {r.routing_engine or '-':>8} "
            f"{sweep:>8} {r.opensm_wall_s:>8.2f} {bare.sweep_s or float('nan'):>13.3f}"
        )
        if not (r.subnet_up and r.ftree):
            print(f"{sus:>4} stops here: subnet up={r.subnet_up}, engine={r.routing_engine}")
            break
        largest = (sus, r.hcas_seen, r.switches_seen, r.sweep_s, bare.sweep_s)
    if largest:
        print(
            f"largest plane routed by ftree here: {largest[0]} SUs, {largest[1]} HCAs, "
            f"{largest[2]} switches, sweep {largest[3]:.3f} s (QoS off {largest[4]:.3f} s)"
        )
    return 0


def one_plane(root: Path, args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    design = compile_design(load_spec(args.stack, root), stack=args.stack)
    print(f"{args.stack}: design compiled in {time.monotonic() - t0:.1f} s", flush=True)
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.qos]
    failed = 0
    for qos in modes:
        t0 = time.monotonic()
        try:
            # The P_Key read-back (one smpquery per HCA, 12,544 on memphis-ib) is no part of
            # the sweep and would dominate the run: skipped here (tests/fabric/test_pkeys.py).
            r = simulate_plane(
                design, args.plane, timeout_s=args.timeout, qos=qos, read_back_pkeys=False
            )
        except SimError as exc:
            print(f"{args.stack} {args.plane} qos={'on' if qos else 'off'}: {exc}", flush=True)
            failed += 1
            continue
        total = time.monotonic() - t0
        sweep = f"{r.sweep_s:.3f}" if r.sweep_s is not None else "n/a"
        peak = f"{r.opensm_peak_kib / 1024:.0f}" if r.opensm_peak_kib else "n/a"
        print(
            f"{args.stack} {args.plane} qos={'on' if qos else 'off'}: "
            f"{r.hcas_seen}/{r.hcas_designed} HCAs, {r.switches_seen}/{r.switches_designed} "
            f"switches, engine {r.routing_engine}, subnet up {r.subnet_up}, "
            f"sweep {sweep} s, opensm wall {r.opensm_wall_s:.1f} s, opensm peak {peak} MiB, "
            f"findings {len(r.findings)}, whole run {total:.1f} s",
            flush=True,
        )
        failed += not (r.subnet_up and r.ftree and not r.findings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
