"""Resource counts per Pulumi stack, and the time the program takes under Pulumi's mocks.

Stacks: dev, a 4-SU SuperPOD (made with `supercluster init --preset superpod --sus 4` in a
temp project), and every stack of memphis (Spectrum-X, as built) and memphis-ib (its
InfiniBand design): the site layer and its four halls each. Targets: every such stack
within 1,500 resources; the whole memphis site registered under
mocks in <= 20 s. Prints wall and CPU seconds: on a shared machine the wall time counts
other people's processes too.

    .venv/bin/python bench/pulumi_resources.py
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from infra.cli import main as cli  # noqa: E402
from infra.deploy import program  # noqa: E402
from infra.deploy.mocks import MockRun, run_site, run_stack  # noqa: E402
from infra.deploy.stacks import RESOURCE_BUDGET  # noqa: E402

TARGET_S = 20.0
# What the engine adds to each stack's state beyond the program's resources: the
# pulumi:pulumi:Stack and the default provider of the dynamic resources.
ENGINE_EXTRA = 2


def row(run: MockRun) -> str:
    kinds = run.counts()
    top = ", ".join(f"{t.split(':')[-1]} {n}" for t, n in kinds.most_common(3))
    ok = "ok" if len(run.resources) + ENGINE_EXTRA <= RESOURCE_BUDGET else "OVER BUDGET"
    return (
        f"{run.stack:16} {run.plan.layer:6} {len(run.resources):6,} resources "
        f"{run.seconds:6.2f} s  {ok:11} ({top})"
    )


def main() -> int:
    print(
        f"stack            layer  resources (budget {RESOURCE_BUDGET:,}; the engine adds "
        f"{ENGINE_EXTRA} per stack: Stack, dynamic provider)"
    )
    print(row(run_stack("dev", PROJECT_DIR)))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(PROJECT_DIR / "Pulumi.yaml", Path(tmp) / "Pulumi.yaml")
        argv = [
            "init",
            "--preset",
            "superpod",
            "--sus",
            "4",
            "--stack",
            "superpod4",
            "--project-dir",
        ]
        with contextlib.redirect_stdout(io.StringIO()):  # init prints the file it wrote
            cli([*argv, tmp])
        print(row(run_stack("superpod4", Path(tmp))))

    worst = 0
    for site in ("memphis", "memphis-ib"):  # as built (Spectrum-X), its InfiniBand design
        program._design.cache_clear()  # from cold: its design compiled in the timing
        wall, cpu = time.perf_counter(), time.process_time()
        runs = run_site(site, PROJECT_DIR)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for run in runs:
            print(row(run))
        largest = max(len(r.resources) for r in runs)
        worst = max(worst, largest)
        print(
            f"{site} site: {len(runs)} stacks, {sum(len(r.resources) for r in runs):,} "
            f"resources (largest stack {largest:,}), registered under mocks in {wall:.1f} s "
            f"wall / {cpu:.1f} s CPU (target {TARGET_S:.0f} s)"
        )
    return 0 if worst + ENGINE_EXTRA <= RESOURCE_BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
