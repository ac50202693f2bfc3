"""Converge a simulated fleet with the project's ansible.cfg and with Ansible's stock
settings, side by side: `supercluster configure`'s site playbook from fresh nodes each
time, plus the idempotent re-run with the project's settings.

    .venv/bin/python bench/configure_converge.py [--nodes 32] \
        [--network 127.0.10.64/26] [--repo-host 127.0.10.254]

Needs root (the simulated fleet). Nodes on --network (default 127.0.10.65-126, the Ansible
tests' range), the stand-in vendor repository on --repo-host (default 127.0.10.254); pick
another range for both while the tests run. Target: project settings >= 3x faster.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "ansible")]

import siteutil  # noqa: E402
from siteutil import running_site  # noqa: E402

NETWORK = "127.0.10.64/26"


def converge(
    tmp: Path,
    nodes: int,
    network: str,
    label: str,
    ansible_cfg: Path | None,
    rerun: bool = True,
) -> tuple[float, float | None]:
    """(converge seconds, idempotent re-run seconds or None) on a fresh fleet."""
    # The project's settings: its ansible.cfg and the strategy `configure` selects (Mitogen);
    # stock: an empty ansible.cfg and Ansible's default (linear) strategy.
    strategy = "mitogen_linear" if ansible_cfg == ROOT / "ansible.cfg" else None
    with running_site(tmp / label, nodes, network) as site:
        started = time.monotonic()
        first = site.run(ansible_cfg=ansible_cfg, out=None, strategy=strategy)
        converge_s = time.monotonic() - started
        assert first.rc == 0, f"{label}: converge failed: {first.failed} {first.unreachable}"
        if not rerun:
            return converge_s, None
        started = time.monotonic()
        again = site.run(ansible_cfg=ansible_cfg, out=None, strategy=strategy)
        rerun_s = time.monotonic() - started
        assert again.rc == 0 and not again.changed_hosts, f"{label}: re-run changed hosts"
        return converge_s, rerun_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument(
        "--stock-rerun", action="store_true", help="also time the re-run with stock settings"
    )
    parser.add_argument("--network", default=NETWORK, help="the fleet's loopback range")
    parser.add_argument(
        "--repo-host", default=siteutil.REPO_HOST, help="loopback address of the vendor repo"
    )
    args = parser.parse_args()
    # running_site serves the repository on siteutil.REPO_HOST (read at each call).
    siteutil.REPO_HOST = args.repo_host
    with tempfile.TemporaryDirectory(prefix="sc-bench-", dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        stock_cfg = tmp / "stock.cfg"
        stock_cfg.write_text("# Ansible's stock settings: an empty configuration file.\n")
        project_s, project_rerun_s = converge(
            tmp, args.nodes, args.network, "project", ROOT / "ansible.cfg"
        )
        stock_s, stock_rerun_s = converge(
            tmp, args.nodes, args.network, "stock", stock_cfg, args.stock_rerun
        )
    ratio = stock_s / project_s
    print(f"configure converge, {args.nodes} simulated nodes (site.yml, fresh nodes each)")
    print(f"  {'settings':10} {'converge':>10} {'re-run':>10}")
    stock_rerun = f"{stock_rerun_s:>9.1f}s" if stock_rerun_s is not None else f"{'-':>10}"
    print(f"  {'stock':10} {stock_s:>9.1f}s {stock_rerun}")
    print(f"  {'project':10} {project_s:>9.1f}s {project_rerun_s:>9.1f}s")
    print(f"  speed-up: {ratio:.2f}x converge")
    print(f"  target >= 3x: {'met' if ratio >= 3 else 'NOT met'}")
    print(
        json.dumps(
            {
                "nodes": args.nodes,
                "stock_converge_s": round(stock_s, 1),
                "project_converge_s": round(project_s, 1),
                "stock_rerun_s": stock_rerun_s and round(stock_rerun_s, 1),
                "project_rerun_s": round(project_rerun_s, 1),
                "ratio": round(ratio, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
