"""One configure run split over several controllers, on ansible-runner's worker protocol.

At a site's size one controller cannot carry a converge (docs/configuration.md has the
arithmetic). The hosts are split into shards of whole scalable units (or racks), one per
controller; each shard's job is packed by `ansible-runner transmit` (the playbooks, the
inventory, the SSH key and known_hosts the nodes need, the arguments), streamed over SSH
into `ansible-runner worker` on its controller (infra/nodes/shardworker.py), and the
events streamed back are read by `ansible-runner process` here: the same three steps AWX
and Ansible Automation Platform run over Receptor, with SSH as the transport.

Every shard keeps the rolling batches (serial, max_fail_percentage) of a direct run; the
site adds one failure budget across shards (rolling_max_fail_percentage of all targeted
hosts): once spent, every shard is stopped. A controller that dies loses its shard only:
the hosts that reached the playbook's last play count as finished, the rest go to the
retry list with the failed and unreachable hosts, and nothing else re-runs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from infra.errors import InputError
from infra.nodes import configure
from infra.progress import Progress

# Copied into each job (the project as the controller needs it): settings, playbooks with
# their roles and files. Rendered fabric files travel too when the stack has them.
PROJECT_FILES = ("ansible.cfg", "playbooks")
REMOTE_ROOT = "/tmp"  # where a controller unpacks a job (its own tmpfs in the simulation)


@dataclass(frozen=True)
class Controller:
    name: str
    ssh: tuple[str, ...]  # argv that runs a command on it (ssh with its options and host)


@dataclass
class Shard:
    index: int
    controller: Controller
    hosts: list[str]
    units: list[str]
    status: str = "pending"  # successful | failed | lost | stopped | error
    cpu_s: float | None = None  # the controller's CPU for this shard (shardworker)
    finished: list[str] = field(default_factory=list)  # hosts that reached the last play
    reason: str = ""
    ssh_rc: int | None = None

    @property
    def unfinished(self) -> list[str]:
        done = set(self.finished)
        return [h for h in self.hosts if h not in done]


@dataclass
class ShardedResult:
    result: configure.RunResult  # merged over every shard: stats, failures, changes
    shards: list[Shard]
    budget: int  # failed + unreachable hosts the site tolerates before stopping all
    stopped: bool  # the budget was spent and every shard was told to stop

    def summary(self) -> dict:
        return {
            **self.result.summary(),
            "budget": self.budget,
            "stopped": self.stopped,
            "shards": [
                {
                    "controller": s.controller.name,
                    "hosts": len(s.hosts),
                    "units": s.units,
                    "status": s.status,
                    "finished": len(s.finished),
                    "unfinished": s.unfinished if s.status in ("lost", "error") else [],
                    "controller_cpu_s": s.cpu_s,
                    "reason": s.reason,
                }
                for s in self.shards
            ],
        }


def controllers_from(names: Sequence[str], sim_connection: Mapping | None) -> list[Controller]:
    """Controllers by name: hosts of the simulated site go through its SSH config (its key
    and known_hosts); others through the operator's own SSH setup, host keys checked."""
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise InputError(["--controllers: name at least one controller host"])
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise InputError([f"--controllers: {', '.join(dupes)} named twice"])
    sim_hosts = (sim_connection or {}).get("hosts", {})
    out = []
    for name in names:
        if name.startswith("-") or any(c.isspace() for c in name):
            raise InputError([f"--controllers: {name!r} is not a host name"])
        base = ("ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes")
        if name in sim_hosts:
            base = (*base, "-F", str(sim_connection["ssh_config"]))
        out.append(Controller(name, (*base, name)))
    return out


def plan_shards(
    inventory_dir: Path, limit: str | None, controllers: list[Controller], by: str
) -> list[Shard]:
    """Whole units (SU, or rack when batches go by rack) to controllers, the largest unit
    first to the least loaded controller: every shard's batches stay whole units."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    inv = InventoryManager(loader=DataLoader(), sources=[str(inventory_dir)])
    if limit:
        inv.subset(limit)
    prefix = "rack_" if by == "rack" else "su_"
    units: dict[str, list[str]] = {}
    for host in inv.get_hosts("gpu_nodes"):
        unit = next((g.name for g in host.get_groups() if g.name.startswith(prefix)), host.name)
        units.setdefault(unit, []).append(host.name)
    if not units:
        raise InputError([f"{inventory_dir}: no gpu_nodes host matches {limit or 'the run'}"])
    shards = [Shard(i, c, [], []) for i, c in enumerate(controllers)]
    for unit, hosts in sorted(units.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shard = min(shards, key=lambda s: (len(s.hosts), s.index))
        shard.units.append(unit)
        shard.hosts.extend(hosts)
    return [s for s in shards if s.hosts]


def last_play(project_dir: Path, playbook: str) -> str:
    """The name of the playbook's last play, following import_playbook: a host with a
    result in it went through the whole playbook."""
    path = project_dir / "playbooks" / f"{playbook}.yml"
    plays = yaml.safe_load(path.read_text()) or []
    for play in reversed(plays):
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if imported:
            return last_play(project_dir, Path(imported).stem)
        return str(play.get("name", ""))
    return ""


def _connection_files(inventory_dir: Path) -> tuple[Path | None, Path | None]:
    """The SSH key and known_hosts the generated inventory points the nodes' logins at."""
    doc = yaml.safe_load((inventory_dir / "hosts.yml").read_text()) or {}
    vars_ = (doc.get("all") or {}).get("vars") or {}
    key = vars_.get("ansible_ssh_private_key_file")
    known = None
    for word in str(vars_.get("ansible_ssh_common_args", "")).split():
        if word.startswith("UserKnownHostsFile="):
            known = word.split("=", 1)[1]
    return (Path(key) if key else None, Path(known) if known else None)


def stage_job(project_dir: Path, inventory_dir: Path, stage: Path, remote: str) -> dict:
    """Lay out a job's private data dir under `stage`: project/ (settings, playbooks),
    inventory/, ssh/ (the nodes' key and known_hosts, when the inventory names them).
    Returns the extra vars that point the logins at those files where the job unpacks."""
    project = stage / "project"
    project.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = project_dir / name
        if src.is_dir():
            shutil.copytree(src, project / name, symlinks=True)
        else:
            shutil.copy2(src, project / name)
    fabric = project_dir / "artifacts" / "fabric"
    if fabric.is_dir():  # the opensm role's rendered files (playbook_dir/../artifacts)
        shutil.copytree(fabric, project / "artifacts" / "fabric", symlinks=True)
    shutil.copytree(inventory_dir, stage / "inventory", symlinks=True)
    key, known = _connection_files(inventory_dir)
    overrides: dict = {}
    ssh = stage / "ssh"
    ssh.mkdir(mode=0o700)
    if key is not None:
        shutil.copy2(key, ssh / "id")
        (ssh / "id").chmod(0o600)
        overrides["ansible_ssh_private_key_file"] = f"{remote}/ssh/id"
    if known is not None:
        shutil.copy2(known, ssh / "known_hosts")
        overrides["ansible_ssh_common_args"] = (
            f"-o UserKnownHostsFile={remote}/ssh/known_hosts -o StrictHostKeyChecking=yes "
            "-o IdentitiesOnly=yes"
        )
    return overrides


def worker_env(remote: str, strategy: str | None) -> dict[str, str]:
    """The playbook's environment on the controller: its copy of the project, the venv at
    the same path as here (controllers carry the project's venv), host keys checked."""
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "ANSIBLE_CONFIG": f"{remote}/project/ansible.cfg",
        "ANSIBLE_ROLES_PATH": f"{remote}/project/playbooks/roles",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "PATH": f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    if strategy:
        env.update(configure._strategy_env(strategy))
    return env


class _Merged:
    """Every shard's events into one Events (one live display, one tally), one at a time;
    the per-shard facts the merge needs (hosts in the last play, stats) kept per shard;
    the site's failure budget watched on the way."""

    def __init__(self, events: configure.Events, budget: int, on_spent: Callable[[], None]):
        self.events = events
        self.lock = threading.Lock()
        self.budget = budget
        self.on_spent = on_spent
        self.spent = False
        self.stats: dict[str, dict[str, int]] = {}
        self.in_last: dict[int, set[str]] = {}
        self.play: dict[int, str] = {}

    def handler(self, shard: Shard, last: str, hook: Callable[[dict], None] | None):
        def handle(event: dict) -> bool:
            kind = event.get("event", "")
            data = event.get("event_data", {})
            with self.lock:
                if kind == "playbook_on_stats":
                    self.stats.update(configure._stats(data))
                    return True
                if kind == "playbook_on_play_start":
                    self.play[shard.index] = data.get("play", "")
                if kind.startswith("runner_on_") and self.play.get(shard.index) == last:
                    self.in_last.setdefault(shard.index, set()).add(data.get("host", ""))
                self.events(event)
                bad = len(set(self.events.failed) | set(self.events.unreachable))
                if bad > self.budget and not self.spent:
                    self.spent = True
                    threading.Thread(target=self.on_spent, daemon=True).start()
            if hook is not None:
                hook(event)
            return True

        return handle


def _stop(shard: Shard, remote: str) -> None:
    """Tell a shard's controller to stop: SIGTERM to the shard's worker (by its pid file),
    which cancels the playbook; a controller that no longer answers is lost anyway."""
    cmd = f"kill -TERM $(cat {remote}.pid) 2>/dev/null || true"
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run([*shard.controller.ssh, cmd], capture_output=True, timeout=30)


def _run_shard(shard: Shard, job: dict, remote: str, local: Path, handle, merged) -> None:
    from ansible_runner.interface import run as runner_run

    with tempfile.TemporaryFile() as stream:
        runner_run(streamer="transmit", _output=stream, **job)
        stream.seek(0)
        worker = f"exec {sys.executable} -m infra.nodes.shardworker --private-data-dir {remote}"
        proc = subprocess.Popen(
            [*shard.controller.ssh, worker],
            stdin=stream,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        reader.start()
        processed = runner_run(
            streamer="process",
            _input=proc.stdout,
            private_data_dir=str(local),
            ident=job["ident"],
            event_handler=handle,
            quiet=True,
        )
        shard.ssh_rc = proc.wait()
        reader.join(timeout=30)
    _read_worker_report(shard, b"".join(err).decode(errors="replace"))
    status = str(processed.status)
    if merged.spent and status != "successful":
        shard.status = "stopped"
    elif shard.ssh_rc == 255 or status == "error":
        shard.status = "lost"  # the stream broke: the controller (or the way to it) died
        shard.reason = shard.reason or "the controller's event stream ended mid-run"
    else:
        shard.status = "successful" if status == "successful" else "failed"


def _read_worker_report(shard: Shard, stderr: str) -> None:
    for line in stderr.splitlines():
        with contextlib.suppress(ValueError):
            report = json.loads(line)
            if isinstance(report, dict) and "controller_cpu_s" in report:
                shard.cpu_s = float(report["controller_cpu_s"])
                continue
        if line.strip() and "controller_cpu_s" not in line:
            shard.reason = line.strip()[:300]  # ssh's own words when the link broke


def run(
    *,
    project_dir: Path,
    inventory_dir: Path,
    controllers: list[Controller],
    playbook: str = "site",
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    tags: str | None = None,
    extravars: Mapping | None = None,
    artifacts_dir: Path | None = None,
    out: TextIO | None = sys.stdout,
    on_event: Callable[[dict], None] | None = None,
    strategy: str | None = "mitogen_linear",
    progress: Progress | None = None,
) -> ShardedResult:
    """configure.run's run, split over `controllers` (see the module docstring)."""
    project_dir, inventory_dir = configure.checked_run(project_dir, inventory_dir, playbook)
    settings = configure.rolling_settings(project_dir)
    shards = plan_shards(inventory_dir, limit, controllers, settings["by"])
    total = sum(len(s.hosts) for s in shards)
    budget = total * settings["max_fail_percentage"] // 100
    artifacts_dir = Path(artifacts_dir or project_dir / "artifacts" / "configure").resolve()
    artifacts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ident = time.strftime("%Y%m%dT%H%M%S-") + f"{time.time_ns() % 16**6:06x}"
    run_dir = artifacts_dir / ident
    run_dir.mkdir(mode=0o700)
    progress = progress or Progress("configure", asked=False if out is None else None)
    events = configure.Events(out, total, progress)
    remotes = {s.index: f"{REMOTE_ROOT}/supercluster-shard-{ident}-{s.index}" for s in shards}
    merged = _Merged(events, budget, lambda: [_stop(s, remotes[s.index]) for s in shards])
    last = last_play(project_dir, playbook)
    if out is not None:
        plan = ", ".join(f"{s.controller.name}: {len(s.hosts)}" for s in shards)
        print(
            f"configure: {playbook}.yml on {total} hosts through {len(shards)} controllers "
            f"({plan}); site failure budget {budget} hosts; events under {run_dir}",
            file=out,
            flush=True,
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="supercluster-jobs-") as staging:
        threads = []
        for s in shards:
            job = _job(
                project_dir, inventory_dir, Path(staging) / str(s.index), remotes[s.index], s,
                playbook, check, diff, tags, extravars, strategy, settings, ident,
            )  # fmt: skip
            handle = merged.handler(s, last, on_event)
            local = run_dir / f"shard{s.index}-{s.controller.name}"
            args = (s, job, remotes[s.index], local, handle, merged)
            threads.append(threading.Thread(target=_guarded, args=args, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for s in shards:
        s.finished = sorted(merged.in_last.get(s.index, set()) & set(s.hosts))
    result = _merged_result(events, merged, shards, run_dir, started)
    configure._write_private(run_dir / "summary.json", json.dumps(
        ShardedResult(result, shards, budget, merged.spent).summary(), indent=2, sort_keys=True
    ))  # fmt: skip
    return ShardedResult(result, shards, budget, merged.spent)


def _guarded(shard: Shard, job: dict, remote: str, local: Path, handle, merged) -> None:
    """A shard whose run could not even start (ssh missing, the job not packable) is an
    error of that shard, not of the others."""
    try:
        _run_shard(shard, job, remote, local, handle, merged)
    except Exception as exc:  # reported per shard, the others go on
        shard.status = "error"
        shard.reason = f"{type(exc).__name__}: {exc}"[:300]


def _job(project_dir, inventory_dir, stage, remote, shard, playbook, check, diff, tags,
         extravars, strategy, settings, ident) -> dict:  # fmt: skip
    """The transmit arguments of one shard's job, its private data dir staged."""
    overrides = stage_job(project_dir, inventory_dir, stage, remote)
    # Exactly the shard's hosts (a retry may hold part of a unit), as a file: a site's
    # shard is thousands of names, past what one command-line argument may hold.
    (stage / "limit.txt").write_text("".join(f"{h}\n" for h in shard.hosts))
    _total, serial = configure.plan_batches([inventory_dir], f"@{stage}/limit.txt", settings)
    cmdline = " ".join(a for a, on in (("--check", check), ("--diff", diff)) if on)
    return {
        "private_data_dir": str(stage),
        "ident": f"{ident}-{shard.index}",
        "playbook": f"playbooks/{playbook}.yml",
        # No `inventory` argument: the job's inventory/ is ansible-runner's default (a
        # relative path here would be taken for inventory text and written into it).
        "limit": f"@{remote}/limit.txt",
        "tags": tags,
        "cmdline": cmdline or None,
        "extravars": {
            "supercluster_serial": serial,
            "supercluster_max_fail_percentage": settings["max_fail_percentage"],
            **(extravars or {}),
            **overrides,
        },
        "envvars": worker_env(remote, strategy),
        "suppress_env_files": True,
    }


def _merged_result(events, merged: _Merged, shards, run_dir: Path, started: float):
    lost = [s for s in shards if s.status in ("lost", "error", "stopped")]
    ok = all(s.status == "successful" for s in shards)
    result = configure.RunResult(
        rc=0 if ok else 1,
        status="successful" if ok else ("canceled" if merged.spent else "failed"),
        artifacts=run_dir,
        stats=merged.stats,
        failed=events.failed,
        unreachable=events.unreachable,
        changed_by_role=events.changed_by_role,
        changed_tasks=events.changed_tasks,
        elapsed_s=time.monotonic() - started,
    )
    retry = set(result.failed) | set(result.unreachable)
    for s in lost:
        retry |= set(s.unfinished)
    if retry:
        result.retry_file = run_dir / "retry.txt"
        configure._write_private(result.retry_file, "".join(f"{h}\n" for h in sorted(retry)))
    return result


def report(sharded: ShardedResult, out: TextIO, retry_hint=None) -> None:
    print("", file=out)
    head = f"{'controller':16} {'hosts':>6} {'finished':>9} {'status':>11} {'ctl CPU s':>10}"
    print(head + "\n" + "-" * len(head), file=out)
    for s in sharded.shards:
        cpu = f"{s.cpu_s:.1f}" if s.cpu_s is not None else "-"
        print(
            f"{s.controller.name:16} {len(s.hosts):>6} {len(s.finished):>9} {s.status:>11} "
            f"{cpu:>10}",
            file=out,
        )
        if s.status in ("lost", "error"):
            shown = ", ".join(s.unfinished[:10]) + (" ..." if len(s.unfinished) > 10 else "")
            print(f"  {s.status}: {s.reason}; not finished: {shown or 'none'}", file=out)
    if sharded.stopped:
        print(
            f"\nsite failure budget ({sharded.budget} hosts) spent: every shard was stopped",
            file=out,
        )
    configure.report(sharded.result, out, retry_hint)
