"""Run the node-configuration playbooks through ansible-runner.

What an operator sees: failures and unreachable hosts as they happen; on a terminal (or
with --progress, infra/progress.py) one progress line per task too (hosts ok / changed /
failed / unreachable so far, the current play and task); then a per-host summary table,
the failed and unreachable hosts with their reason, and a retry list (`--limit @<file>`).
Every event of the run stays under the artifacts directory (ansible-runner's
job_events/*.json, stdout, status, rc).

Rolling batches: play keywords cannot read inventory variables, so the batch sizes are
computed here from inventory/group_vars/all/rolling.yml and the stack's inventory (hosts
in design order, one batch per scalable unit or rack after a canary) and passed as extra
vars (supercluster_serial, supercluster_max_fail_percentage) that the plays read.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from infra import childenv
from infra.errors import EnvironmentProblem, InputError
from infra.fsutil import atomic_write
from infra.nodes.inventory import check_defaults
from infra.progress import Progress

# How each SSH path words a host-key refusal: Mitogen, then OpenSSH (changed, unknown).
_HOSTKEY_WORDS = re.compile(
    r"unrecognized or mismatching host key|REMOTE HOST IDENTIFICATION HAS CHANGED"
    r"|Host key verification failed"
)
PLAYBOOKS = ("site", "host", "fabric", "network", "gpu", "nccl", "acceptance", "reboot")
ROLLING_FILE = Path("inventory/group_vars/all/rolling.yml")
STATS_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
# Run directories kept per artifacts dir (each a run's events, stdout, summary and retry
# list); older ones are removed after every run (docs/configuration.md).
KEEP_RUNS = 20
# What ansible-runner (2.4) puts in its child's environment for a playbook run: its event
# callback, where that callback writes, the fact cache it was given, its host key default
# (which ours overrides).
RUNNER_VARS = (
    "ANSIBLE_STDOUT_CALLBACK",
    "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_RETRY_FILES_ENABLED",
    "ANSIBLE_HOST_KEY_CHECKING",
    "ANSIBLE_CACHE_PLUGIN",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "AWX_ISOLATED_DATA_DIR",
    "RUNNER_OMIT_EVENTS",
    "RUNNER_ONLY_FAILED_EVENTS",
)
# Taken from the caller beyond childenv's base: an operator whose SSH keys are in an agent.
CALLER_VARS = ("SSH_AUTH_SOCK",)


@dataclass
class RunResult:
    rc: int
    status: str  # ansible-runner's: successful | failed | timeout | canceled
    artifacts: Path  # this run's events, stdout, status
    stats: dict[str, dict[str, int]]  # host -> ok/changed/failures/dark/skipped/...
    failed: dict[str, str] = field(default_factory=dict)  # host -> first failure reason
    unreachable: dict[str, str] = field(default_factory=dict)
    changed_by_role: Counter = field(default_factory=Counter)  # role -> changed results
    changed_tasks: list[tuple[str, str, str]] = field(default_factory=list)  # host,role,task
    retry_file: Path | None = None
    elapsed_s: float = 0.0

    def summary(self) -> dict:
        """What the run did, per host and in all: summary.json, and configure --json."""
        return {
            "rc": self.rc,
            "status": self.status,
            "stats": self.stats,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "hostkey_refused": self.hostkey_refused,
            "changed_by_role": dict(self.changed_by_role),
            "elapsed_s": round(self.elapsed_s, 2),
        }

    @property
    def changed_hosts(self) -> dict[str, int]:
        return {h: s["changed"] for h, s in self.stats.items() if s["changed"]}

    @property
    def hostkey_refused(self) -> list[str]:
        """Unreachable hosts whose SSH host key did not match known_hosts: a reinstalled
        node, or something answering in its place; not a network fault to retry."""
        return sorted(h for h, why in self.unreachable.items() if _HOSTKEY_WORDS.search(why))


def rolling_settings(project_dir: Path) -> dict:
    path = project_dir / ROLLING_FILE
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    by = (data or {}).get("rolling_batch_by", "su")
    if by not in ("su", "rack", "all"):
        raise InputError([f"{path}: rolling_batch_by must be su, rack or all, not {by!r}"])
    return {
        "by": by,
        "canary": int((data or {}).get("rolling_canary_hosts", 1)),
        "max_fail_percentage": int((data or {}).get("rolling_max_fail_percentage", 0)),
    }


def batch_sizes(hosts: list[str], unit_of: Mapping[str, str], canary: int) -> list[int]:
    """Serial batch sizes over hosts in play order: `canary` hosts first, then the rest of
    each unit (SU or rack) as one batch, so a batch never spans two units."""
    units: list[tuple[str, int]] = []
    for host in hosts:
        unit = unit_of.get(host, "")
        if units and units[-1][0] == unit:
            units[-1] = (unit, units[-1][1] + 1)
        else:
            units.append((unit, 1))
    sizes = [n for _, n in units]
    if canary > 0 and sizes and sizes[0] > canary:
        sizes = [canary, sizes[0] - canary, *sizes[1:]]
    return sizes or [1]


def plan_batches(
    inventory_sources: list[Path], limit: str | None, settings: dict
) -> tuple[int, list[int] | str]:
    """(hosts this run targets, the plays' serial value), hosts in inventory order."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    inv = InventoryManager(loader=DataLoader(), sources=[str(s) for s in inventory_sources])
    if limit:
        inv.subset(limit)
    hosts = inv.get_hosts("gpu_nodes")
    if settings["by"] == "all" or not hosts:
        return len(hosts), "100%"
    # Units from group membership (su_*/rack_* groups the generator writes): host_vars
    # files are read by vars plugins at play time, not by the inventory manager.
    prefix = f"{settings['by']}_"
    unit_of = {
        h.name: next((g.name for g in h.get_groups() if g.name.startswith(prefix)), "")
        for h in hosts
    }
    return len(hosts), batch_sizes([h.name for h in hosts], unit_of, settings["canary"])


class Events:
    """Turns runner events into the run's result and what the operator sees live: each
    failure or unreachable host as it happens (a result: always printed to out), and the
    play headers and per-task tallies (progress: shown by the display when wanted)."""

    def __init__(self, out: TextIO | None, total_hosts: int, display: Progress):
        self.out = out
        self.total = total_hosts
        self.display = display
        self.play = ""
        self.task = ""
        self.task_counts: Counter = Counter()
        self.failed: dict[str, str] = {}
        self.unreachable: dict[str, str] = {}
        self.changed_by_role: Counter = Counter()
        self.changed_tasks: list[tuple[str, str, str]] = []
        self.stats: dict[str, dict[str, int]] = {}

    def _print(self, line: str) -> None:
        if self.out is not None:
            print(line, file=self.out, flush=True)

    def _task_done(self) -> None:
        if self.task and self.task_counts:
            c = self.task_counts
            self.display.line(
                f"  [{len(self.failed)} failed, {len(self.unreachable)} unreachable of "
                f"{self.total} hosts] {self.task}: {c['ok']} ok ({c['changed']} changed), "
                f"{c['failed']} failed, {c['skipped']} skipped"
            )
        self.task_counts = Counter()

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host", "")
        if kind == "playbook_on_play_start":
            self._task_done()
            self.play = data.get("play", "")
            self.display.line(f"PLAY {self.play}")
        elif kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            self._task_done()
            role = data.get("role", "")
            self.task = f"{role} : {data.get('task', '')}" if role else data.get("task", "")
        elif kind == "runner_on_ok":
            self.task_counts["ok"] += 1
            if data.get("res", {}).get("changed"):
                self.task_counts["changed"] += 1
                role = data.get("role", "") or "(play)"
                self.changed_by_role[role] += 1
                self.changed_tasks.append((host, role, data.get("task", "")))
        elif kind == "runner_on_skipped":
            self.task_counts["skipped"] += 1
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            self.task_counts["failed"] += 1
            reason = f"{self.task}: {_reason(data.get('res', {}))}"
            self.failed.setdefault(host, reason)
            self._print(f"  FAILED {host}: {reason}")
        elif kind == "runner_on_unreachable":
            self.task_counts["failed"] += 1
            reason = f"{self.task}: {_reason(data.get('res', {}))}"
            self.unreachable.setdefault(host, reason)
            self._print(f"  UNREACHABLE {host}: {reason}")
        elif kind == "playbook_on_stats":
            self._task_done()
            self.stats = _stats(data)
        return True


def _chain(events: Events, hook: Callable[[dict], None] | None) -> Callable[[dict], bool]:
    def handle(event: dict) -> bool:
        events(event)
        if hook is not None:
            hook(event)
        return True

    return handle


def _reason(res: dict) -> str:
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
    if isinstance(msg, list):
        msg = "; ".join(str(m) for m in msg)
    text = " ".join(str(msg).split())
    return text[:400] or "(no message)"


def _stats(data: dict) -> dict[str, dict[str, int]]:
    hosts = sorted({h for key in STATS_KEYS for h in (data.get(key) or {})})
    return {h: {key: int((data.get(key) or {}).get(h, 0)) for key in STATS_KEYS} for h in hosts}


def summary_table(result: RunResult) -> str:
    head = f"{'host':28} {'ok':>5} {'changed':>8} {'failed':>7} {'unreach':>8} {'skipped':>8}"
    lines = [head, "-" * len(head)]
    for host, s in sorted(result.stats.items()):
        lines.append(
            f"{host:28} {s['ok']:>5} {s['changed']:>8} {s['failures']:>7} {s['dark']:>8} "
            f"{s['skipped']:>8}"
        )
    return "\n".join(lines)


def _strategy_env(strategy: str) -> dict[str, str]:
    """Select a Mitogen strategy (one persistent interpreter per host, no Python start-up
    and module transfer per task). Its plugins ship inside the installed mitogen package,
    whose path differs per machine and venv, so ansible.cfg cannot name them."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        raise EnvironmentProblem(
            f"strategy {strategy}: the Python package mitogen is not installed: "
            "`.venv/bin/pip install -r requirements.lock` (scripts/setup.sh does)"
        )
    plugins = Path(spec.origin).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY": strategy, "ANSIBLE_STRATEGY_PLUGINS": str(plugins)}


def _ssh_env() -> dict[str, str]:
    """Host keys checked, master sockets private. ansible-runner sets
    ANSIBLE_HOST_KEY_CHECKING=False unless its caller sets it, and that outranks ansible.cfg:
    Mitogen then puts `StrictHostKeyChecking no` and `UserKnownHostsFile /dev/null` ahead of
    the inventory's own options (OpenSSH takes the first value), and the ssh plugin puts
    `StrictHostKeyChecking=no` there. True makes Mitogen enforce and the ssh plugin add
    nothing, so the inventory's known_hosts decides."""
    return {
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir()),
    }


# A ControlMaster socket is <dir>/<%C, 40 hex digits>, bound first under that name plus a
# dot and 16 random characters; sun_path holds 107 bytes and a NUL.
_CONTROL_DIR_MAX = 107 - len("/") - 40 - len(".") - 16


def control_dir() -> Path:
    """The private directory (0700, ours) for SSH master sockets: $XDG_RUNTIME_DIR (a
    tmpfs only this user can enter) or ~/.cache, never a fixed name under a world-writable
    /tmp, where another user could create it first and own the sockets. A path too long
    for a socket falls back to a fresh directory of the system's temporary dir."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "supercluster-cp" if runtime else None
    if base is None or not base.parent.is_dir():
        base = Path.home() / ".cache" / "supercluster" / "cp"
    if len(str(base)) > _CONTROL_DIR_MAX:
        return Path(tempfile.mkdtemp(prefix="sc-cp-"))  # 0700, a new name (O_EXCL)
    return private_dir(base)


def private_dir(path: Path) -> Path:
    """Create `path` 0700, or accept it only as a real directory (not a link) this user
    owns, closed to others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise InputError(
            [
                f"{path}: not a directory of this user's (a link, or another user's); SSH "
                "control sockets need a private one: remove it"
            ]
        )
    if st.st_mode & 0o077:
        path.chmod(0o700)  # ours: close it before any socket goes in
    return path


def _child_env(prepared: Mapping[str, str], ours: Mapping[str, str]) -> dict[str, str]:
    """The playbook's environment: childenv's minimal one, what ansible-runner added for
    its event callback and fact cache, and ours. ansible-runner seeds its child with the
    caller's whole environment, operator secrets included (PULUMI_CONFIG_PASSPHRASE,
    SUPERCLUSTER_BMC_PASSWORD), and saves it in <run>/command; ansible-playbook needs none
    of them."""
    env = childenv.minimal(*CALLER_VARS)
    env.update({k: prepared[k] for k in RUNNER_VARS if k in prepared})
    env.update(ours)
    return env


def _run_runner(env: Mapping[str, str], artifacts_dir: Path, keep_runs: int, **kwargs):
    """ansible-runner's run with our environment for the playbook and every file it (and
    Ansible's fact cache) writes private to this user; then the oldest runs beyond
    `keep_runs` go, whatever became of this one."""
    from ansible_runner.interface import init_runner

    try:
        with _private_umask():
            # suppress_env_files: no env/envvars, env/extravars, env/cmdline copies of the
            # arguments in the run directory (extra vars may hold a secret).
            runner = init_runner(**kwargs, envvars=dict(env), suppress_env_files=True)
            # Replaced after ansible-runner prepared it and before it writes <run>/command
            # and starts ansible-playbook, which both read this one attribute.
            runner.config.env = _child_env(runner.config.env, env)
            runner.run()
    finally:
        # Ansible's jsonfile cache chmods every fact file 0644, whatever the umask.
        private_tree(Path(kwargs["fact_cache"]))
        rotate_runs(artifacts_dir, keep_runs)
    return runner


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """Files made meanwhile are 0600, directories 0700: ansible-playbook inherits the
    umask, and Ansible's jsonfile fact cache has no mode setting of its own. Process-wide,
    so only around the run (the CLI runs it on its one thread)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def private_tree(path: Path) -> Path:
    """`path` (ours: the fact cache, a run directory) as a directory only its owner can
    enter, its files 0600: made so, or closed where a run before this rule left it open."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    for entry in path.iterdir():
        st = entry.lstat()
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
            entry.chmod(0o600)
    return path


def _write_private(path: Path, text: str) -> None:
    atomic_write(path, text, 0o600)


def rotate_runs(artifacts_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` run directories under `artifacts_dir` (those that
    hold ansible-runner's `command` record); returns the removed ones. Not ansible-runner's
    rotate_artifacts: it removes the oldest entries of the directory whatever they are,
    the fact cache shared by every run (facts/) included."""
    runs = sorted(
        (p for p in artifacts_dir.iterdir() if _is_run_dir(p)), key=lambda p: p.stat().st_mtime
    )
    old = runs[: max(len(runs) - keep, 0)]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    for path in runs[len(old) :]:
        private_tree(path)  # kept runs from before runs were private
        _scrub_command(path / "command")  # and from before they held a minimal environment
    return old


def _scrub_command(path: Path) -> None:
    """Drop from a run's saved environment what the playbook's own environment would not
    hold today: runs recorded before the minimal environment kept the operator's whole
    one, secrets included."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # not ansible-runner's record: left as it is
    env = record.get("env") if isinstance(record, dict) else None
    if not isinstance(env, dict):
        return
    allowed = {*childenv.BASE_VARS, *RUNNER_VARS, *CALLER_VARS}
    kept = {k: v for k, v in env.items() if k in allowed or k.startswith("ANSIBLE_")}
    if kept != env:
        _write_private(path, json.dumps({**record, "env": kept}))


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and (path / "command").is_file()


def checked_run(project_dir: Path, inventory_dir: Path, playbook: str) -> tuple[Path, Path]:
    """(project dir, inventory dir), resolved, once the playbook is known and the generated
    inventory exists with current shared defaults: the inventory alone, as
    `ansible-playbook -i inventory/<stack>` reads it, carries the shared group_vars
    (defaults.yml)."""
    project_dir, inventory_dir = Path(project_dir).resolve(), Path(inventory_dir).resolve()
    if playbook not in PLAYBOOKS:
        raise InputError([f"--playbook: one of {', '.join(PLAYBOOKS)}, not {playbook!r}"])
    if not (inventory_dir / "hosts.yml").exists():
        raise InputError(
            [f"{inventory_dir}: no inventory; run `supercluster inventory --stack NAME` first"]
        )
    check_defaults(project_dir, inventory_dir)
    return project_dir, inventory_dir


def run(
    *,
    project_dir: Path,
    inventory_dir: Path,
    playbook: str = "site",
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    tags: str | None = None,
    extravars: Mapping | None = None,
    artifacts_dir: Path | None = None,
    ansible_cfg: Path | None = None,
    out: TextIO | None = sys.stdout,
    ident: str | None = None,
    on_event: Callable[[dict], None] | None = None,
    strategy: str | None = "mitogen_linear",
    keep_runs: int = KEEP_RUNS,
    progress: Progress | None = None,
) -> RunResult:
    """Run one playbook against a generated inventory; see the module docstring. Results
    go to out (None: silent); play and task tallies to the progress display (default: on
    stderr when it is a terminal, never when out is None)."""
    if keep_runs < 1:
        raise InputError([f"keep_runs: at least 1 (this run's own directory), not {keep_runs}"])
    project_dir, inventory_dir = checked_run(project_dir, inventory_dir, playbook)
    sources = [inventory_dir]
    settings = rolling_settings(project_dir)
    total, serial = plan_batches(sources, limit, settings)
    vars_ = {
        "supercluster_serial": serial,
        "supercluster_max_fail_percentage": settings["max_fail_percentage"],
        **(extravars or {}),
    }
    # Events, stdout and facts hold host data: each run's directory and the fact cache are
    # this user's alone (the artifacts dir itself is too when we make it; one the caller
    # named keeps its mode).
    artifacts_dir = Path(artifacts_dir or project_dir / "artifacts" / "configure").resolve()
    artifacts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_tree(artifacts_dir / "facts")
    ident = ident or time.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    (artifacts_dir / ident).mkdir(mode=0o700)
    cmdline = " ".join(a for a, on in (("--check", check), ("--diff", diff)) if on)
    env = {
        "ANSIBLE_CONFIG": str(ansible_cfg or project_dir / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(project_dir / "playbooks" / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        **(_strategy_env(strategy) if strategy else {}),
        **_ssh_env(),
        # The venv's ansible-playbook and its modules' helpers, whoever started us.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if progress is None:
        progress = Progress("configure", asked=False if out is None else None)
    events = Events(out, total, progress)
    final = vars_["supercluster_serial"]
    batches = final if isinstance(final, str) else "+".join(map(str, final))
    if out is not None:
        print(
            f"configure: {playbook}.yml on {total} hosts, batches {batches}, "
            f"events under {artifacts_dir / ident}",
            file=out,
            flush=True,
        )
    started = time.monotonic()
    runner = _run_runner(
        env,
        artifacts_dir,
        keep_runs,
        # One private data dir per run: ansible-runner reads env/cmdline and env/extravars
        # from it when an argument is absent, so a shared one would leak --check into the
        # next run.
        private_data_dir=str(artifacts_dir / ident),
        artifact_dir=str(artifacts_dir),
        ident=ident,
        playbook=str(project_dir / "playbooks" / f"{playbook}.yml"),
        inventory=[str(s) for s in sources],
        limit=limit,
        tags=tags,
        extravars=dict(vars_),
        cmdline=cmdline or None,
        # Facts persist across runs (ansible.cfg: gathering = smart, a 2 h cache): a re-run
        # gathers nothing. ansible-runner would otherwise point the cache at a fresh
        # directory per run, overriding ANSIBLE_CACHE_PLUGIN_CONNECTION.
        fact_cache=str(artifacts_dir / "facts"),
        event_handler=_chain(events, on_event),
        quiet=True,
    )
    result = RunResult(
        rc=int(runner.rc if runner.rc is not None else 1),
        status=str(runner.status),
        artifacts=artifacts_dir / ident,
        stats=events.stats,
        failed=events.failed,
        unreachable=events.unreachable,
        changed_by_role=events.changed_by_role,
        changed_tasks=events.changed_tasks,
        elapsed_s=time.monotonic() - started,
    )
    retry = sorted(set(result.failed) | set(result.unreachable))
    if retry:
        result.retry_file = result.artifacts / "retry.txt"
        _write_private(result.retry_file, "".join(f"{h}\n" for h in retry))
    summary = json.dumps(result.summary(), indent=2, sort_keys=True)
    _write_private(result.artifacts / "summary.json", summary)
    return result


def report(result: RunResult, out: TextIO, retry_hint: Callable[[Path], str] | None = None):
    print("", file=out)
    print(summary_table(result), file=out)
    for title, hosts in (("failed", result.failed), ("unreachable", result.unreachable)):
        if hosts:
            print(f"\n{title} hosts:", file=out)
            for host, reason in sorted(hosts.items()):
                print(f"  {host}: {reason}", file=out)
    if result.hostkey_refused:
        print(
            f"\nhost key refused (changed or unknown; check the node was reinstalled, then "
            f"update known_hosts): {', '.join(result.hostkey_refused)}",
            file=out,
        )
    if result.retry_file is not None:
        hint = retry_hint(result.retry_file) if retry_hint else f"--limit @{result.retry_file}"
        print(f"\nretry only these hosts: {hint}", file=out)
    print(
        f"\nconfigure: {result.status} in {result.elapsed_s:.1f}s; events under {result.artifacts}",
        file=out,
    )
