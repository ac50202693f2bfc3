"""Parsers and shell sections for the acceptance checks beyond the basic facts: PCIe links
(`lspci -vv` LnkSta), XID errors (`dmesg` "NVRM: Xid"), the fabric manager unit, the driver's
kernel module flavour (/proc/driver/nvidia/version), and the benchmarks (perftest's
ib_write_bw table, nccl-tests' all_reduce_perf table, `dcgmi diag`'s result table).

Each parser reads the tool's documented output format: the simulated nodes' fixtures
(infra/sim/fixtures) print exactly that, so what is tested here is what runs on real nodes.
"""

from __future__ import annotations

import re
import shlex

from infra.fleet.roce import SIM_SYSFS

SIM_DATA = SIM_SYSFS.rsplit("/", 1)[0]  # /usr/share/supercluster-sim

# Sections run within the facts command (one SSH session per node).
SECTIONS: dict[str, str] = {
    # NVIDIA (10de) and Mellanox/NVIDIA networking (15b3) devices with their capabilities.
    "lspci": "lspci -D -vv -d 10de: && lspci -D -vv -d 15b3:",
    # Each RDMA device's PCI function and NUMA node (the sysfs-like tree on simulated nodes).
    "hca_pci": (
        f"r=/sys; [ -d {SIM_SYSFS}/class/infiniband ] && r={SIM_SYSFS}; "
        'for d in "$r"/class/infiniband/*; do [ -e "$d/device" ] || continue; '
        'p=$(readlink -f "$d/device"); n=-1; '
        '[ -r "$d/device/numa_node" ] && read -r n < "$d/device/numa_node"; '
        'echo "${d##*/} ${p##*/} $n"; done; true'
    ),
    # Kernel messages since boot; only the XID lines are kept.
    "xid": (
        "o=$(dmesg 2>&1) && { printf '%s\\n' \"$o\" | grep 'NVRM: Xid'; true; } "
        '|| { printf "%s\\n" "$o"; false; }'
    ),
    # `systemctl is-active` prints the state (active, inactive, failed...), exit 0 if active.
    # Namespace-simulated nodes run no systemd: their fixture file holds the unit's state.
    "fabricmanager": (
        f"s={SIM_DATA}/fabricmanager.state; "
        'if [ -r "$s" ]; then read -r s < "$s"; '
        'echo "$s"; [ "$s" = active ]; else systemctl is-active nvidia-fabricmanager; fi'
    ),
    # "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.90.07 ..." on the open
    # modules, "NVIDIA UNIX x86_64 Kernel Module  550.90.07 ..." on the proprietary ones.
    "nvidia_version": (
        f"f=/proc/driver/nvidia/version; [ -r {SIM_DATA}/proc-driver-nvidia-version ] && "
        f'f={SIM_DATA}/proc-driver-nvidia-version; c "$f"'
    ),
}

_GT_TO_GEN = {"2.5": 1, "5": 2, "8": 3, "16": 4, "32": 5, "64": 6}
_DEVICE = re.compile(r"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]) (.*)$")
_LNKSTA = re.compile(r"LnkSta:\s*Speed ([0-9.]+)GT/s[^,]*, Width x(\d+)")


def pci_key(address: str) -> str:
    """`00000000:18:00.0` / `0000:18:00.0` / `18:00.0` -> `18:00.0` (one PCI domain)."""
    return ":".join(address.strip().lower().rsplit(":", 2)[-2:])


def parse_lspci(text: str) -> dict[str, dict]:
    """`lspci -D -vv`: {bus:dev.fn: {"description", "gen", "width"}} from each device's
    header line and its Express capability's `LnkSta: Speed 32GT/s, Width x16` line
    (`(downgraded)` / `(ok)` annotations of newer pciutils ignored)."""
    devices: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        if m := _DEVICE.match(line):
            current = {"description": m.group(3), "gen": None, "width": None}
            devices[m.group(2).lower()] = current
        elif current is not None and (m := _LNKSTA.search(line)):
            current["gen"] = _GT_TO_GEN.get(m.group(1).rstrip("0").rstrip(".") or m.group(1))
            current["width"] = int(m.group(2))
    return devices


def parse_hca_pci(text: str) -> dict[str, dict]:
    """`mlx5_0 0000:19:00.0 0` lines -> {device: {"pci": "19:00.0", "numa": 0}}."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and re.fullmatch(r"-?\d+", fields[2]):
            out[fields[0]] = {"pci": pci_key(fields[1]), "numa": int(fields[2])}
    return out


_XID = re.compile(r"NVRM: Xid \((?:PCI:)?([0-9a-fA-F:.]+)\): (\d+)")


def parse_xid(text: str) -> list[dict]:
    """`NVRM: Xid (PCI:0000:18:00): 79, pid=..., GPU has fallen off the bus.` lines."""
    return [
        {"pci": m.group(1).lower(), "xid": int(m.group(2)), "line": line.strip()}
        for line in text.splitlines()
        if (m := _XID.search(line))
    ]


def open_kernel_module(text: str) -> bool | None:
    """/proc/driver/nvidia/version: True on the open GPU kernel modules, None if unreadable."""
    if "NVRM version" not in text:
        return None
    return "Open Kernel Module" in text


def kernel_at_least(release: str, major: int, minor: int) -> bool:
    m = re.match(r"(\d+)\.(\d+)", release or "")
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (major, minor)


# --- benchmarks ---------------------------------------------------------------------------


def benchmark_sections(
    rails: list[tuple[int, str]], gpus: int, catalogue, dcgm_level: int | None = None
) -> dict[str, str]:
    """The benchmark sections: ib_write_bw per rail (loopback through the HCA's port, GPU
    memory of the rail's GPU, NUMA-bound to the HCA's node; all rails at once, each on its
    own port), all_reduce_perf on the node's GPUs, dcgmi diag at the catalogue's level."""
    c = catalogue
    dmabuf = " --use_cuda_dmabuf" if c.rdma_stack == "distro" else ""
    sections: dict[str, str] = {}
    if rails:
        starts, clients = [], []
        for rail, dev in rails:
            gpu = rail % gpus if gpus else 0
            port = c.ib_write_bw_port_base + rail
            args = (
                f"ib_write_bw -d {shlex.quote(dev)} --use_cuda={gpu}{dmabuf} "
                f"-s {c.ib_write_bw_message_bytes} -D {c.ib_write_bw_seconds} "
                f"-F --report_gbits -p {port}"
            )
            numa = (
                f'n=-1; [ -r "$r/class/infiniband/{dev}/device/numa_node" ] && '
                f'read -r n < "$r/class/infiniband/{dev}/device/numa_node"; '
                'b=; [ "$n" -ge 0 ] && b="numactl --cpunodebind=$n --membind=$n"; '
            )
            starts.append(f"{numa}$b {args} >/dev/null 2>&1 &")
            clients.append(f'{numa}$b {args} localhost > "$t/{dev}" 2>&1 &')
        prelude = (
            f"r=/sys; [ -d {SIM_SYSFS}/class/infiniband ] && r={SIM_SYSFS}; "
            "t=$(mktemp -d); " + " ".join(starts) + " sleep 1; " + " ".join(clients) + " wait; "
        )
        # One section holds every rail's client output, each behind an "@rail dev" line.
        sections["ib_write_bw"] = (
            prelude
            + 'for f in "$t"/*; do echo "@rail ${f##*/}"; c "$f"; done; '
            + 'rm -rf "$t"; true'
        )
    if gpus and c.nccl_busbw_gbps_min:
        sizes = sorted(c.nccl_busbw_gbps_min)
        sections["nccl"] = f"all_reduce_perf -b {sizes[0]} -e {sizes[-1]} -f 2 -g {gpus}"
    level = c.dcgm_diag_level if dcgm_level is None else dcgm_level
    if level:
        sections["dcgm"] = f"dcgmi diag -r {int(level)}"
    return sections


_BW_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$")


def parse_ib_write_bw(text: str) -> dict[str, float | None]:
    """The "@rail dev" blocks of perftest's client output: {device: BW average (Gb/s)} from
    the result row under `#bytes #iterations BW peak[Gb/sec] BW average[Gb/sec]
    MsgRate[Mpps]` (None where no row came: the test failed)."""
    out: dict[str, float | None] = {}
    dev = None
    for line in text.splitlines():
        if line.startswith("@rail "):
            dev = line.split()[1]
            out[dev] = None
        elif dev and (m := _BW_ROW.match(line)):
            out[dev] = float(m.group(4))
    return out


def parse_all_reduce(text: str) -> dict[int, float]:
    """nccl-tests' table: {size (bytes): out-of-place busbw (GB/s)} from the rows
    `size count type redop root time algbw busbw #wrong time algbw busbw #wrong`."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 9 and fields[0].isdigit() and fields[1].isdigit():
            try:
                out[int(fields[0])] = float(fields[7])
            except ValueError:
                continue
    return out


_DCGM_ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*(Pass|Fail|Skip|Warn)\b([^|]*)\|", re.IGNORECASE)


def parse_dcgm_diag(text: str) -> list[tuple[str, str]]:
    """`dcgmi diag -r N`'s table: [(test, result...)] for each row whose result column
    starts with Pass, Fail, Skip or Warn (metadata rows are not results)."""
    return [
        (m.group(1), (m.group(2) + m.group(3)).strip())
        for line in text.splitlines()
        if (m := _DCGM_ROW.match(line))
    ]


# --- across nodes: a leaf pair, an SU -----------------------------------------------------

NCCL_SCOPES = ("node", "pair", "su")


def nccl_groups(nodes: list[tuple[str, str, int]], scope: str) -> list[list[str]]:
    """Which nodes run one all_reduce together. `nodes`: (name, SU, index). `pair`: two
    nodes of one SU in index order (a rail-optimised SU puts every node under the same rail
    leaves, so a pair's traffic turns at the leaves; an odd last node joins the pair before
    it); `su`: every node of the SU (all its leaves). `node`: none (the per-node test)."""
    if scope not in NCCL_SCOPES:
        raise ValueError(f"acceptance_nccl_scope must be one of {', '.join(NCCL_SCOPES)}")
    if scope == "node":
        return []
    by_su: dict[str, list[tuple[int, str]]] = {}
    for name, su, index in nodes:
        by_su.setdefault(su, []).append((index, name))
    groups = []
    for su in sorted(by_su):
        names = [n for _, n in sorted(by_su[su])]
        if scope == "su":
            groups.append(names)
            continue
        pairs = [names[i : i + 2] for i in range(0, len(names) - 1, 2)]
        if len(names) % 2 and pairs:
            pairs[-1].append(names[-1])
        groups += pairs
    return [g for g in groups if len(g) > 1]


def mpirun_argv(addresses: list[str], gpus: int, sizes: list[int]) -> list[str]:
    """Open MPI launch of all_reduce_perf, one rank per GPU, bound to the GPU's NUMA node;
    NCCL reads its settings (NCCL_IB_HCA...) from each node's /etc/nccl.conf."""
    hosts = ",".join(f"{a}:{gpus}" for a in addresses)
    return [
        "mpirun", "--allow-run-as-root", "-np", str(gpus * len(addresses)), "-H", hosts,
        "--bind-to", "numa", "-x", "LD_LIBRARY_PATH",
        "all_reduce_perf", "-b", str(min(sizes)), "-e", str(max(sizes)), "-f", "2", "-g", "1",
    ]  # fmt: skip
