"""site.yml on fresh live nodes (systemd booted under systemd-nspawn, infra/sim/live.py):
the boot, the first run (every node rebooted once by reboot.yml and back) and the re-run,
with what each changed.

    .venv/bin/python bench/live_converge.py [--nodes 8]

Needs root and the live root (built and cached on first use, ~3 min). Nodes on
127.0.95.0/26, the stand-in vendor repository on 127.0.95.254.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "nodes")]

from liveutil import running_live_site  # noqa: E402

# One batch; systemd-networkd cannot run without a private network (docs/configuration.md).
VARS = {"supercluster_serial": "100%", "ipoib_live": False}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        started = time.monotonic()
        with running_live_site(
            Path(tmp), args.nodes, "127.0.95.0/26", repo_host="127.0.95.254"
        ) as site:
            print(f"{args.nodes} live nodes up in {time.monotonic() - started:.1f} s", flush=True)
            for label in ("first run", "re-run"):
                t0 = time.monotonic()
                result = site.run(extravars=VARS, out=None)
                changed = sum(s["changed"] for s in result.stats.values())
                print(
                    f"{label}: {time.monotonic() - t0:.1f} s, rc {result.rc}, "
                    f"{changed} changes on {len(result.changed_hosts)} hosts",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
