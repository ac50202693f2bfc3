"""A Spectrum-X fabric's control plane under real software, on this machine: one network
namespace per switch and per node, joined by veth cables named as Cumulus Linux names
the ports (swp1s0 ... on leaves, swpN on spines and cores; the nodes' ends carry the
NIC's device name, mlx5_<rail>), Debian's FRR (zebra + bgpd per switch, configured by
infra/fabric/frr.py from the same SwitchConfig the NVUE files are rendered from) and
lldpd on every namespace.

What a run shows: every designed BGP session Established (BGP unnumbered over IPv6
link-local), every NIC /31 reachable from every other leaf with the designed ECMP width
(nexthops of `show ip route json`), a downed leaf uplink rerouted (the widths shrink to
what the remaining cables give) with the time it took, a ping across the spines on the
data plane before and after, and the cabling validated from `lldpcli -f json show
neighbors` (infra/fabric/lldp.py) with injected faults (swapped, missing cables) found
exactly.

Addresses are the design's, and must be loopback (127.0.0.0/8). Three things make
127/8 routable between namespaces: each namespace's lo keeps 127.0.0.1/32 instead of
127.0.0.1/8 (the /8 would make every 127 address local), net.ipv4.conf.*.route_localnet=1
(the kernel otherwise drops 127/8 as martian on the wire), and the switches announce their
loopback and NIC /31s with BGP `network` statements, because zebra ignores 127/8
interface addresses (see infra/fabric/frr.py). FRR's own RFC 5549 machinery adds a
permanent neighbour entry for 169.254.0.1 on each unnumbered port (zebra's, not an
address of ours; the kernel routes over the IPv6 next hop itself).

Everything started here is stopped here, also on failure or interrupt: each daemon in
its own process group (infra.procs.stop_group), then every namespace deleted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from infra import childenv, procs
from infra.design.ethernet import port_name
from infra.design.model import Design, Link
from infra.errors import EnvironmentProblem, InputError
from infra.fabric.faults import fault_picks
from infra.fabric.frr import bgpd_conf, daemon_conf, zebra_conf
from infra.fabric.lldp import designed_links, parse_neighbors
from infra.fabric.nvue import MTU, SwitchConfig, switch_configs
from infra.fabric.validate import Finding

FRR_DIR = Path("/usr/lib/frr")
FRR_USER = "frr"  # Debian's frr package runs its daemons as frr:frr (vty group frrvty)
TOOLS = ("ip", "vtysh", "lldpd", "lldpcli", "ping")
FAULT_KINDS = ("swap", "down")  # what LLDP can tell: crossed and absent cables
_counter = itertools.count()
# lo comes up with 127.0.0.1/8, whose local route would make every 127 address local to
# each namespace: keep 127.0.0.1 alone, so the others route between namespaces.
LO_FIX = ("link set lo up", "address del 127.0.0.1/8 dev lo", "address add 127.0.0.1/32 dev lo")


class EthSimError(Exception):
    """The simulation could not run (a daemon died, a namespace could not be made...)."""


class MissingEthSimTool(EthSimError, EnvironmentProblem):
    """FRR, lldpd, iproute2 or ping is not installed, or we are not root: exit 3."""


@dataclass(frozen=True)
class EthFault:
    kind: str  # "swap" | "down"
    designed: tuple  # the designed cables it changes, as lldp.designed_links keys

    @property
    def finding_kind(self) -> str:
        return {"swap": "miswired", "down": "missing"}[self.kind]


@dataclass
class Reroute:
    link: str  # the downed cable, "leaf swpN <-> spine swpM"
    seconds: float | None  # link down -> every leaf's routes at the new widths
    ok: bool
    widths_before: dict[str, int]  # leaf -> its ECMP width to a remote NIC, before/after
    widths_after: dict[str, int]
    ping_after: bool | None = None


@dataclass
class EthSimResult:
    stack: str
    switches: int = 0
    nodes: int = 0
    nics: int = 0
    sessions_designed: int = 0
    sessions_up: int = 0
    bgp_converged_s: float | None = None  # daemons started -> every session Established
    routes_converged_s: float | None = None  # daemons started -> every width as designed
    routes_checked: int = 0
    routes_ok: int = 0
    route_problems: list[str] = field(default_factory=list)
    designed_width: dict[str, int] = field(default_factory=dict)  # leaf -> remote NIC width
    ping: bool | None = None
    reroute: Reroute | None = None
    faults: list[EthFault] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    lldp_neighbors: int = 0
    setup_s: float = 0.0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def bgp_ok(self) -> bool:
        return self.sessions_designed > 0 and self.sessions_up == self.sessions_designed

    @property
    def faults_found(self) -> bool:
        """The LLDP validator reported exactly the injected faults, nothing else."""
        want = sorted((f.finding_kind, tuple(f.designed)) for f in self.faults)
        got = sorted((f.kind, tuple(f.designed)) for f in self.findings)
        return want == got

    @property
    def ok(self) -> bool:
        return (
            self.bgp_ok
            and self.routes_checked > 0
            and self.routes_ok == self.routes_checked
            and self.ping is not False
            and (self.reroute is None or self.reroute.ok)
            and self.faults_found
            and not self.errors
        )


def check_environment() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("fabric simulate (spectrum_x): needs root (network namespaces)")
    for name in TOOLS:
        if not (shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")):
            pkg = {"vtysh": "frr", "lldpcli": "lldpd", "ping": "iputils-ping"}.get(name, name)
            problems.append(f"{name} not found: install Debian package {pkg} (scripts/setup.sh)")
    for daemon in ("zebra", "bgpd"):
        if not (FRR_DIR / daemon).exists():
            problems.append(f"{FRR_DIR / daemon} not found: install Debian package frr")
    if problems:
        raise MissingEthSimTool("\n".join(problems))


def sim_design(design: Design, nodes: int | None) -> Design:
    """The design limited to its first `nodes` nodes: the others' NIC ports stay dark and
    are neither cabled, checked nor validated."""
    if nodes is None or nodes >= len(design.nodes):
        return design
    if nodes < 0:
        raise InputError([f"--nodes {nodes}: at least 0"])
    keep = {n.name for n in design.nodes[:nodes]}
    return replace(
        design,
        nodes=design.nodes[:nodes],
        links=tuple(k for k in design.links if k.tier != "node_leaf" or k.a_dev in keep),
        nics_l3=tuple(n for n in design.nics_l3 if n.node in keep),
    )


def inject_faults(
    design: Design, counts: dict[str, int], seed: int = 0
) -> tuple[list[Link], list[EthFault]]:
    """The cabling with `counts` faults ({"swap": 1, "down@leaf_spine": 1, ...}): swapped
    cables exchange their upper ends, downed ones are left out. Each fault takes cables
    no other fault touches, so each is reported on its own."""
    bad = [k for k in counts if k.partition("@")[0] not in FAULT_KINDS]
    if bad:
        raise InputError(
            [f"--fault {k}: a Spectrum-X fabric takes {', '.join(FAULT_KINDS)}" for k in bad]
        )
    rng = random.Random(seed)
    links = list(design.links)
    keys = designed_links(design)
    free = list(range(len(links)))
    rng.shuffle(free)
    faults: list[EthFault] = []

    def take(tier: str | None) -> int:
        i = next((k for k in reversed(free) if tier is None or links[k].tier == tier), None)
        if i is None:
            raise InputError([f"no {tier or 'free'} cable left to fault"])
        free.remove(i)
        return i

    dropped: set[int] = set()
    for want in fault_picks(counts, "swap"):
        i = take(want)
        j = take(links[i].tier)
        a, b = links[i], links[j]
        links[i] = a._replace(b_dev=b.b_dev, b_port=b.b_port)
        links[j] = b._replace(b_dev=a.b_dev, b_port=a.b_port)
        faults.append(EthFault("swap", tuple(sorted([keys[i], keys[j]]))))
    for want in fault_picks(counts, "down"):
        i = take(want)
        dropped.add(i)
        faults.append(EthFault("down", (keys[i],)))
    return [k for n, k in enumerate(links) if n not in dropped], faults


# --- expected routing -------------------------------------------------------------


def fabric_graph(configs: list[SwitchConfig], skip: set[tuple[str, str]] = frozenset()):
    """switch -> [(peer, port name)] over the cabled switch-to-switch ports; `skip` holds
    (switch, port) ends taken down."""
    graph: dict[str, list[tuple[str, str]]] = {c.name: [] for c in configs}
    for c in configs:
        for p in c.fabric_ports:
            if (c.name, p.name) not in skip and (p.peer, p.peer_port) not in skip:
                graph[c.name].append((p.peer, p.name))
    return graph


def ecmp_widths(graph, leaves: list[str]) -> dict[tuple[str, str], int]:
    """(leaf, remote leaf) -> ECMP width BGP installs: the leaf's cables (parallel ones
    each their own session) towards neighbours one hop closer to the remote leaf."""
    out = {}
    for target in leaves:
        dist = {target: 0}
        queue = deque([target])
        while queue:
            u = queue.popleft()
            for v, _ in graph[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        for leaf in leaves:
            if leaf == target or leaf not in dist:
                if leaf != target:
                    out[(leaf, target)] = 0
                continue
            out[(leaf, target)] = sum(1 for v, _ in graph[leaf] if dist.get(v) == dist[leaf] - 1)
    return out


# --- the running fabric -------------------------------------------------------------


class EthFabric:
    """Namespaces, veth cables and daemons of one run; `close()` removes all of it."""

    def __init__(self, design: Design, links: list[Link], workdir: Path):
        self.design = design
        self.links = links
        self.dir = workdir
        self.tag = f"sx{os.getpid()}x{next(_counter)}"
        self.configs = switch_configs(design, links)
        self.by_name = {c.name: c for c in self.configs}
        self.ns: dict[str, str] = {}  # device -> namespace
        self.procs: list[subprocess.Popen] = []
        self.logs: list[object] = []
        self.env = childenv.minimal()

    # setup ----------------------------------------------------------------------

    def _run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> str:
        r = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=self.env, timeout=120
        )
        if check and r.returncode != 0:
            raise EthSimError(f"{' '.join(argv[:6])}: {r.stderr.strip() or r.returncode}")
        return r.stdout

    def up(self) -> None:
        devices = [c.name for c in self.configs]
        nodes = sorted({k.a_dev for k in self.links if k.tier == "node_leaf"})
        for i, name in enumerate(devices + nodes):
            self.ns[name] = f"{self.tag}-{i}"
        self._run(["ip", "-batch", "-"], "".join(f"netns add {n}\n" for n in self.ns.values()))
        sysctls = [
            "net.ipv4.conf.all.route_localnet=1",
            "net.ipv4.conf.default.route_localnet=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
            "net.ipv6.conf.default.accept_dad=0",  # link-local addresses usable at once
        ]
        routers = ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
        for dev, ns in self.ns.items():
            extra = routers if dev in self.by_name else []
            self._run(["ip", "netns", "exec", ns, "sysctl", "-qw", *sysctls, *extra])
        # Cables: one veth pair each, created straight into both namespaces.
        cmds = []
        per_ns: dict[str, list[str]] = defaultdict(list)
        for c in self.configs:
            per_ns[c.name] += [
                *LO_FIX,
                f"address add {c.loopback} dev lo scope global",
            ]
        tier_of = {c.name: c.tier for c in self.configs}
        nic_of = {(n.node, n.rail): n for n in self.design.nics_l3}
        for k in self.links:
            b_if = port_name(tier_of[k.b_dev], k.b_port)
            if k.tier == "node_leaf":
                nic = nic_of[(k.a_dev, k.a_port)]
                a_if = nic.device
            else:
                a_if = port_name(tier_of[k.a_dev], k.a_port)
            cmds.append(
                f"link add {a_if} mtu {MTU} netns {self.ns[k.a_dev]} type veth "
                f"peer name {b_if} mtu {MTU} netns {self.ns[k.b_dev]}\n"
            )
            per_ns[k.a_dev].append(f"link set {a_if} up")
            per_ns[k.b_dev].append(f"link set {b_if} up")
        self._run(["ip", "-batch", "-"], "".join(cmds))
        for c in self.configs:  # the leaf side of each NIC /31, where it is cabled
            per_ns[c.name] += [
                f"address add {p.address} dev {p.name} scope global" for p in c.nic_ports
            ]
        for node in nodes:
            per_ns[node] = [
                *LO_FIX,
                *per_ns[node],
            ]
        cabled_nics = {(k.a_dev, k.a_port) for k in self.links if k.tier == "node_leaf"}
        for n in self.design.nics_l3:
            if (n.node, n.rail) not in cabled_nics:
                continue
            addr = ipaddress.ip_interface(n.address).ip
            table = 100 + n.rail  # per-rail routing, as RoCE hosts do
            per_ns[n.node] += [
                f"address add {n.address} dev {n.device} scope global",
                f"rule add from {addr} table {table}",
                f"route add 127.0.0.0/8 via {n.gateway} dev {n.device} src {addr} "
                f"table {table} onlink",
            ]
        for dev, lines in per_ns.items():
            self._run(["ip", "-n", self.ns[dev], "-batch", "-"], "\n".join(lines) + "\n")
        # Each interface inherited route_localnet from the namespace default; lo predates it.
        for ns in self.ns.values():
            self._run(
                ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.lo.route_localnet=1"]
            )

    def _spawn(self, ns: str, argv: list[str], log: Path) -> subprocess.Popen:
        fh = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.logs.append(fh)
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # its own process group: stop_group reaches it all
        )
        self.procs.append(p)
        return p

    def start_daemons(self) -> None:
        for c in self.configs:
            d = self.dir / c.name
            d.mkdir(parents=True, exist_ok=True)
            shutil.chown(d, FRR_USER, FRR_USER)  # the daemons drop to Debian's frr user
            (d / "zebra.conf").write_text(daemon_conf(zebra_conf(c), c))
            (d / "bgpd.conf").write_text(daemon_conf(bgpd_conf(c, originate="network"), c))
            common = ["--vty_socket", str(d), "-z", str(d / "zserv.api"), "-P", "0",
                      "--limit-fds", "1024"]  # fmt: skip
            ns = self.ns[c.name]
            self._spawn(ns, [str(FRR_DIR / "zebra"), *common, "-i", str(d / "zebra.pid"),
                             "-f", str(d / "zebra.conf"), "--log", f"file:{d}/zebra.log"],
                        d / "zebra.out")  # fmt: skip
        for c in self.configs:  # bgpd after every zebra: it connects to its zserv socket
            d = self.dir / c.name
            common = ["--vty_socket", str(d), "-z", str(d / "zserv.api"), "-P", "0",
                      "--limit-fds", "1024"]  # fmt: skip
            self._spawn(self.ns[c.name], [str(FRR_DIR / "bgpd"), *common, "-i",
                        str(d / "bgpd.pid"), "-f", str(d / "bgpd.conf"), "-p", "179",
                        "--log", f"file:{d}/bgpd.log"], d / "bgpd.out")  # fmt: skip
        lldp = self.dir / "lldpd"
        lldp.mkdir(exist_ok=True)
        for dev, ns in self.ns.items():
            conf = lldp / f"{dev}.conf"
            conf.write_text(
                f"configure system hostname {dev}\n"
                "configure lldp tx-interval 1\n"
                "configure lldp portidsubtype ifname\n"
            )
            self._spawn(
                ns,
                ["lldpd", "-d", "-u", str(lldp / f"{dev}.sock"), "-O", str(conf),
                 "-I", "swp*,mlx5_*"],
                lldp / f"{dev}.log",
            )  # fmt: skip

    def check_daemons(self) -> None:
        dead = [p for p in self.procs if p.poll() is not None]
        if dead:
            argv = " ".join(dead[0].args[4:5]) if isinstance(dead[0].args, list) else ""
            raise EthSimError(
                f"{len(dead)} daemon(s) exited (first: {argv} in {dead[0].args[3]}, "
                f"status {dead[0].returncode}); logs under {self.dir}"
            )

    # queries --------------------------------------------------------------------

    def vtysh(self, switch: str, command: str, daemon: str) -> dict:
        out = self._run(
            ["vtysh", "--vty_socket", str(self.dir / switch), "-d", daemon, "-c", command],
            check=False,
        )
        try:
            return json.loads(out) if out.strip() else {}
        except json.JSONDecodeError:
            return {}

    def sessions(self) -> dict[str, dict[str, str]]:
        """switch -> {port: BGP state} for its unnumbered neighbors."""
        out = {}
        for c in self.configs:
            data = self.vtysh(c.name, "show bgp neighbors json", "bgpd")
            out[c.name] = {
                port: str(info.get("bgpState", "")) for port, info in data.items()
                if isinstance(info, dict)
            }  # fmt: skip
        return out

    def route_widths(self, leaf: str) -> dict[str, int]:
        """prefix -> active next hops of the selected route, on one switch."""
        data = self.vtysh(leaf, "show ip route json", "zebra")
        out = {}
        for prefix, entries in data.items():
            for e in entries if isinstance(entries, list) else []:
                if e.get("selected"):
                    out[prefix] = sum(1 for h in e.get("nexthops", []) if h.get("active"))
        return out

    def lldp(self, device: str) -> dict:
        out = self._run(
            ["lldpcli", "-u", str(self.dir / "lldpd" / f"{device}.sock"), "-f", "json",
             "show", "neighbors"],
            check=False,
        )  # fmt: skip
        try:
            return json.loads(out) if out.strip() else {"lldp": {}}
        except json.JSONDecodeError:
            return {"lldp": {}}

    def ping(self, node: str, src: str, dst: str) -> bool:
        r = subprocess.run(
            ["ip", "netns", "exec", self.ns[node], "ping", "-c", "1", "-W", "2", "-I", src, dst],
            capture_output=True,
            env=self.env,
            timeout=10,
        )
        return r.returncode == 0

    def set_link(self, device: str, port: str, up: bool) -> None:
        self._run(["ip", "-n", self.ns[device], "link", "set", port, "up" if up else "down"])

    # teardown -------------------------------------------------------------------

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                procs.stop_group(p, grace_s=3.0, kill_s=5.0)
        for fh in self.logs:
            with contextlib.suppress(Exception):
                fh.close()
        if self.ns:
            subprocess.run(
                ["ip", "-batch", "-"],
                input="".join(f"netns del {n}\n" for n in self.ns.values()),
                capture_output=True,
                text=True,
                env=self.env,
                check=False,
            )
            # `-batch` stops at its first error: delete any namespace left one by one.
            left = set(self.ns.values()) & set(_netns_list())
            for n in sorted(left):
                subprocess.run(["ip", "netns", "del", n], capture_output=True, check=False)


def _netns_list() -> list[str]:
    try:
        return os.listdir("/run/netns")
    except OSError:
        return []


# --- the run ------------------------------------------------------------------------


def _poll(until, timeout_s: float, interval_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while True:
        value = until()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


def simulate_fabric(
    design: Design,
    faults: dict[str, int] | None = None,
    seed: int = 0,
    timeout_s: float = 90.0,
    down_links: int = 1,
    nodes: int | None = None,
    keep_dir: Path | None = None,
) -> EthSimResult:
    """Bring the fabric up, check it, down `down_links` leaf uplink(s), validate LLDP, tear
    everything down. Raises MissingEthSimTool (exit 3) before starting anything."""
    if design.technology != "spectrum_x" or not design.switches_l3:
        raise InputError(
            [f"{design.stack}: fabric.technology is {design.technology}, not spectrum_x"]
        )
    check_environment()
    start = time.monotonic()
    design = sim_design(design, nodes)
    links, injected = inject_faults(design, faults or {}, seed)
    res = EthSimResult(design.stack, faults=injected)
    res.switches = len(design.switches)
    res.nodes = len({k.a_dev for k in links if k.tier == "node_leaf"})
    res.nics = sum(1 for k in links if k.tier == "node_leaf")
    with tempfile.TemporaryDirectory(prefix="ethfabric-") as tmp:
        os.chmod(tmp, 0o755)  # the FRR daemons (user frr) write their logs under it
        fabric = EthFabric(design, links, Path(tmp))
        try:
            _run_checks(fabric, design, res, timeout_s, down_links, seed, start)
        finally:
            fabric.close()
            if keep_dir is not None:
                shutil.copytree(tmp, keep_dir, dirs_exist_ok=True, ignore=_sockets)
    res.wall_s = time.monotonic() - start
    return res


def _sockets(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n.endswith((".sock", ".api", ".vty"))]


def _run_checks(fabric, design, res, timeout_s, down_links, seed, start) -> None:
    fabric.up()
    res.setup_s = time.monotonic() - start
    t0 = time.monotonic()
    fabric.start_daemons()
    configs = fabric.configs
    designed_sessions = {(c.name, p.name) for c in configs for p in c.fabric_ports}
    res.sessions_designed = len(designed_sessions)

    def all_established():
        fabric.check_daemons()
        up = {(sw, port) for sw, peers in fabric.sessions().items()
              for port, state in peers.items() if state == "Established"}  # fmt: skip
        res.sessions_up = len(up & designed_sessions)
        return res.sessions_up == res.sessions_designed

    if _poll(all_established, timeout_s):
        res.bgp_converged_s = time.monotonic() - t0
    leaves = [c.name for c in configs if c.tier == "leaf"]
    # The NIC /31s each leaf announces: those of its cabled NIC ports (a real leaf's
    # redistribute connected drops the /31 of a port without a cable, too).
    announced = {
        c.name: [(_subnet(p.address), f"{p.peer} {p.peer_port}") for p in c.nic_ports]
        for c in configs
        if c.tier == "leaf"
    }
    designed_graph = fabric_graph(switch_configs(design))
    designed_w = ecmp_widths(designed_graph, leaves)
    res.designed_width = {
        leaf: max((w for (a, _), w in designed_w.items() if a == leaf), default=0)
        for leaf in leaves
    }
    expected = ecmp_widths(fabric_graph(configs), leaves)

    def routes_as_expected(record: bool = False) -> bool:
        checked, ok, problems = check_routes(fabric, announced, expected)
        if record:
            res.routes_checked, res.routes_ok, res.route_problems = checked, ok, problems
        return checked > 0 and ok == checked

    if _poll(routes_as_expected, max(5.0, timeout_s - (time.monotonic() - t0))):
        res.routes_converged_s = time.monotonic() - t0
    routes_as_expected(record=True)
    pairs = _ping_pairs(design, fabric.links, leaves)
    if pairs:
        res.ping = all(fabric.ping(node, src, dst) for node, src, dst in pairs)
    # LLDP before the reroute takes a link down: every cabled port should have a neighbor.
    cabled = {c.name: len(c.ports) for c in configs}

    def lldp_complete():
        outputs = {sw: fabric.lldp(sw) for sw in cabled}
        counts = {sw: len(parse_neighbors(o, sw, sw)) for sw, o in outputs.items()}
        return outputs if all(counts[sw] >= n for sw, n in cabled.items()) else None

    outputs = _poll(lldp_complete, 15.0, 0.5) or {sw: fabric.lldp(sw) for sw in cabled}
    (fabric.dir / "lldp.json").write_text(json.dumps(outputs, indent=1, sort_keys=True))
    neighbors = [nb for sw, o in sorted(outputs.items()) for nb in parse_neighbors(o, sw, sw)]
    res.lldp_neighbors = len(neighbors)
    res.findings = _validate(design, neighbors)
    if down_links:
        res.reroute = _reroute(fabric, leaves, announced, pairs, down_links, seed, timeout_s)


def _validate(design: Design, neighbors) -> list[Finding]:
    """The LLDP validator over the switches' reports (infra.fabric.lldp.validate_lldp)."""
    from infra.fabric.lldp import validate_lldp

    return validate_lldp(design, neighbors) if neighbors else []


def _ping_pairs(design: Design, links: list[Link], leaves: list[str]):
    """One ping per ordered pair of leaves: the first cabled NIC of one to that of the
    other, across the spines (node namespace, source address, destination)."""
    cabled = {(k.a_dev, k.a_port, k.b_dev, k.b_port) for k in links if k.tier == "node_leaf"}
    first = {}
    for n in design.nics_l3:
        if (n.node, n.rail, n.leaf, n.leaf_port) in cabled:
            first.setdefault(n.leaf, n)
    out = []
    for a, b in itertools.permutations([leaf for leaf in leaves if leaf in first], 2):
        src, dst = first[a], first[b]
        out.append((src.node, str(ipaddress.ip_interface(src.address).ip),
                    str(ipaddress.ip_interface(dst.address).ip)))  # fmt: skip
    return out[:12]


def check_routes(fabric: EthFabric, announced, expected) -> tuple[int, int, list[str]]:
    """Every leaf's route to every NIC /31 another leaf announces, against the expected
    ECMP width: (routes checked, routes at that width, the first problems)."""
    checked = ok = 0
    problems: list[str] = []
    for leaf in announced:
        widths = fabric.route_widths(leaf)
        for target, subnets in announced.items():
            if target == leaf:
                continue
            want = expected[(leaf, target)]
            for subnet, label in subnets:
                got = widths.get(subnet, 0)
                checked += 1
                if got == want:
                    ok += 1
                elif len(problems) < 20:
                    problems.append(
                        f"{leaf}: {subnet} ({label} on {target}) {got} next hop(s), expected {want}"
                    )
    return checked, ok, problems


def _subnet(address: str) -> str:
    return str(ipaddress.ip_interface(address).network)


def _reroute(fabric, leaves, announced, pairs, count, seed, timeout_s) -> Reroute:
    """Take `count` leaf uplinks down on the leaf side; time until every leaf's routes to
    every remote NIC have the widths the remaining cables give."""
    rng = random.Random(seed + 1)
    uplinks = sorted((c.name, p.name, p.peer, p.peer_port) for c in fabric.configs
                     if c.tier == "leaf" for p in c.fabric_ports)  # fmt: skip
    downed = rng.sample(uplinks, min(count, len(uplinks)))
    before = ecmp_widths(fabric_graph(fabric.configs), leaves)
    skip = {(sw, port) for sw, port, _, _ in downed}
    after = ecmp_widths(fabric_graph(fabric.configs, skip), leaves)
    t0 = time.monotonic()
    for sw, port, _, _ in downed:
        fabric.set_link(sw, port, up=False)

    def rerouted() -> bool:
        checked, ok, _ = check_routes(fabric, announced, after)
        return checked > 0 and ok == checked

    ok = bool(_poll(rerouted, timeout_s, 0.1))
    seconds = time.monotonic() - t0 if ok else None
    ping = all(fabric.ping(node, src, dst) for node, src, dst in pairs) if pairs else None
    label = "; ".join(f"{sw} {port} <-> {peer} {pport}" for sw, port, peer, pport in downed)

    def per_leaf(w):
        return {
            leaf: max((v for (a, _), v in w.items() if a == leaf), default=0) for leaf in leaves
        }

    return Reroute(
        label, seconds, ok and ping is not False, per_leaf(before), per_leaf(after), ping
    )
