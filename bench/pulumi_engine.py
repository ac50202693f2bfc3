"""The real Pulumi engine on this project: what it costs to build, and how long `pulumi
preview` / `pulumi up` take on the dev stack and on every memphis stack.

Figures:
- the engine's one-time build (build.json, written by scripts/build_pulumi.sh): seconds and
  CLI size, and the size of .venv/lib/pulumi-engine;
- dev: preview and up (both with the policy pack) on a fresh stack, resources created;
- memphis: the site stack, then each hall stack (a hall reads the site stack through a
  StackReference, so the site is deployed first): preview wall time (target <= 60 s),
  resources (target <= 1,500) and up wall time (target <= 120 s) per stack.

Every run happens in a temp project (tests/deploy/engineproject.py: the project's
Pulumi.yaml and stack files copied, infra/ linked, its own state backend, PULUMI_HOME and
passphrase) with supercluster:artifactsDir inside it, so the checkout is never written to;
the temp dir is deleted at the end (no destroy). Wall times are time.perf_counter around
the CLI; CPU is the CLI's and its children's (getrusage(RUSAGE_CHILDREN)): on a shared
machine the wall time counts other people's processes too. A benchmark, not a test: it
exits 0 and lists the targets it missed.

    .venv/bin/python bench/pulumi_engine.py            # dev + all 5 memphis stacks
    .venv/bin/python bench/pulumi_engine.py --quick    # dev + memphis and memphis-hall1
    .venv/bin/python bench/pulumi_engine.py --no-up    # previews only (halls need an up
                                                       # of the site stack, so: site only)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# EngineProject lives with the engine tests (tests/deploy/engineproject.py); it is imported
# from there, not copied, so the benchmark drives the engine exactly as the tests do.
sys.path.insert(0, str(PROJECT_DIR / "tests" / "pulumi"))

from engineproject import CLI, EngineProject  # noqa: E402

ENGINE_VERSION = "v3.274.1"  # PULUMI_CLI in scripts/build_pulumi.sh
POLICY = ("--policy-pack", "infra/deploy/policypack")
SITE = "memphis"
HALLS = tuple(f"memphis-hall{i}" for i in range(1, 5))
PREVIEW_TARGET_S = 60.0
UP_TARGET_S = 120.0
RESOURCE_TARGET = 1500
TIMEOUT_S = 1800.0  # per CLI call: a hung engine fails the line instead of the benchmark


def engine_cache_dir() -> Path:
    root = os.environ.get("SUPERCLUSTER_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "supercluster"
    )
    return Path(root) / "pulumi-engine" / f"cli-{ENGINE_VERSION}"


def tree_bytes(path: Path) -> int:
    """Bytes of the files under path (each inode once: the CLI there is a hard link)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def mib(n: int) -> str:
    return f"{n / 1048576:,.1f} MiB"


@dataclass
class Timed:
    proc: subprocess.CompletedProcess | None
    wall: float
    cpu: float
    error: str = ""  # why the call failed: its last lines, or the timeout

    @property
    def ok(self) -> bool:
        return not self.error


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(project: EngineProject, *args: str) -> Timed:
    """One CLI call: wall (perf_counter) and CPU (the waited-for children) seconds."""
    cpu0, wall0 = children_cpu(), time.perf_counter()
    try:
        proc = project.pulumi(*args, check=False, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        wall = time.perf_counter() - wall0
        return Timed(None, wall, children_cpu() - cpu0, f"timed out after {TIMEOUT_S:.0f} s")
    wall, cpu = time.perf_counter() - wall0, children_cpu() - cpu0
    error = ""
    if proc.returncode != 0:
        text = (proc.stdout + "\n" + proc.stderr).strip().splitlines()
        lines = [ln for ln in text if "error" in ln.lower()] or text
        error = f"exit {proc.returncode}: " + " | ".join(ln.strip() for ln in lines[-3:])
    return Timed(proc, wall, cpu, error)


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []  # figure value cpu target result
        self.missed: list[str] = []
        self.failed: list[str] = []

    def info(self, figure: str, value: str, cpu: str = "") -> None:
        self.rows.append((figure, value, cpu, "", ""))

    def check(self, figure: str, value: float, target: float, fmt: str, cpu: str = "") -> None:
        ok = value <= target
        self.rows.append(
            (figure, fmt.format(value), cpu, "<= " + fmt.format(target), "pass" if ok else "FAIL")
        )
        if not ok:
            self.missed.append(f"{figure}: {fmt.format(value)} (target <= {fmt.format(target)})")

    def time(self, figure: str, t: Timed, target: float | None) -> None:
        cpu = f"{t.cpu:.1f} s"
        if not t.ok:
            tgt = f"<= {target:.1f} s" if target else ""
            self.rows.append((figure, f"{t.wall:.1f} s", cpu, tgt, "ERROR"))
            self.failed.append(f"{figure}: {t.error}")
        elif target is None:
            self.info(figure, f"{t.wall:.1f} s", cpu)
        else:
            self.check(figure, t.wall, target, "{:.1f} s", cpu)

    def skipped(self, figure: str, why: str, target: str = "") -> None:
        self.rows.append((figure, "-", "", target, f"skipped ({why})"))

    def print(self) -> None:
        head = ("figure", "value", "CLI CPU", "target", "result")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(5)]
        line = "  ".join(f"{{:{'<' if i in (0, 4) else '>'}{w}}}" for i, w in enumerate(widths))
        print(line.format(*head).rstrip())
        print("  ".join("-" * w for w in widths))
        for r in self.rows:
            print(line.format(*r).rstrip())


def count_resources(project: EngineProject, stack: str) -> int | None:
    try:
        return len(project.resources(stack))
    except (AssertionError, json.JSONDecodeError, KeyError):
        return None


def planned_creates(t: Timed) -> int | None:
    """Resources a `preview --json` plans to create (the Stack and providers included)."""
    if not t.ok or t.proc is None:
        return None
    try:
        return sum(1 for s in json.loads(t.proc.stdout).get("steps", []) if s["op"] == "create")
    except (json.JSONDecodeError, KeyError):
        return None


def engine_build(report: Report) -> None:
    build = engine_cache_dir() / "build.json"
    if build.is_file():
        info = json.loads(build.read_text())
        report.info(
            f"engine build (one-time, {info.get('version', '?')}, nproc {info.get('nproc', '?')})",
            f"{info.get('build_s', 0):.0f} s",
        )
        report.info("engine CLI size", mib(int(info.get("cli_bytes", 0))))
    else:
        report.info("engine build (one-time)", f"missing: no {build}")
    lib = PROJECT_DIR / ".venv" / "lib" / "pulumi-engine"
    report.info(".venv/lib/pulumi-engine size", mib(tree_bytes(lib)) if lib.is_dir() else "missing")


def deploy(
    report: Report,
    project: EngineProject,
    stack: str,
    label: str,
    up: bool,
    preview_target: float | None,
) -> bool:
    """Preview (and up) one fresh stack; True when it is deployed."""
    project.init(
        stack, {"supercluster:artifactsDir": str(project.root / "artifacts" / "pulumi" / stack)}
    )
    preview = timed(project, "preview", "--json", *POLICY, "--stack", stack)
    report.time(f"{label} preview", preview, preview_target)
    planned = planned_creates(preview)
    if not up:
        if planned is not None and preview_target:
            report.check(f"{label} resources (planned)", planned, RESOURCE_TARGET, "{:,.0f}")
        elif planned is not None:
            report.info(f"{label} resources (planned)", f"{planned:,}")
        return False
    upped = timed(project, "up", "--yes", *POLICY, "--stack", stack)
    report.time(f"{label} up", upped, UP_TARGET_S if preview_target else None)
    count = count_resources(project, stack) if upped.ok else None
    if count is not None:
        if preview_target:
            report.check(f"{label} resources", count, RESOURCE_TARGET, "{:,.0f}")
        else:
            report.info(f"{label} resources created", f"{count:,}")
    elif planned is not None:
        report.check(f"{label} resources (planned)", planned, RESOURCE_TARGET, "{:,.0f}")
    return upped.ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="memphis: only the site stack and memphis-hall1"
    )
    parser.add_argument(
        "--no-up",
        action="store_true",
        help="previews only (a hall stack cannot preview before its site stack is up)",
    )
    args = parser.parse_args(argv)
    if not CLI.exists():
        print(f"error: no Pulumi CLI at {CLI}: run scripts/setup.sh", file=sys.stderr)
        return 0

    report = Report()
    engine_build(report)
    halls = HALLS[:1] if args.quick else HALLS
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-pulumi-engine-") as tmp:
        # All memphis stack files are copied even with --quick: memphis deploys the site
        # layer only because hall stack files point at it.
        project = EngineProject(Path(tmp) / "project", stacks=("dev", SITE, *HALLS))
        deploy(report, project, "dev", "dev", not args.no_up, None)
        site_up = deploy(report, project, SITE, SITE, not args.no_up, PREVIEW_TARGET_S)
        for hall in halls:
            if not site_up:
                why = "previews only" if args.no_up else f"{SITE} up failed"
                report.skipped(f"{hall} preview", why, f"<= {PREVIEW_TARGET_S:.1f} s")
                continue
            deploy(report, project, hall, hall, True, PREVIEW_TARGET_S)
    total = time.perf_counter() - started

    print(
        f"Pulumi engine {ENGINE_VERSION} on this project "
        f"({'quick: memphis + memphis-hall1' if args.quick else 'all memphis stacks'}"
        f"{', previews only' if args.no_up else ''}); {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}; total {total:.0f} s"
    )
    print(
        "Wall times count everything else running on the machine; CLI CPU is the engine's "
        "own (CLI, language host, policy pack, providers)."
    )
    print()
    report.print()
    print()
    if report.failed:
        print("Failed (no figure):")
        for line in report.failed:
            print(f"  {line}")
    if report.missed:
        print("Targets missed:")
        for line in report.missed:
            print(f"  {line}")
    if not report.failed and not report.missed:
        print("All targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
