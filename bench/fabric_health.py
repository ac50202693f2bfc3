"""Cost of fabric_health.yml's counter check on the subnet manager host, under ibsim:
`fabric_counters.py clear` (ibnetdiscover, then `perfquery -R`) and
`judge` (perfquery again), one perfquery per node for all its designed ports, 8 at a
time, on one swept plane, with the designed ports
counted and the cost per port, so the figure for a full site plane follows by arithmetic.

    .venv/bin/python bench/fabric_health.py [--sus 1 2 4]
    .venv/bin/python bench/fabric_health.py --stack memphis-ib --plane p0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "fleet")]

from ibsimplane import swept_plane  # noqa: E402  the tests' swept-plane helper

from infra.design import compile_design  # noqa: E402
from infra.fabric.opensm import render_plane  # noqa: E402
from infra.fabric.plane import plane_fabric  # noqa: E402
from infra.fabric.sim import tool  # noqa: E402
from infra.presets import PRESETS  # noqa: E402
from infra.spec import load_spec  # noqa: E402

SCRIPT = ROOT / "playbooks" / "files" / "fabric_counters.py"


def measure(design, plane: str) -> dict:
    thresholds = {"SymbolErrorCounter": 10, "LinkDownedCounter": 0, "PortRcvErrors": 10}
    with tempfile.TemporaryDirectory() as tmp, swept_plane(design, plane) as swept:
        topo = Path(tmp) / "designed.topo"
        topo.write_text(render_plane(design, plane_fabric(design, plane))["designed.topo"])
        path = os.pathsep.join([os.path.dirname(tool("perfquery")), swept.client["PATH"]])
        env = dict(swept.client, PATH=path)
        state = str(Path(tmp) / "state.json")

        def timed(*args: str) -> tuple[float, dict]:
            t0 = time.perf_counter()
            done = subprocess.run(
                ["python3", str(SCRIPT), *args], cwd=swept.state, env=env,
                capture_output=True, text=True, timeout=7200, check=True,
            )  # fmt: skip
            return time.perf_counter() - t0, json.loads(done.stdout)

        clear_s, cleared = timed("clear", "--topo", str(topo), "--state", state)
        judge_s, _ = timed("judge", "--state", state, "--thresholds", json.dumps(thresholds))
    ports = cleared["ports"]
    return {"ports": ports, "clear_s": clear_s, "judge_s": judge_s,
            "ms_per_port": 1000 * (clear_s + judge_s) / max(1, 2 * ports)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sus", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--stack")
    ap.add_argument("--plane", default="p0")
    args = ap.parse_args()
    if args.stack:
        cases = [(f"{args.stack} {args.plane}", compile_design(load_spec(args.stack, ROOT)))]
    else:
        cases = []
        for sus in args.sus:
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
                (Path(tmp) / f"Pulumi.sp{sus}.yaml").write_text(
                    PRESETS["superpod"](sus, f"sp{sus}")
                )
                cases.append(
                    (f"superpod {sus} SU", compile_design(load_spec(f"sp{sus}", Path(tmp))))
                )
    print("case | designed ports | clear s | judge s | ms per port")
    for name, design in cases:
        r = measure(design, args.plane)
        row = [name, r["ports"], f"{r['clear_s']:.1f}", f"{r['judge_s']:.1f}"]
        print(" | ".join(map(str, [*row, f"{r['ms_per_port']:.2f}"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
