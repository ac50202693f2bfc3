"""Brings a plane up under ibsim and OpenSM, then looks at it with ibnetdiscover.

ibsim serves the plane's topology (the designed one, or a faulted copy); OpenSM and
ibnetdiscover run unmodified with LD_PRELOAD=libumad2sim.so and SIM_HOST naming the subnet
manager's HCA. Every process runs in a private state directory (umad2sim writes a fake
sysfs into its cwd) with a private IBSIM_SOCKNAME (ibsim's abstract unix sockets) and an
IBSIM_SERVER_PORT in 7070-7079, so parallel runs never meet. Everything started here is
stopped here, whatever happens (process groups, SIGTERM then SIGKILL).
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from infra import childenv, procs
from infra.design.model import Design
from infra.errors import EnvironmentProblem, InputError
from infra.fabric.discovered import parse_discovered
from infra.fabric.faults import Fault, inject
from infra.fabric.guids import ca_guid, port_guid
from infra.fabric.opensm import OpenSmPaths, render_plane
from infra.fabric.pkeys import HcaPkey, read_pkeys
from infra.fabric.plane import PlaneFabric, plane_fabric
from infra.fabric.topology import write_topology
from infra.fabric.validate import Finding, Locator, build_expected, compare

# ibsim 0.10 trains every link at SDR whatever speed is enabled; width is honoured.
SIM_RATE = "4xSDR"
IBSIM_PORTS = range(7070, 7080)
UMAD2SIM_GLOBS = (
    "/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so",
    "/usr/lib/*/umad2sim/libumad2sim.so",
    "/usr/lib*/umad2sim/libumad2sim.so",
    "/usr/local/lib*/umad2sim/libumad2sim.so",
)
# Routing engines that keep a fat tree deadlock-free: ftree, and updn (the fallback
# opensm.conf declares, `routing_engine ftree,updn`). Anything else (minhop, OpenSM's last
# resort when every listed engine fails) can form credit loops: a failure.
DEADLOCK_FREE = ("ftree", "updn")
_ENGINE = re.compile(r"osm_ucast_mgr_process: (\S+) tables configured on all switches")
_STAMP = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d) (\d{6}) ")
_counter = itertools.count()


class SimError(Exception):
    """The simulation could not run (ibsim refused the topology, a tool ran too long...)."""


class MissingSimTool(SimError, EnvironmentProblem):
    """ibsim, OpenSM, infiniband-diags or libumad2sim is not installed: the environment's
    lack (exit 3), not a cabling finding (exit 1)."""


@dataclass
class SimResult:
    plane: str
    subnet_up: bool = False
    routing_engine: str | None = None
    sweep_s: float | None = None
    opensm_wall_s: float = 0.0
    switches_seen: int = 0
    hcas_seen: int = 0
    switches_designed: int = 0
    hcas_designed: int = 0
    faults: list[Fault] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    sockname: str = ""
    discovered: str = ""
    opensm_errors: list[str] = field(default_factory=list)
    opensm_peak_kib: int | None = None  # OpenSM's VmHWM (peak resident set) before it exits
    pkeys: list[HcaPkey] = field(default_factory=list)  # per compute HCA, read back

    @property
    def ftree(self) -> bool:
        return self.routing_engine == "ftree"

    @property
    def routed(self) -> bool:
        """Routed by ftree or the declared deadlock-free fallback (updn)."""
        return self.routing_engine in DEADLOCK_FREE

    @property
    def fell_back(self) -> bool:
        """ftree could not route the fabric as found; the fallback did (worth reporting)."""
        return self.routed and not self.ftree

    @property
    def faults_found(self) -> bool:
        """Validation reported exactly the injected faults: no more, no fewer."""
        want = sorted((f.finding_kind, f.designed) for f in self.faults)
        got = sorted((f.kind, tuple(f.designed)) for f in self.findings)
        return want == got

    @property
    def pkeys_ok(self) -> bool:
        """Every compute HCA the fabric reached is a full member of the compute partition at
        the index NCCL and IPoIB use (one not reached is a cabling finding already)."""
        reached = [p for p in self.pkeys if p.lid is not None]
        return bool(reached) and all(p.ok for p in reached)

    @property
    def ok(self) -> bool:
        return self.subnet_up and self.routed and self.faults_found and self.pkeys_ok


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not path:
        raise MissingSimTool(
            f"{name} not found on PATH or in /usr/sbin:/sbin: install the Debian packages "
            "ibsim-utils, opensm, infiniband-diags (scripts/setup.sh does)"
        )
    return path


def umad2sim() -> str:
    for pattern in UMAD2SIM_GLOBS:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    raise MissingSimTool("libumad2sim.so not found: install libumad2sim0 (ibsim-utils pulls it in)")


def _peak_kib(pid: int) -> int | None:
    """VmHWM of a running process (its peak resident set so far), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _run(
    cmd: list[str],
    env: dict,
    cwd: Path,
    timeout: float,
    pids: list[int],
    peak: dict[str, int] | None = None,
) -> str:
    """Runs cmd to its end; with `peak`, samples its VmHWM (monotonic) every 0.1 s into
    peak["kib"], so the last sample before exit is the process's peak memory."""
    with open(cwd / f"{Path(cmd[0]).name}.out", "w+") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        pids.append(proc.pid)
        deadline = time.monotonic() + timeout
        try:
            while peak is not None and proc.poll() is None:
                kib = _peak_kib(proc.pid)
                if kib:
                    peak["kib"] = max(peak.get("kib", 0), kib)
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(cmd, timeout)
                time.sleep(0.1)
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            raise SimError(f"{Path(cmd[0]).name} ran past {timeout:.0f} s") from exc
        finally:
            procs.stop_group(proc)
        out.seek(0)
        return out.read()


def _wait_ready(proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Network simulator ready" in text:
            return
        if proc.poll() is not None:
            tail = " | ".join(text.strip().splitlines()[-3:])
            raise SimError(f"ibsim exited while loading the topology: {tail}")
        time.sleep(0.05)
    raise SimError(f"ibsim not ready after {timeout:.0f} s")


def _stamp(line: str) -> float | None:
    m = _STAMP.match(line)
    if not m:
        return None
    t = datetime.strptime(m.group(1), "%b %d %H:%M:%S")
    return t.day * 86400 + t.hour * 3600 + t.minute * 60 + t.second + int(m.group(2)) / 1e6


def read_opensm_log(text: str, result: SimResult) -> None:
    """Routing engine actually used, subnet state, sweep time, errors."""
    engines = _ENGINE.findall(text)
    result.routing_engine = engines[-1] if engines else None
    result.subnet_up = "SUBNET UP" in text
    start = end = None
    for line in text.splitlines():
        if start is None and "Entering DISCOVERING state" in line:
            start = _stamp(line)
        if "SUBNET UP" in line:
            end = _stamp(line)
        if " ERR " in line or ("ftree: " in line and ("cannot" in line or "failed" in line)):
            result.opensm_errors.append(line.strip())
    if start is not None and end is not None:
        result.sweep_s = round(end - start, 6)


@dataclass
class Ibsim:
    """A running ibsim for one plane: the process, the environment its clients (OpenSM,
    the diags) share with it, and its private socket name."""

    proc: subprocess.Popen
    env: dict[str, str]
    sockname: str


def start_ibsim(
    fabric: PlaneFabric, net: Path, state: Path, timeout_s: float, *, commands: bool = False
) -> Ibsim:
    """Start ibsim on the topology file `net` in `state` and wait until it serves, sized
    for the plane (its tables default to far fewer nodes than a site plane). `commands`:
    a text stdin pipe for ibsim's console (e.g. `PerformanceSet`, as tests do). The caller
    stops it with procs.stop_group(ibsim.proc)."""
    n = next(_counter)
    sockname = f"supercluster-fabric-{os.getpid()}-{n}"
    # ibsim and OpenSM need no secret of the caller's, and no IBSIM_*/OSM_* setting of
    # its either (e.g. IBSIM_SERVER_NAME would switch ibsim to TCP mode).
    env = childenv.minimal(
        IBSIM_SOCKNAME=sockname,
        IBSIM_SERVER_PORT=str(IBSIM_PORTS[(os.getpid() + n) % len(IBSIM_PORTS)]),
        OSM_CACHE_DIR=str(state),
        OSM_TMP_DIR=str(state),
    )
    nodes = len(fabric.switches) + len(fabric.cas)
    ports = sum(p + 1 for p in fabric.switches.values()) + 2 * len(fabric.cas)
    sizing = ["-N", str(nodes + 16), "-S", str(len(fabric.switches) + 16)]
    sizing += ["-P", str(ports + 64)]
    log_path = state / "ibsim.log"
    console = [] if commands else ["-n"]  # -n: no console (nothing reads our stdin)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [tool("ibsim"), "-s", *console, *sizing, str(net)],
            cwd=state,
            env=env,
            stdin=subprocess.PIPE if commands else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=commands,
        )
    try:
        _wait_ready(proc, log_path, timeout=min(timeout_s, 120))
    except BaseException:
        procs.stop_group(proc)
        raise
    return Ibsim(proc, env, sockname)


def simulate_plane(
    design: Design,
    plane: str,
    faults: dict[str, int] | None = None,
    seed: int = 0,
    timeout_s: float = 300.0,
    keep_dir: Path | None = None,
    qos: bool | None = None,  # None: the design's default (on where storage rides the rails)
    read_back_pkeys: bool = True,  # False: skip the smpquery per HCA (bench/opensm_sweep.py)
) -> SimResult:
    fabric = plane_fabric(design, plane)
    faulted = inject(fabric, faults, seed) if faults else None
    result = SimResult(
        plane=plane,
        switches_designed=len(fabric.switches),
        hcas_designed=len(fabric.cas),
        faults=faulted.faults if faulted else [],
    )
    tool("ibsim")  # every missing tool is said before any work
    opensm, ibnetdiscover, preload = tool("opensm"), tool("ibnetdiscover"), umad2sim()
    state = Path(tempfile.mkdtemp(prefix=f"supercluster-fabric-{plane}-"))
    try:
        paths = OpenSmPaths.under(state)
        for name, text in render_plane(design, fabric, paths, qos=qos).items():
            (state / name).write_text(text)
        net = state / "ibsim.net"
        net.write_text(
            write_topology(
                fabric,
                links=faulted.links if faulted else None,
                port_opts=faulted.port_opts if faulted else None,
                rate=SIM_RATE,
                title=f"plane {plane} for ibsim",
            )
        )
        ibsim = start_ibsim(fabric, net, state, timeout_s)
        sim, env, result.sockname = ibsim.proc, ibsim.env, ibsim.sockname
        result.pids.append(sim.pid)
        try:
            sm_guid = f"0x{port_guid(ca_guid(fabric.sm_ca), 1):016x}"
            client = dict(env, LD_PRELOAD=preload, SIM_HOST=f"H-{ca_guid(fabric.sm_ca):016x}")
            t0 = time.monotonic()
            peak: dict[str, int] = {}
            _run(
                [opensm, "-F", paths_conf(state), "-g", sm_guid, "-o"],
                client,
                state,
                timeout_s,
                result.pids,
                peak,
            )
            result.opensm_wall_s = round(time.monotonic() - t0, 3)
            result.opensm_peak_kib = peak.get("kib")
            read_opensm_log((state / "opensm.log").read_text(errors="replace"), result)
            result.discovered = _run([ibnetdiscover], client, state, timeout_s, result.pids)
            if read_back_pkeys:
                result.pkeys = read_pkeys(
                    tool("smpquery"), list(fabric.compute), result.discovered, client, state,
                    timeout_s, result.pids,
                )  # fmt: skip
        finally:
            procs.stop_group(sim)
        result.switches_seen = result.discovered.count("\nSwitch\t")
        result.hcas_seen = result.discovered.count("\nCa\t")
        found = parse_discovered(result.discovered)
        expected = build_expected(design, [plane], SIM_RATE)
        result.findings = compare(expected, found, Locator(design))
    finally:
        if keep_dir is not None:
            shutil.copytree(state, keep_dir, dirs_exist_ok=True, ignore=_no_sysfs)
        shutil.rmtree(state, ignore_errors=True)
    return result


def _no_sysfs(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n.startswith("sys-")]


def paths_conf(state: Path) -> str:
    return str(state / "opensm.conf")


def leftover_processes(sockname: str) -> list[int]:
    """PIDs of any process still carrying this run's IBSIM_SOCKNAME (should be none)."""
    marker = f"IBSIM_SOCKNAME={sockname}\0".encode()
    left = []
    for env_file in glob.glob("/proc/[0-9]*/environ"):
        try:
            if marker in Path(env_file).read_bytes():
                left.append(int(env_file.split("/")[2]))
        except OSError:
            continue
    return left


# --- Subnet manager failover: a master and a standby OpenSM, the master killed ----------

_SMINFO = re.compile(r"sm guid (0x[0-9a-f]+), activity count \d+ priority (\d+) state (\d+)")


@dataclass
class FailoverResult:
    plane: str
    master: str = ""  # SM host HCA descriptions
    standby: str = ""
    master_guid: str = ""
    standby_guid: str = ""
    sminfo_before: str = ""  # SM port GUID sminfo reported as master, before the kill
    sminfo_after: str = ""  # ... and after the standby took over
    standby_entered_standby: bool = False
    takeover_s: float | None = None  # master killed -> standby logs "Entering MASTER state"
    resweep_s: float | None = None  # standby's MASTER state -> its SUBNET UP
    subnet_up_after: bool = False
    routing_engine_after: str | None = None
    hcas_seen_after: int = 0
    hcas_designed: int = 0
    findings: list[Finding] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    sockname: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.standby_entered_standby
            and self.sminfo_before == self.master_guid
            and self.sminfo_after == self.standby_guid
            and self.takeover_s is not None
            and self.subnet_up_after
            and self.routing_engine_after == "ftree"
            and self.hcas_seen_after == self.hcas_designed
            and not self.findings
        )


def _now_stamp() -> float:
    """Now, on the scale `_stamp` reads OpenSM's (local time) log stamps."""
    t = datetime.now()
    return t.day * 86400 + t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _wait_log(log: Path, text: str, proc: subprocess.Popen | None, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = log.read_text(errors="replace") if log.exists() else ""
        if text in body:
            return body
        if proc is not None and proc.poll() is not None:
            raise SimError(f"OpenSM exited before logging {text!r} ({log.name})")
        time.sleep(0.05)
    raise SimError(f"OpenSM did not log {text!r} within {timeout:.0f} s ({log})")


def _first_stamp(body: str, text: str, after: float = 0.0) -> float | None:
    for line in body.splitlines():
        if text in line:
            t = _stamp(line)
            if t is not None and t >= after:
                return t
    return None


def failover_plane(
    design: Design,
    plane: str,
    timeout_s: float = 120.0,
    qos: bool = True,
    keep_dir: Path | None = None,
) -> FailoverResult:
    """Brings the plane up with its master and first standby OpenSM (each on its own SM
    host's HCA port, each with its own rendered opensm-<host>.conf), kills the master
    (SIGKILL: a crash, not a clean handover) and measures the standby's takeover from the
    log timestamps; then checks the subnet is up again and routed by the new master."""
    fabric = plane_fabric(design, plane)
    if len(fabric.sms) < 2:
        raise InputError(
            [
                f"plane {plane}: {len(fabric.sms)} dedicated subnet manager(s); failover needs "
                "a master and a standby: set fabric.subnet_managers to 2 or more"
            ]
        )
    master, standby = fabric.sms[0], fabric.sms[1]
    result = FailoverResult(plane=plane, master=master, standby=standby)
    result.hcas_designed = len(fabric.cas)
    result.master_guid = f"0x{port_guid(ca_guid(master), 1):016x}"
    result.standby_guid = f"0x{port_guid(ca_guid(standby), 1):016x}"
    tool("ibsim")  # every missing tool is said before any work
    opensm, ibnetdiscover, sminfo, preload = (
        tool("opensm"),
        tool("ibnetdiscover"),
        tool("sminfo"),
        umad2sim(),
    )
    state = Path(tempfile.mkdtemp(prefix=f"supercluster-failover-{plane}-"))
    procs_started: list[subprocess.Popen] = []
    try:
        for name, text in render_plane(design, fabric, OpenSmPaths.under(state), qos=qos).items():
            (state / name).write_text(text)
        net = state / "ibsim.net"
        net.write_text(write_topology(fabric, rate=SIM_RATE, title=f"plane {plane} for ibsim"))
        ibsim = start_ibsim(fabric, net, state, timeout_s)
        sim, env, result.sockname = ibsim.proc, ibsim.env, ibsim.sockname
        procs_started.append(sim)
        result.pids.append(sim.pid)

        def start_sm(ca: str) -> tuple[subprocess.Popen, Path]:
            host = ca.rpartition(" ")[0]
            cwd = state / host  # umad2sim's fake sysfs and OpenSM's cache, per SM
            cwd.mkdir()
            log = cwd / "opensm.log"
            smenv = dict(env, LD_PRELOAD=preload, SIM_HOST=f"H-{ca_guid(ca):016x}")
            smenv["OSM_CACHE_DIR"] = str(cwd)
            with open(cwd / "opensm.out", "w") as out:
                proc = subprocess.Popen(
                    [opensm, "-F", str(state / f"opensm-{host}.conf"), "-f", str(log)],
                    cwd=cwd,
                    env=smenv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs_started.append(proc)
            result.pids.append(proc.pid)
            return proc, log

        client = dict(env, LD_PRELOAD=preload, SIM_HOST=f"H-{ca_guid(fabric.compute[0]):016x}")
        (state / "client").mkdir()

        def master_guid() -> str:
            out = _run([sminfo], client, state / "client", 30, result.pids)
            m = _SMINFO.search(out)
            return f"0x{int(m.group(1), 16):016x}" if m else ""

        m_proc, m_log = start_sm(master)
        _wait_log(m_log, "SUBNET UP", m_proc, timeout_s)
        s_proc, s_log = start_sm(standby)
        _wait_log(s_log, "Entering STANDBY state", s_proc, timeout_s)
        result.standby_entered_standby = True
        result.sminfo_before = master_guid()

        killed_at = _now_stamp()
        procs.signal_group(m_proc.pid, signal.SIGKILL)
        m_proc.wait(timeout=10)
        body = _wait_log(s_log, "Entering MASTER state", s_proc, timeout_s)
        became = _first_stamp(body, "Entering MASTER state")
        result.takeover_s = round(became - killed_at, 3) if became is not None else None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = s_log.read_text(errors="replace")
            up = _first_stamp(body, "SUBNET UP", after=became or 0.0)
            if up is not None and _ENGINE.search(body.split("Entering MASTER state", 1)[1]):
                break
            if s_proc.poll() is not None:
                raise SimError("the standby OpenSM exited after taking over")
            time.sleep(0.05)
        else:
            raise SimError(f"the new master did not bring the subnet up in {timeout_s:.0f} s")
        result.subnet_up_after = True
        result.resweep_s = round(up - became, 3) if became is not None else None
        engines = _ENGINE.findall(body.split("Entering MASTER state", 1)[1])
        result.routing_engine_after = engines[-1] if engines else None
        result.sminfo_after = master_guid()
        discovered = _run([ibnetdiscover], client, state / "client", timeout_s, result.pids)
        result.hcas_seen_after = discovered.count("\nCa\t")
        expected = build_expected(design, [plane], SIM_RATE)
        result.findings = compare(expected, parse_discovered(discovered), Locator(design))
    finally:
        for proc in reversed(procs_started):
            procs.stop_group(proc)
        if keep_dir is not None:
            shutil.copytree(state, keep_dir, dirs_exist_ok=True, ignore=_no_sysfs)
        shutil.rmtree(state, ignore_errors=True)
    return result
