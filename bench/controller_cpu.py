"""Controller CPU per host-task, from process accounting (not wall time: every simulated
node shares this machine's cores): one converge of a fresh fleet per mode.

- stock:   `configure`'s run with an empty ansible.cfg and Ansible's linear strategy;
- project: `configure` as shipped (ansible.cfg, Mitogen);
- worker:  the same through one controller host on ansible-runner's worker protocol
           (`configure --controllers`): the controller's share (shardworker's rusage of
           ansible-runner worker, ansible-playbook and its forks) and the coordinator's
           (transmit, the SSH client, process) apart.

The playbook's own CPU on the nodes (modules, sshd) is not the controller's and is not
counted: it runs under each node's sshd, outside this process tree.

    .venv/bin/python bench/controller_cpu.py [--nodes 8] [--playbook site]

Needs root. Nodes on 127.0.55.0/26, the controller on 127.0.55.200, the vendor mirror on
127.0.55.254 (outside the tests' ranges).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "nodes")]

from fleetutil import running_fleet  # noqa: E402
from siteutil import PROJECT_DIR, running_site  # noqa: E402

from infra.nodes import shards  # noqa: E402
from infra.sim.fleet import venv_python_dirs  # noqa: E402

NETWORK = "127.0.55.0/26"
CONTROLLER = [("ctl01", "127.0.55.200")]
REPO_HOST = "127.0.55.254"


def cpu_s() -> float:
    """This process and its reaped descendants (ansible-playbook and its forks, ssh)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def host_tasks(stats: dict) -> int:
    """Task results over all hosts: ok (changed included), failed, unreachable, skipped."""
    return sum(s["ok"] + s["failures"] + s["dark"] + s["skipped"] for s in stats.values())


def measure(tmp: Path, mode: str, nodes: int, playbook: str) -> dict:
    with running_site(tmp / mode, nodes, NETWORK, repo_host=REPO_HOST) as site:
        before, started = cpu_s(), time.monotonic()
        if mode == "worker":
            with running_fleet(tmp / "ctl", 1, hosts=CONTROLLER, shared=venv_python_dirs()) as ctl:
                controllers = shards.controllers_from(
                    ["ctl01"], json.loads(ctl.connection.read_text())
                )
                before, started = cpu_s(), time.monotonic()
                run = shards.run(
                    project_dir=PROJECT_DIR, inventory_dir=site.inventory_dir,
                    controllers=controllers, playbook=playbook,
                    artifacts_dir=site.artifacts_dir, out=None,
                )  # fmt: skip
                # Before the controller stops: reaping its node would add its whole
                # process tree (the worker's CPU, counted below) to this one's children.
                wall, here = time.monotonic() - started, cpu_s() - before
            result, controller = run.result, run.shards[0].cpu_s or 0.0
        else:
            empty = tmp / "stock.cfg"
            empty.write_text("[defaults]\n")
            stock = mode == "stock"
            result = site.run(
                playbook=playbook, out=None, ansible_cfg=empty if stock else None,
                strategy=None if stock else "mitogen_linear",
            )  # fmt: skip
            controller = None
            wall, here = time.monotonic() - started, cpu_s() - before
        assert result.rc == 0, f"{mode}: {result.failed} {result.unreachable}"
    tasks = host_tasks(result.stats)
    total = here + (controller or 0.0)
    return {"mode": mode, "host_tasks": tasks, "wall_s": wall, "local_cpu_s": here,
            "controller_cpu_s": controller, "cpu_per_host_task": total / tasks}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--playbook", default="site")
    ap.add_argument("--modes", nargs="+", default=["stock", "project", "worker"])
    args = ap.parse_args()
    print("mode | host-tasks | wall s | coordinator CPU s | controller CPU s | CPU s per host-task")
    with tempfile.TemporaryDirectory(prefix="bench-ctl-") as tmp:
        for mode in args.modes:
            r = measure(Path(tmp), mode, args.nodes, args.playbook)
            ctl = f"{r['controller_cpu_s']:.1f}" if r["controller_cpu_s"] is not None else "-"
            print(
                f"{mode} | {r['host_tasks']} | {r['wall_s']:.1f} | {r['local_cpu_s']:.1f} | "
                f"{ctl} | {r['cpu_per_host_task']:.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
