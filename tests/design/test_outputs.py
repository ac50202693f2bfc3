"""Outputs are never clobbered and always whole (infra/fsutil.write_output_dir).

The CLI-level checks run the real `supercluster` command in subprocesses. The fault
tests are deterministic: a sitecustomize on a temp PYTHONPATH replaces the writer's
`_hook` (called between its steps) with one that SIGKILLs the process at a named step,
or holds it there until the test releases it."""

from __future__ import annotations

import errno
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from infra import fsutil
from infra.errors import InputError
from tests.conftest import PROJECT_DIR

CLI = Path(sys.executable).with_name("supercluster")
STEPS = ["locked", "staging", "staged", "swapped", "done"]
AFTER_SWAP = {"swapped", "done"}

SITECUSTOMIZE = """
import errno, os, signal, time
if os.environ.get("SC_FAULT_LOG"):
    import infra.fsutil as fsutil

    def hook(step):
        with open(os.environ["SC_FAULT_LOG"], "a") as fh:
            fh.write(os.environ.get("SC_FAULT_TAG", "run") + " " + step + "\\n")
        if step == os.environ.get("SC_FAULT_KILL_AT"):
            os.kill(os.getpid(), signal.SIGKILL)
        if step == os.environ.get("SC_FAULT_WAIT_AT"):
            deadline = time.monotonic() + 60
            while not os.path.exists(os.environ["SC_FAULT_RELEASE"]):
                if time.monotonic() > deadline:
                    raise SystemExit("never released")
                time.sleep(0.02)

    fsutil._hook = hook
    if os.environ.get("SC_FAULT_NO_EXCHANGE"):
        def no_exchange(a, b):
            raise OSError(errno.EINVAL, "no RENAME_EXCHANGE here (test)")
        fsutil._exchange = no_exchange
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A project with two stacks whose exports differ: dev (the new output) and sp."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Pulumi.dev.yaml").write_text((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    rc = cli("init", "--preset", "superpod", "--sus", "1", "--stack", "sp", "--project-dir", proj)
    assert rc.returncode == 0, rc.stderr
    return proj


@pytest.fixture
def fault_env(tmp_path: Path) -> dict[str, str]:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(p for p in (str(hooks), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "SC_FAULT_LOG": str(tmp_path / "steps.log")}


def cli(*args, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    assert CLI.exists(), f"{CLI}: the project's console script is missing"
    return subprocess.run(
        [str(CLI), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def export(site: Path, stack: str, out: Path, env: dict | None = None, cwd: Path | None = None):
    return cli("export", "--stack", stack, "--project-dir", site, "--out", out, cwd=cwd, env=env)


def tree(root: Path) -> dict[str, object]:
    """Everything under root (hidden files too): relative path -> content, link or mode."""
    snap: dict[str, object] = {}
    if not os.path.lexists(root):
        return snap
    if not root.is_dir() or root.is_symlink():
        return {".": _entry(root)}
    for path in sorted(root.rglob("*")):
        snap[path.relative_to(root).as_posix()] = _entry(path)
    return snap


def _entry(path: Path) -> object:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_dir():
        return ("dir", path.stat().st_mode & 0o7777)
    return ("file", path.read_bytes())


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-"))


def one_error_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# -- refused targets: exit 2, one line naming the path, nothing changed ------------------


@pytest.mark.parametrize("command", [["export"], ["inventory"], ["fabric", "render"]])
def test_out_over_a_foreign_directory_is_refused(site, tmp_path, command):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    before = tree(tmp_path)
    proc = cli(*command, "--stack", "dev", "--project-dir", site, "--out", out)
    one_error_line(proc, str(out), "notes.txt", "not an output")
    assert tree(tmp_path) == before


def test_out_dot_in_a_project_with_git_is_refused(site, tmp_path):
    subprocess.run(["git", "init", "-q", str(site)], check=True)
    (site / "main.py").write_text("print('source')\n")
    before = tree(tmp_path)
    one_error_line(export(site, "dev", Path("."), cwd=site), str(site))
    assert tree(tmp_path) == before


def test_out_over_the_project_from_elsewhere_is_refused(site, tmp_path):
    before = tree(tmp_path)
    one_error_line(export(site, "dev", site.parent), str(site), "holds the project")
    assert tree(tmp_path) == before


def test_out_over_a_file_is_refused(site, tmp_path):
    out = tmp_path / "report.csv"
    out.write_text("a,b\n")
    before = tree(tmp_path)
    one_error_line(export(site, "dev", out), str(out), "not a directory")
    assert tree(tmp_path) == before


def test_out_over_another_commands_output_is_refused(site, tmp_path):
    out = tmp_path / "inv"
    inv = cli("inventory", "--stack", "dev", "--project-dir", site, "--out", out)
    assert inv.returncode == 0, inv.stderr
    before = tree(tmp_path)
    one_error_line(export(site, "dev", out), str(out), "supercluster inventory --stack dev")
    assert tree(tmp_path) == before


def test_out_inside_another_output_is_refused(site, tmp_path):
    out = tmp_path / "exp"
    assert export(site, "dev", out).returncode == 0
    before = tree(tmp_path)
    one_error_line(export(site, "dev", out / "nested"), str(out / "nested"), "inside")
    assert tree(tmp_path) == before


def _read_only(directory: Path, argv: list[str]) -> list[str]:
    """argv run with `directory` read-only: a read-only bind mount in a mount namespace
    of its own (root ignores file modes), or mode 0555 for anyone else."""
    if os.geteuid() == 0:
        script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        return ["unshare", "--mount", "sh", "-c", script, str(directory), *argv]
    directory.chmod(0o555)
    return argv


@pytest.mark.parametrize("existing", [False, True], ids=["new", "own-output"])
def test_out_on_a_read_only_directory_is_one_line_exit_2(site, tmp_path, existing):
    ro = tmp_path / "ro"
    ro.mkdir()
    out = ro / "exp"
    if existing:
        assert export(site, "sp", out).returncode == 0
    before = tree(tmp_path)
    argv = [str(CLI), "export", "--stack", "dev", "--project-dir", str(site), "--out", str(out)]
    proc = subprocess.run(_read_only(ro, argv), capture_output=True, text=True, timeout=300)
    ro.chmod(0o755)
    one_error_line(proc, str(ro), "cannot write the output")
    assert tree(tmp_path) == before


# -- a re-run replaces its own output, whole --------------------------------------------


def test_rerun_replaces_its_own_output_as_a_whole(site, tmp_path):
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    assert export(site, "dev", fresh).returncode == 0
    assert export(site, "sp", out).returncode == 0
    assert tree(out) != tree(fresh)
    (out / "stray.txt").write_text("a file the user put in a generated dir\n")
    proc = export(site, "dev", out)
    assert proc.returncode == 0, proc.stderr
    assert tree(out) == tree(fresh)  # no file of the sp run, no stray file
    assert (out / fsutil.MARKER).read_text().startswith("supercluster export --stack dev\n")
    assert leftovers(out) == []


def test_inventory_rerun_keeps_the_sites_group_vars(site, tmp_path):
    out = tmp_path / "inv"
    argv = ["inventory", "--stack", "dev", "--project-dir", site, "--out", out]
    assert cli(*argv).returncode == 0
    (out / "group_vars" / "all").mkdir(parents=True)
    (out / "group_vars" / "all" / "site.yml").write_text("site_ntp: ntp.example\n")
    (out / "host_vars" / "gone-node.yml").write_text("stale: true\n")
    proc = cli(*argv)
    assert proc.returncode == 0, proc.stderr
    assert (out / "group_vars" / "all" / "site.yml").read_text() == "site_ntp: ntp.example\n"
    assert not (out / "host_vars" / "gone-node.yml").exists()
    assert len(list((out / "host_vars").iterdir())) == 32
    assert leftovers(out) == []


def test_an_unmarked_output_of_an_older_version_is_replaced(tmp_path):
    """Written before the marker existed: every file is one this run writes again."""
    out = tmp_path / "old"
    out.mkdir()
    (out / "a.csv").write_text("old\n")
    fsutil.write_output_dir(out, {"a.csv": "new\n", "b.csv": "b\n"}, command="export")
    assert (out / "a.csv").read_text() == "new\n" and (out / fsutil.MARKER).is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.csv").write_text("old\n")
    (tmp_path / "other" / "mine.txt").write_text("mine\n")
    with pytest.raises(InputError, match=r"mine\.txt"):
        fsutil.write_output_dir(tmp_path / "other", {"a.csv": "new\n"}, command="export")
    assert (tmp_path / "other" / "a.csv").read_text() == "old\n"


@pytest.mark.parametrize("rel", ["../escape.txt", "/etc/escape", "", "a/../../b"])
def test_a_file_path_outside_the_output_is_refused(tmp_path, rel):
    with pytest.raises(InputError, match="not a path inside the output"):
        fsutil.write_output_dir(tmp_path / "o", {rel: "x"}, command="export")
    assert list(tmp_path.iterdir()) == []


# -- faults: a kill at each step leaves the old output whole ----------------------------


def _kill_and_recover(site, tmp_path, fault_env, step, *, exchange: bool):
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    assert export(site, "dev", fresh).returncode == 0
    assert export(site, "sp", out).returncode == 0
    old, new = tree(out), tree(fresh)
    env = {**fault_env, "SC_FAULT_KILL_AT": step}
    if not exchange:
        env["SC_FAULT_NO_EXCHANGE"] = "1"
    killed = export(site, "dev", out, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # it reached `step`
    return out, old, new


@pytest.mark.parametrize("step", STEPS)
def test_kill_at_each_step_leaves_a_whole_output(site, tmp_path, fault_env, step):
    out, old, new = _kill_and_recover(site, tmp_path, fault_env, step, exchange=True)
    assert tree(out) == (new if step in AFTER_SWAP else old)
    if step == "staging":
        assert leftovers(out), "the killed run's partial temp dir (removed by the next run)"
    proc = export(site, "dev", out)
    assert proc.returncode == 0, proc.stderr
    assert tree(out) == new and leftovers(out) == []


@pytest.mark.parametrize("step", ["staged", "aside", "swapped"])
def test_kill_without_rename_exchange_is_recovered_by_the_next_run(site, tmp_path, fault_env, step):
    """The two-rename fallback: a kill between them leaves the old output whole, aside;
    the next run puts it back before anything else, then replaces it."""
    out, old, new = _kill_and_recover(site, tmp_path, fault_env, step, exchange=False)
    if step == "aside":
        assert not out.exists()
        aside = [p for p in leftovers(out) if "aside" in p]
        assert len(aside) == 1 and tree(out.parent / aside[0]) == old
    else:
        assert tree(out) == (new if step in AFTER_SWAP else old)
    env = {**fault_env, "SC_FAULT_NO_EXCHANGE": "1", "SC_FAULT_KILL_AT": "locked"}
    if step == "aside":  # the next run finds the old output back in place, whole
        assert export(site, "dev", out, env=env).returncode == -signal.SIGKILL
        assert tree(out) == old
    proc = export(site, "dev", out, env={**fault_env, "SC_FAULT_NO_EXCHANGE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert tree(out) == new and leftovers(out) == []


@pytest.mark.parametrize("step", ["staged", "swapped"])
def test_killed_inventory_leaves_the_old_inventory(site, tmp_path, fault_env, step):
    out = tmp_path / "inv"
    argv = ["inventory", "--project-dir", site, "--out", out]
    assert cli(*argv, "--stack", "sp").returncode == 0
    (out / "group_vars").mkdir()
    (out / "group_vars" / "site.yml").write_text("k: v\n")
    old = tree(out)
    killed = cli(*argv, "--stack", "dev", env={**fault_env, "SC_FAULT_KILL_AT": step})
    assert killed.returncode == -signal.SIGKILL
    if step == "staged":
        assert tree(out) == old
    else:
        assert (out / fsutil.MARKER).read_text().startswith("supercluster inventory --stack dev")
        assert (out / "group_vars" / "site.yml").read_text() == "k: v\n"
    assert cli(*argv, "--stack", "dev").returncode == 0
    assert leftovers(out) == [] and len(list((out / "host_vars").iterdir())) == 32


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("step", [*STEPS, "aside"])
def test_interrupt_at_each_step_removes_its_temp_dirs(tmp_path, monkeypatch, step, exchange):
    out = tmp_path / "out"
    fsutil.write_output_dir(out, {"a": "old\n", "d/b": "old\n"}, command="export")
    old = tree(out)

    def interrupt(at: str) -> None:
        if at == step:
            raise KeyboardInterrupt

    def no_exchange(a, b):
        raise OSError(errno.EINVAL, "no RENAME_EXCHANGE (test)")

    monkeypatch.setattr(fsutil, "_hook", interrupt)
    if not exchange:
        monkeypatch.setattr(fsutil, "_exchange", no_exchange)
    reached = step != "aside" or not exchange
    if reached:
        with pytest.raises(KeyboardInterrupt):
            fsutil.write_output_dir(out, {"a": "new\n"}, command="export")
    else:
        fsutil.write_output_dir(out, {"a": "new\n"}, command="export")
    assert leftovers(out) == []  # no next run needed
    if reached and step not in AFTER_SWAP:
        assert tree(out) == old
    else:
        assert (out / "a").read_text() == "new\n" and not (out / "d").exists()


# -- concurrency: a second run on the same output waits for the first -------------------


def _stderr_lines(proc: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_a_second_run_waits_for_the_first(site, tmp_path, fault_env):
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    assert export(site, "dev", fresh).returncode == 0
    release = tmp_path / "release"
    argv = [str(CLI), "export", "--project-dir", str(site), "--out", str(out)]
    first_env = {**fault_env, "SC_FAULT_TAG": "first", "SC_FAULT_WAIT_AT": "locked"}
    first_env["SC_FAULT_RELEASE"] = str(release)
    first = subprocess.Popen([*argv, "--stack", "sp"], env=first_env, stdout=subprocess.DEVNULL)
    log = Path(fault_env["SC_FAULT_LOG"])
    _wait_for(lambda: log.exists() and "first locked" in log.read_text(), first)
    second = subprocess.Popen(
        [*argv, "--stack", "dev"],
        env={**fault_env, "SC_FAULT_TAG": "second"},
        stderr=subprocess.PIPE,
        text=True,
    )
    line = _stderr_lines(second).get(timeout=120)
    assert line.startswith(f"waiting for {out.parent / '.out.lock'}"), line
    release.touch()
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    steps = log.read_text().splitlines()
    assert steps.index("first done") < steps.index("second locked")  # one after the other
    assert tree(out) == tree(fresh) and leftovers(out) == []


def _wait_for(condition, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, "the first run ended before it took the lock"
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.02)


def test_three_concurrent_inventory_runs_all_succeed(site, tmp_path):
    out = tmp_path / "inv"
    argv = [str(CLI), "inventory", "--stack", "dev", "--project-dir", str(site), "--out", str(out)]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "abc"]
    codes = [p.wait(timeout=300) for p in runs]
    assert codes == [0, 0, 0], [p.stderr.read() for p in runs]
    assert len(list((out / "host_vars").iterdir())) == 32 and leftovers(out) == []


# -- init --stack: names stay one path component ----------------------------------------


@pytest.mark.parametrize("name", ["x/../../y", "..", "a/b", ".hidden", "a..b", "", "x" * 101])
def test_init_refuses_a_stack_name_that_is_not_one_component(tmp_path, name):
    proj = tmp_path / "deep" / "proj"
    proj.mkdir(parents=True)
    before = tree(tmp_path)
    proc = cli("init", "--preset", "superpod", "--stack", name, "--project-dir", proj)
    assert proc.returncode == 2 and "a stack name is" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree(tmp_path) == before


def test_init_never_overwrites_without_force(tmp_path):
    init = ["init", "--preset", "superpod", "--stack", "s1", "--project-dir", tmp_path]
    path = tmp_path / "Pulumi.s1.yaml"
    path.write_text("mine\n")
    one_error_line(cli(*init), str(path), "--force")
    assert path.read_text() == "mine\n"
    link = tmp_path / "Pulumi.s2.yaml"
    link.symlink_to(tmp_path / "elsewhere.yaml")  # dangling: exists as a name all the same
    one_error_line(cli(*init[:3], "--stack", "s2", *init[5:]), str(link))
    assert link.is_symlink() and not (tmp_path / "elsewhere.yaml").exists()
    assert cli(*init, "--force").returncode == 0
    assert "supercluster:cluster" in path.read_text()
