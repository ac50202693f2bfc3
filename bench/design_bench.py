"""Benchmark the design compiler (issue targets in brackets):
- memphis (the site as built: one Spectrum-X fabric, with its ASN, loopback and NIC /31
  plan) and memphis-ib (its InfiniBand design, 8 planes): compile every port and link +
  run every rule, wall time and peak memory [<= 3 s, <= 1.5 GiB] in a fresh process;
- `supercluster design --stack dev` including interpreter start [<= 1 s].

    .venv/bin/python bench/design_bench.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import resource, time
t0 = time.perf_counter()
from pathlib import Path
from infra.spec import load_spec
from infra.design import compile_design
from infra.policy import check_design
from infra.policy.summary import summarize
spec = load_spec(STACK, Path("."))
t1 = time.perf_counter()
design = compile_design(spec, STACK)
t2 = time.perf_counter()
summary = summarize(design, check_design(design))
t3 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
print(f"{t3 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f} {peak:.3f} {len(design.links)} "
      f"{len(design.switches)} {summary['gpus']}")
"""


def memphis(stack: str) -> None:
    runs = []
    child = f"STACK = {stack!r}\n" + CHILD
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", child], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.split()
        runs.append(out)
    best = min(runs, key=lambda r: float(r[0]))
    total, comp, rules, peak_gib, links, switches, gpus = best
    print(f"{stack} design: {int(gpus):,} GPUs, {int(links):,} links, {int(switches):,} switches")
    print(
        f"  load+compile+rules+summary {float(total):.2f} s (compile {float(comp):.2f} s, "
        f"rules+summary {float(rules):.2f} s)  [target <= 3 s]  best of 3"
    )
    print(f"  peak memory {float(peak_gib):.2f} GiB  [target <= 1.5 GiB]")


def dev_cli() -> None:
    exe = ROOT / ".venv" / "bin" / "supercluster"
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run(
            [str(exe), "design", "--stack", "dev"], cwd=ROOT, check=True, capture_output=True
        )
        times.append(time.perf_counter() - t)
    print(
        f"supercluster design --stack dev: median {sorted(times)[2]:.2f} s over 5 runs "
        f"(incl. interpreter start)  [target <= 1 s]"
    )


if __name__ == "__main__":
    memphis("memphis")  # Spectrum-X, as built
    memphis("memphis-ib")
    dev_cli()
