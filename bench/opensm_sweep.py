"""OpenSM sweep time under ibsim for growing SuperPOD planes (the `superpod` preset at
1, 2, 4, 8... SUs), up to the largest plane ibsim holds here: for each size, the HCAs and
switches, the routing engine OpenSM used (ftree required) and the sweep time read from
OpenSM's log (DISCOVERING -> SUBNET UP), plus OpenSM's wall time; with the production
configuration (QoS on) and with QoS off (OpenSM then skips SL2VL/VL arbitration
programming, which dominates the sweep).

    .venv/bin/python bench/opensm_sweep.py [--sus 1 2 4 8 16] [--timeout 600]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
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
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
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
            r = simulate_plane(design, plane, timeout_s=args.timeout)
            bare = simulate_plane(design, plane, timeout_s=args.timeout, qos=False)
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


if __name__ == "__main__":
    sys.exit(main())
