"""Benchmark: the full memphis plan review, base and head compiled, diffed and rendered.

A throwaway git repository holds the memphis stack as committed; the working tree adds
one scalable unit (a row of 4 racks) to hall 4, so both sides compile. Prints the wall
time of `supercluster plan` end to end (target: <= 10 s) and of each stage.

    .venv/bin/python bench/plan_review.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.cli import main  # noqa: E402

TARGET_S = 10.0


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=bench@local", "-c", "user.name=bench", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _repo(root: Path) -> None:
    stack = root / "Pulumi.memphis.yaml"
    stack.write_text((ROOT / "Pulumi.memphis.yaml").read_text())
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "memphis")
    doc = yaml.safe_load(stack.read_text())
    hall4 = doc["config"]["supercluster:cluster"]["halls"][3]
    hall4["rows"] = [
        *hall4["rows"],
        {
            "name": "r15",
            "x_m": 0,
            "y_m": 33.6,
            "racks": 4,
            "rack_type": "hgx-lc",
            "network_racks": 1,
        },
    ]
    stack.write_text(yaml.safe_dump(doc, sort_keys=False))


def _stages(root: Path) -> dict[str, float]:
    """The same work as the command, stage by stage."""
    from infra.review.pipeline import no_cyclic_gc, run_plan
    from infra.review.render import render_html, render_json, render_markdown

    t0 = time.perf_counter()
    plan = run_plan("memphis", root)
    t1 = time.perf_counter()
    with no_cyclic_gc():
        render_markdown(plan.review)
        t2 = time.perf_counter()
        render_html(plan.review, plan.base, plan.head)
        t3 = time.perf_counter()
        render_json(plan.review)
        t4 = time.perf_counter()
    return {
        "compile x2 + check + diff": t1 - t0,
        "markdown": t2 - t1,
        "html": t3 - t2,
        "json": t4 - t3,
    }


def run() -> float:
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        root = Path(tmp)
        _repo(root)
        load = os.getloadavg()[0]
        t0, cpu0 = time.perf_counter(), time.process_time()
        rc = main(
            ["plan", "--stack", "memphis", "--project-dir", str(root), "--out", str(root / "out")]
        )
        total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        sizes = {p.name: p.stat().st_size for p in sorted((root / "out").iterdir())}
        stages = _stages(root)
    print(
        f"\nmemphis plan (base + head compiled, diffed, rendered): {total:.2f} s "
        f"(target <= {TARGET_S:.0f} s), exit {rc}; {cpu:.2f} s CPU; load average {load:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    for name, secs in stages.items():
        print(f"  {name}: {secs:.2f} s")
    for name, size in sizes.items():
        print(f"  {name}: {size:,} bytes")
    return total


if __name__ == "__main__":
    sys.exit(0 if run() <= TARGET_S else 1)
