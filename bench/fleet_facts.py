"""Facts collection on a 64-node simulated fleet, side by side in one run:
  1. `supercluster facts` (paramiko fan-out, one SSH session per node),
  2. Debian's parallel-ssh (pssh) running the very same facts script,
  3. `ansible all -m setup` with Ansible's stock settings (forks raised to the node count).
Each tool runs --repeat times (interleaved); the median is reported. Targets (issue 7): no
slower than pssh, >= 5x faster than Ansible.

    sudo .venv/bin/python bench/fleet_facts.py [--nodes 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.fleet.facts import facts_command  # noqa: E402
from infra.sim.fleet import Fleet, loopback_hosts  # noqa: E402
from infra.sim.hardware import Hardware  # noqa: E402


def timed(cmd: list[str], check, env: dict | None = None, cwd: Path | None = None) -> float:
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    elapsed = time.monotonic() - started
    problem = check(proc)
    if problem:
        tail = (proc.stdout + proc.stderr)[-600:]
        raise SystemExit(f"{cmd[0]} {cmd[1]}: {problem} (rc {proc.returncode})\n{tail}")
    return elapsed


def ours(fleet: Fleet, n: int, work: Path) -> tuple[list[str], callable]:
    cmd = [
        sys.executable, "-m", "infra.cli", "facts", "--hosts", str(fleet.connection),
        "--key", str(fleet.key_path), "--known-hosts", str(fleet.known_hosts),
        "--forks", str(n), "--json", "--no-progress", "--project-dir", str(work),
    ]  # fmt: skip

    def check(proc):
        out = json.loads(proc.stdout or "{}")
        ok = out.get("summary", {}).get("ok")
        gpus = {h["facts"]["gpu"]["count"] for h in out.get("hosts", []) if h.get("facts")}
        return None if ok == n and gpus == {8} else f"{ok}/{n} hosts ok, GPU counts {gpus}"

    return cmd, check


def pssh(fleet: Fleet, n: int, work: Path) -> tuple[list[str], callable]:
    hosts = work / "pssh-hosts"
    hosts.write_text("".join(f"{ip}\n" for _, ip in fleet.hosts()))
    outdir = work / "pssh-out"
    ssh_args = (
        f"-i {fleet.key_path} -o UserKnownHostsFile={fleet.known_hosts} "
        "-o StrictHostKeyChecking=yes -o BatchMode=yes"
    )
    cmd = [
        "parallel-ssh", "-h", str(hosts), "-l", "root", "-p", str(n), "-t", "120",
        "-o", str(outdir), "-x", ssh_args, facts_command(),
    ]  # fmt: skip

    def check(proc):
        done = [p for p in outdir.glob("*") if "nvidia_smi_log" in p.read_text()]
        return None if proc.returncode == 0 and len(done) == n else f"{len(done)}/{n} outputs"

    return cmd, check


def ansible(fleet: Fleet, n: int, work: Path) -> tuple[list[str], callable, dict]:
    inventory = work / "inventory.ini"
    lines = ["[sim]"] + [f"{name} ansible_host={ip}" for name, ip in fleet.hosts()]
    lines += [
        "[sim:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={fleet.key_path}",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={fleet.known_hosts} "
        "-o StrictHostKeyChecking=yes'",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    inventory.write_text("\n".join(lines) + "\n")
    # Stock settings: an empty ansible.cfg (not the project's tuned one); only forks is
    # raised so Ansible is not limited to its default 5 hosts at a time.
    (work / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(work / "ansible.cfg"))
    ansible_bin = Path(sys.executable).with_name("ansible")
    cmd = [str(ansible_bin), "all", "-i", str(inventory), "-m", "setup", "-f", str(n), "-o"]

    def check(proc):
        ok = proc.stdout.count("| SUCCESS")
        return None if proc.returncode == 0 and ok == n else f"{ok}/{n} hosts SUCCESS"

    return cmd, check, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--network", default="127.0.20.0/24", help="loopback range to use")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        fleet = Fleet(work / "sim")
        started = time.monotonic()
        fleet.up(loopback_hosts(args.nodes, args.network), Hardware())
        print(f"fleet: {args.nodes} nodes answering SSH in {time.monotonic() - started:.1f}s")
        try:
            runs = {"supercluster facts": [], "parallel-ssh": [], "ansible -m setup": []}
            o_cmd, o_check = ours(fleet, args.nodes, work)
            p_cmd, p_check = pssh(fleet, args.nodes, work)
            a_cmd, a_check, a_env = ansible(fleet, args.nodes, work)
            for i in range(args.repeat):
                runs["supercluster facts"].append(timed(o_cmd, o_check, cwd=ROOT))
                runs["parallel-ssh"].append(timed(p_cmd, p_check))
                runs["ansible -m setup"].append(timed(a_cmd, a_check, env=a_env, cwd=work))
                print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in runs.items()))
        finally:
            fleet.down()
    med = {k: statistics.median(v) for k, v in runs.items()}
    ours_s = med["supercluster facts"]
    # What the CLI costs before the first SSH connection (imports of every subcommand).
    startup = timed(
        [sys.executable, "-m", "infra.cli", "facts", "--help"], lambda p: None, cwd=ROOT
    )
    print(f"\nfacts from {args.nodes} nodes (median of {args.repeat}):")
    for name, seconds in med.items():
        print(f"  {name:20} {seconds:7.2f} s   {seconds / ours_s:5.1f}x supercluster's time")
    print(f"  (supercluster CLI start-up alone, `facts --help`: {startup:.2f} s)")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    vs_pssh = med["parallel-ssh"] / ours_s
    vs_ansible = med["ansible -m setup"] / ours_s
    print(f"target no slower than pssh:   {'met' if vs_pssh >= 1 else 'MISSED'} ({vs_pssh:.2f}x)")
    print(f"target >= 5x faster than Ansible: {'met' if vs_ansible >= 5 else 'MISSED'} "
          f"({vs_ansible:.1f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
