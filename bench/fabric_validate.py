"""Cabling validation at memphis scale: a discovered file for every plane of the
memphis-ib stack (the InfiniBand design of memphis, ~300,000 links, generated from the
design, with faults injected into one plane), validated against the design. Target: <= 1 s.

Prints the per-file cost (read + parse + compare) and the cost of the expected port index
(built per design, with its fast checks in the descriptions the file prints, as
`fabric validate` builds it), wall and CPU time, best of --runs.

    .venv/bin/python bench/fabric_validate.py [--stack memphis-ib] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.design import compile_design
from infra.fabric.discovered import read_discovered
from infra.fabric.faults import inject
from infra.fabric.plane import plane_fabric
from infra.fabric.topology import write_topology
from infra.fabric.validate import Locator, build_expected, compare
from infra.spec import load_spec


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", default="memphis-ib")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--real-names",
        action="store_true",
        help="switches print `MF0;<name>:MQM9700/U1` as real Quantum-2 fabrics do",
    )
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    design, wall, _ = timed(lambda: compile_design(load_spec(args.stack, root), stack=args.stack))
    print(f"design {args.stack}: {len(design.links)} links, {len(design.planes)} planes "
          f"(compiled in {wall:.1f} s, not counted)")  # fmt: skip
    first = plane_fabric(design, design.planes[0].name)
    faulted = inject(first, {"swap": 10, "down": 10}, seed=1)
    parts = [write_topology(first, links=faulted.links)]
    parts += [write_topology(plane_fabric(design, p.name)) for p in design.planes[1:]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "discovered.topo"
        text = "\n".join(parts)
        if args.real_names:  # every switch description as a managed Quantum-2 prints it
            names = {sw.name for sw in design.switches}
            text = re.sub(
                r'"([^"\n]*)"',
                lambda m: f'"MF0;{m[1]}:MQM9700/U1"' if m[1] in names else m[0],
                text,
            )
        path.write_text(text)
        print(f"discovered file: {path.stat().st_size / 1e6:.1f} MB")
        planes = [p.name for p in design.planes]
        rows = []
        for _ in range(args.runs):
            locator = Locator(design)
            found, p_wall, p_cpu = timed(lambda: read_discovered(path))
            expected, e_wall, e_cpu = timed(lambda f=found: build_expected(design, planes, found=f))
            findings, c_wall, c_cpu = timed(
                lambda e=expected, f=found, lo=locator: compare(e, f, lo)
            )
            rows.append((p_wall + c_wall, p_cpu + c_cpu, e_wall, e_cpu))
    want = sorted((f.finding_kind, f.designed) for f in faulted.faults)
    assert sorted((f.kind, tuple(f.designed)) for f in findings) == want, "findings differ"
    best = min(rows)
    print(f"findings: {len(findings)} (exactly the {len(want)} injected)")
    print(f"validate (read+parse+compare): {best[0]:.3f} s wall, {best[1]:.3f} s CPU "
          f"(median {statistics.median(r[0] for r in rows):.3f} s wall)")  # fmt: skip
    print(f"expected index (per design and naming): {best[2]:.3f} s wall, {best[3]:.3f} s CPU")
    total = best[0] + best[2]
    print(f"total: {total:.3f} s wall -> {'PASS' if total <= 1.0 else 'OVER'} (target <= 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
