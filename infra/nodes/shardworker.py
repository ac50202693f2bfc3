"""What a controller runs for one shard: `ansible-runner worker` on the job streamed to its
stdin, its events streamed back on stdout (ansible-runner's worker protocol, as AWX's
execution nodes run it), plus what the coordinator needs that the protocol lacks:

- a pid file, so the coordinator can stop the shard (a site-wide failure budget spent)
  with one `kill` over a second SSH session;
- the CPU the controller spent on the shard (the worker, ansible-playbook and its forks,
  all reaped by the time the worker exits), as one JSON line on stderr.

    python -m infra.nodes.shardworker --private-data-dir DIR

Runs on the controller with the project's venv; imports nothing of the project.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--private-data-dir", required=True, type=Path)
    args = ap.parse_args(argv)
    runner = Path(sys.executable).with_name("ansible-runner")
    pidfile = args.private_data_dir.with_name(args.private_data_dir.name + ".pid")
    # --delete: the job's directory (with the shard's SSH key) goes when the job ends.
    cmd = [str(runner), "worker", "--private-data-dir", str(args.private_data_dir), "--delete"]
    child = subprocess.Popen(cmd)  # stdin: the job stream, stdout: the event stream

    def forward(signum: int, _frame) -> None:
        child.send_signal(signal.SIGTERM)  # ansible-runner cancels the playbook run

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, forward)
    pidfile.write_text(f"{os.getpid()}\n")
    try:
        rc = child.wait()
    finally:
        pidfile.unlink(missing_ok=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {"controller_cpu_s": round(used.ru_utime + used.ru_stime, 3), "worker_rc": rc}
    print(json.dumps(report), file=sys.stderr, flush=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
