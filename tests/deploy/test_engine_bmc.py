"""The Redfish `BmcRack` provider under the real Pulumi engine, against the simulated site's
BMCs (sushy-emulator over HTTPS on loopback): `pulumi up` converges every served node,
`refresh` sees a node powered off behind Pulumi's back and the next `up` repairs it,
`destroy` drops the state and the artifacts but leaves the BMCs alone, a BMC that hangs
fails only its rack, and the BMC password never appears in plaintext anywhere the CLI,
the engine or the program wrote.

Every claim about the BMCs is checked with a separate Redfish client (plain `requests`
against the emulator, with the site CA), never with Pulumi's own outputs."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import secrets
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from engineproject import CLI, PROJECT_DIR, EngineProject, steps

from infra.deploy.providers import bmc_targets
from infra.deploy.providers import redfish_ops as ops
from infra.design import compile_design
from infra.design.model import Node
from infra.sim import bmc
from infra.spec import load_spec

pytestmark = pytest.mark.integration

# This module's emulators and fault proxy (tests/deploy/redfish uses 127.0.30.1).
HOST = "127.0.33.1"
STACK = ("--stack", "dev")
BMC_RACK_TYPE = "pulumi-python:dynamic/bmc:BmcRack"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value


def design_nodes() -> list[Node]:
    return compile_design(load_spec("dev", PROJECT_DIR), stack="dev").nodes


def racks_of(nodes: list[Node]) -> dict[str, list[Node]]:
    return bmc_targets.nodes_by_rack(nodes)


# --- a separate Redfish client -------------------------------------------------------


class Redfish:
    """Reads and pokes the emulated BMCs with plain `requests`: no sushy, no provider code."""

    def __init__(self, record: dict, username: str, password: str):
        self.url = record["url"]
        self.systems = record["systems"]
        self.session = requests.Session()
        self.session.auth = (username, password)
        # Per request: a session-wide verify loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify = record["ca_bundle"]

    def _system(self, node: Node) -> str:
        return f"{self.url}/redfish/v1/Systems/{self.systems[node.bmc_ip]['system']}"

    def _get(self, url: str) -> dict:
        response = self.session.get(url, verify=self.verify, timeout=10)
        response.raise_for_status()
        return response.json()

    def state(self, node: Node) -> dict:
        system = self._get(self._system(node))
        bios = self._get(f"{self._system(node)}/BIOS")["Attributes"]
        return {
            "power": system["PowerState"],
            "boot_target": system["Boot"]["BootSourceOverrideTarget"],
            "boot_mode": system["Boot"]["BootSourceOverrideEnabled"],
            "bios": bios,
        }

    def power_off(self, node: Node, wait_s: float = 30) -> None:
        response = self.session.post(
            f"{self._system(node)}/Actions/ComputerSystem.Reset",
            json={"ResetType": "ForceOff"},
            verify=self.verify,
            timeout=10,
        )
        response.raise_for_status()
        deadline = time.monotonic() + wait_s
        while self._get(self._system(node))["PowerState"] != "Off":
            assert time.monotonic() < deadline, f"{node.name} still on {wait_s}s after ForceOff"
            time.sleep(0.5)


def assert_in_profile(redfish: Redfish, nodes: list[Node]) -> None:
    """Power On, boot override Pxe/Once, and the node profile's BIOS, on every node."""
    for node in nodes:
        want = bmc_targets.profile(node)
        have = redfish.state(node)
        assert (have["power"], have["boot_target"], have["boot_mode"]) == ("On", "Pxe", "Once"), (
            node.name,
            have,
        )
        assert {k: have["bios"].get(k) for k in want.bios} == want.bios, (node.name, have)


# --- the simulated site and a project on it ------------------------------------------


@dataclass
class SimSite:
    state_dir: Path
    record_path: Path
    nodes: list[Node]
    username: str
    password: str

    @property
    def record(self) -> dict:
        return json.loads(self.record_path.read_text())

    def redfish(self) -> Redfish:
        return Redfish(self.record, self.username, self.password)


@contextmanager
def sim_site(nodes: list[Node], state_dir: Path) -> Iterator[SimSite]:
    """An emulator serving these nodes' BMCs (all Off, boot Hdd/Continuous, default BIOS)."""
    password = "bmc-pw-" + secrets.token_hex(12)
    emulator = bmc.start_emulator(nodes, state_dir, HOST, bmc.free_port(HOST), password=password)
    try:
        record = bmc.bmc_dir(state_dir) / "endpoint.json"
        yield SimSite(state_dir, record, nodes, emulator.username, password)
    finally:
        bmc.stop_emulator(state_dir)


@dataclass
class BmcProject:
    """An EngineProject whose dev stack manages the site's BMCs; keeps every CLI run."""

    project: EngineProject
    site: SimSite
    artifacts: Path
    runs: list[subprocess.CompletedProcess] = field(default_factory=list)
    written: dict[str, bytes] = field(default_factory=dict)  # every artifact seen on disk

    def pulumi(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        proc = self.project.pulumi(*args, *STACK, **kwargs)
        self.runs.append(proc)
        return proc

    def resources(self) -> list[dict]:
        """The state's resources, through `pulumi stack export` (kept like every run)."""
        return (
            json.loads(self.pulumi("stack", "export").stdout)["deployment"].get("resources") or []
        )

    def bmc_racks(self) -> dict[str, dict]:
        """BmcRack resources in state, by rack."""
        return {
            r["inputs"]["rack"]: r
            for r in self.resources()
            if r["urn"].endswith("-bmcs") and r["type"] == BMC_RACK_TYPE
        }

    def artifact_files(self) -> list[Path]:
        files = files_under(self.artifacts) if self.artifacts.exists() else []
        self.written.update((str(p), p.read_bytes()) for p in files)
        return files

    def ran(self, command: str) -> bool:
        return any(proc.args[1] == command for proc in self.runs)


def bmc_project(
    root: Path, site: SimSite, record_path: Path | None = None, extra: dict | None = None
) -> BmcProject:
    project = EngineProject(root / "project")
    out = BmcProject(project, site, root / "artifacts")
    project.init(
        "dev",
        {
            "supercluster:artifactsDir": str(out.artifacts),
            "supercluster:manageBmcs": "true",
            "supercluster:bmcUsername": site.username,
            "supercluster:bmcSimRecord": str(record_path or site.record_path),
            **(extra or {}),
        },
    )
    # The password goes in on stdin, as a person types it: never on a command line.
    out.pulumi("config", "set", "--secret", "supercluster:bmcPassword", stdin=site.password)
    return out


# --- the lifecycle: up, refresh, destroy on three racks ------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[SimSite]:
    nodes = [n for n in design_nodes() if n.rack in list(racks_of(design_nodes()))[:3]]
    with sim_site(nodes, tmp_path_factory.mktemp("bmc-sim")) as served:
        yield served


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, site: SimSite) -> BmcProject:
    # Every served BMC starts out of profile: the up below has something to do.
    redfish = site.redfish()
    assert all(redfish.state(n)["power"] == "Off" for n in site.nodes)
    out = bmc_project(tmp_path_factory.mktemp("engine-bmc"), site)
    out.first_up = out.pulumi("up", "--yes", "--skip-preview")
    # Kept for the secrets test: the artifacts (destroy removes them), an export of the
    # deployed state (the racks' secret inputs).
    out.artifact_files()
    out.resources()
    return out


def test_up_converges_every_served_node(deployed: BmcProject, site: SimSite) -> None:
    served = racks_of(site.nodes)
    assert len(served) == 3 and len(site.nodes) == 24
    # One BmcRack per served rack, with every served node of that rack and nothing else.
    racks = deployed.bmc_racks()
    assert set(racks) == set(served)
    for rack, nodes in served.items():
        assert [n["address"] for n in racks[rack]["inputs"]["nodes"]] == [n.bmc_ip for n in nodes]
    assert "+ 25 created" in deployed.first_up.stdout  # 21 + 3 BmcRacks + provider
    for rack in racks.values():  # credentials: secret inputs, no outputs
        assert SECRET_SIG in rack["inputs"]["password"], rack["inputs"]["password"]
        assert SECRET_SIG in rack["inputs"]["username"]
        assert not {"username", "password"} & set(rack["outputs"])
    assert_in_profile(site.redfish(), site.nodes)
    # A second preview reads every BMC (diff looks for drift) and finds none.
    proc = deployed.pulumi("preview", "--expect-no-changes", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_refresh_sees_a_node_powered_off_and_up_repairs_it(
    deployed: BmcProject, site: SimSite
) -> None:
    redfish = site.redfish()
    served = racks_of(site.nodes)
    rack = list(served)[1]
    victim = served[rack][3]
    redfish.power_off(victim)  # behind Pulumi's back

    refresh = deployed.pulumi("refresh", "--yes", "--skip-preview", "--json")
    # The refresh read every rack's BMCs and found only this rack changed...
    changed = {k: v for k, v in refresh_ops(refresh.stdout).items() if k != "same"}
    assert changed == {"update": [f"{rack}-bmcs"]}, changed
    state = deployed.bmc_racks()[rack]["outputs"]["state"]
    assert state[victim.name]["power"] == "Off"
    assert state[served[rack][0].name]["power"] == "On"
    # ...and the next preview proposes to update exactly that rack.
    plan = steps(deployed.pulumi("preview", "--json").stdout)
    assert plan.get("update") == [f"{rack}-bmcs"], plan
    assert set(plan) <= {"same", "update"}, plan

    up = deployed.pulumi("up", "--yes", "--skip-preview")
    assert "1 updated" in up.stdout, up.stdout
    assert redfish.state(victim)["power"] == "On"
    assert_in_profile(redfish, site.nodes)
    assert deployed.bmc_racks()[rack]["outputs"]["state"][victim.name]["power"] == "On"


def test_destroy_drops_state_and_artifacts_and_leaves_the_bmcs(
    deployed: BmcProject, site: SimSite
) -> None:
    written = deployed.artifact_files()
    assert len(written) == 3, written  # cabling plan, opensm.conf, inventory
    destroy = deployed.pulumi("destroy", "--yes", "--skip-preview")
    assert "- 25 deleted" in destroy.stdout, destroy.stdout
    assert deployed.artifact_files() == []
    assert deployed.resources() == []
    # Deleting a BmcRack stops managing the rack: no node was powered off or reset.
    assert_in_profile(site.redfish(), site.nodes)


def test_the_bmc_password_is_never_in_plaintext(deployed: BmcProject, site: SimSite) -> None:
    # Run alone, this test still goes through up, refresh and destroy.
    if not deployed.ran("refresh"):
        deployed.pulumi("refresh", "--yes", "--skip-preview")
    if not deployed.ran("destroy"):
        deployed.artifact_files()
        deployed.pulumi("destroy", "--yes", "--skip-preview")
    project, needles = deployed.project, leak_needles(site)
    # The grep finds the password where it belongs: the simulated site's secret store.
    store = bmc.bmc_dir(site.state_dir) / "credentials.json"
    assert leaks(site.state_dir, needles) == [str(store)]

    # The stack file holds the password as ciphertext only.
    secure = project.stack_config("dev")["config"]["supercluster:bmcPassword"]
    assert list(secure) == ["secure"] and len(secure["secure"]) > len(site.password)
    # What is searched below did hold the racks' secret inputs: the state backend keeps
    # every checkpoint (history, backups), the exports were taken while deployed.
    state_files = [p.read_bytes() for p in files_under(project.state)]
    assert any(b"-bmcs" in data and SECRET_SIG.encode() in data for data in state_files)
    exports = [p.stdout for p in deployed.runs if p.args[1:3] == ["stack", "export"]]
    assert any("-bmcs" in text and SECRET_SIG in text for text in exports)
    assert len(deployed.written) == 3  # the artifacts, read before destroy removed them
    assert files_under(project.root / "pulumi-home" / "logs")

    # State backend, PULUMI_HOME (logs, workspaces), HOME and the stack file.
    assert leaks(project.root, needles) == []
    assert [
        p for p, data in deployed.written.items() if any(n.encode() in data for n in needles)
    ] == []
    assert not any(n in project.pulumi("stack", "export", *STACK).stdout for n in needles)
    for proc in deployed.runs:  # every CLI run: config set, up, preview, refresh, export, destroy
        assert not any(n in proc.stdout + proc.stderr for n in needles), proc.args
    assert {"config", "up", "refresh", "destroy"} <= {p.args[1] for p in deployed.runs}


# --- a BMC that hangs ------------------------------------------------------------------


@contextmanager
def hanging_proxy(site: SimSite, hang: Node) -> Iterator[Path]:
    """An HTTPS reverse proxy in front of the emulator (the site CA's certificate for the
    same host) that accepts every request for `hang`'s system and never answers it: on a
    real site, that BMC hangs. The simulated site serves every BMC at one URL, so the hang
    is chosen by system path, not by address. Yields a sim record whose URL is the proxy."""
    bmc_files = bmc.bmc_dir(site.state_dir)
    record = site.record
    upstream, hung_system = record["url"], record["systems"][hang.bmc_ip]["system"]
    released = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if hung_system in self.path:
                released.wait()  # accepted, never answered
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
            # A fresh upstream connection per request: a kept-alive one that the emulator
            # closed in between would reach the provider as a dropped connection.
            headers["Connection"] = "close"
            answer = requests.request(
                self.command,
                upstream + self.path,
                headers=headers,
                data=body,
                verify=record["ca_bundle"],
                timeout=30,
                allow_redirects=False,
            )
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        def log_message(self, *_args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((HOST, bmc.free_port(HOST)), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(bmc_files / "server.pem", bmc_files / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = site.state_dir / "via-proxy.json"
    path.write_text(json.dumps({**record, "url": f"https://{HOST}:{server.server_address[1]}"}))
    try:
        yield path
    finally:
        released.set()
        server.shutdown()
        server.server_close()
        thread.join()


def three_racks_one_hung(slot: int) -> tuple[list[Node], dict[str, list[Node]], str, Node]:
    """Four nodes of each of the first three racks; the third rack's node `slot` hangs."""
    served = dict(list(racks_of(design_nodes()).items())[:3])
    nodes = [n for rack_nodes in served.values() for n in rack_nodes[:4]]
    racks = racks_of(nodes)
    bad_rack = list(racks)[2]
    return nodes, racks, bad_rack, racks[bad_rack][slot]


def test_a_hanging_bmc_fails_only_its_rack(tmp_path_factory) -> None:
    """Three racks of four nodes each; one BMC in the third rack hangs. The stack sets a
    short retry budget (bmcTimeoutS, bmcAttempts) so that the hang costs seconds."""
    # Short, yet long enough for a healthy BMC on a loaded 2-core machine (CI runs it so).
    conn = ops.Connection(timeout_s=5.0, attempts=3)
    nodes, racks, bad_rack, hung = three_racks_one_hung(1)
    root = tmp_path_factory.mktemp("engine-bmc-hang")
    with sim_site(nodes, root / "sim") as site, hanging_proxy(site, hung) as via_proxy:
        budget = {
            "supercluster:bmcTimeoutS": str(conn.timeout_s),
            "supercluster:bmcAttempts": str(conn.attempts),
        }
        out = bmc_project(root, site, record_path=via_proxy, extra=budget)
        started = time.monotonic()
        up = out.pulumi("up", "--yes", "--skip-preview", check=False)
        elapsed = time.monotonic() - started
        text = up.stdout + up.stderr
        assert up.returncode != 0, text
        assert f"{hung.name} ({hung.bmc_ip})" in text, text
        gave_up = f"connect: timed out (gave up after {conn.attempts} attempts)"
        assert f"BMC {hung.bmc_ip}: {gave_up}" in text, text
        # Bounded: every attempt waited its timeout, and then the run ended.
        assert conn.attempts * conn.timeout_s <= elapsed < 180, elapsed
        # The rack with the hung BMC was not created; the others were, and converged.
        assert set(out.bmc_racks()) == set(racks) - {bad_rack}
        redfish = site.redfish()
        assert_in_profile(redfish, [n for n in nodes if n.rack != bad_rack])
        # In the failed rack, the BMCs that answered were converged all the same.
        assert_in_profile(redfish, [n for n in racks[bad_rack] if n != hung])
        assert redfish.state(hung)["power"] == "Off"
        assert not any(n in text for n in leak_needles(site))


def test_an_up_killed_midway_is_finished_by_the_next_up(tmp_path_factory) -> None:
    """The engine runs with PULUMI_SKIP_CHECKPOINTS (docs/pulumi.md): a killed `up` records
    nothing, so what it did must be safe to do again. Kill -9 an up that is stuck on a hung
    BMC after the other racks converged; the next up (BMC back) converges and records all."""
    nodes, racks, bad_rack, hung = three_racks_one_hung(0)
    root = tmp_path_factory.mktemp("engine-bmc-kill")
    with sim_site(nodes, root / "sim") as site, hanging_proxy(site, hung) as via_proxy:
        # Retries ride out the proxy's dropped keep-alive connections; the hung BMC holds.
        budget = {"supercluster:bmcTimeoutS": "120", "supercluster:bmcAttempts": "4"}
        out = bmc_project(root, site, record_path=via_proxy, extra=budget)
        up = subprocess.Popen(
            [str(CLI), "up", "--yes", "--skip-preview", *STACK],
            cwd=out.project.root,
            env=out.project.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group: the kill takes the host and providers
        )
        try:
            redfish = site.redfish()
            others = [n for n in nodes if n.rack != bad_rack]
            deadline = time.monotonic() + 90
            while not all(redfish.state(n)["power"] == "On" for n in others):
                assert up.poll() is None and time.monotonic() < deadline, "up ended or stalled"
                time.sleep(0.5)
            os.killpg(up.pid, 9)
        finally:
            up.wait(timeout=30)
        # The engine starts each plugin in a process group of its own, so the kill took the
        # CLI only. Our language host follows its dead parent and takes the program along;
        # the SDK's dynamic provider host has no such check: it is killed here.
        gone = time.monotonic() + 15
        while any("pulumi-language-python" in cmd for cmd in orphans(out.project.root).values()):
            assert time.monotonic() < gone, orphans(out.project.root)
            time.sleep(0.2)
        for pid in orphans(out.project.root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        # The killed CLI left its lock: the engine says to clear it with `pulumi cancel`.
        locked = out.pulumi("up", "--yes", "--skip-preview", check=False)
        assert locked.returncode != 0 and "the stack is currently locked" in locked.stderr
        out.pulumi("cancel", "--yes")
        # Point the stack at the BMCs directly (the hung one answers again), and go on.
        out.pulumi("config", "set", "supercluster:bmcSimRecord", str(site.record_path))
        again = out.pulumi("up", "--yes", "--skip-preview")
        assert "error" not in again.stdout.lower(), again.stdout
        assert set(out.bmc_racks()) == set(racks)
        assert_in_profile(site.redfish(), nodes)
        artifacts = json.loads(out.pulumi("stack", "output", "--json").stdout)["artifacts"]
        for art in artifacts.values():
            assert hashlib.sha256(Path(art["path"]).read_bytes()).hexdigest() == art["sha256"]
        out.pulumi("preview", "--expect-no-changes")


# --- helpers ---------------------------------------------------------------------------


def refresh_ops(events: str) -> dict[str, list[str]]:
    """op -> resource names, from the event stream of `pulumi refresh --json`."""
    out: dict[str, list[str]] = {}
    for line in events.splitlines():
        done = json.loads(line).get("resOutputsEvent")
        if done:
            out.setdefault(done["metadata"]["op"], []).append(
                done["metadata"]["urn"].rsplit("::", 1)[1]
            )
    return {op: sorted(names) for op, names in out.items()}


def orphans(root: Path) -> dict[int, str]:
    """pid -> command line of the processes the project's CLI started: they inherited its
    environment (PULUMI_HOME under the project dir)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"PULUMI_HOME={root}".encode() in environ:
            found[int(proc.name)] = cmd
    return found


def leak_needles(site: SimSite) -> list[str]:
    """The password, and the Basic auth header a request log would carry."""
    basic = base64.b64encode(f"{site.username}:{site.password}".encode()).decode()
    return [site.password, basic]


def files_under(root: Path) -> list[Path]:
    """Regular files under root, not following symlinks (the project's infra/ link)."""
    out = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                out.append(path)
    return out


def leaks(root: Path, needles: list[str]) -> list[str]:
    return [str(p) for p in files_under(root) if any(n.encode() in p.read_bytes() for n in needles)]
