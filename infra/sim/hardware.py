"""Hardware that test nodes pretend to have: what nvidia-smi, ibstat and /proc/modules say.

The simulated nodes have no GPUs or HCAs, so test nodes carry fixture tools
(fixtures/nvidia-smi, fixtures/ibstat) that print files rendered here. The renderings follow
the real tools' formats, so the parsers in infra/fleet read them exactly as they would read
a real node:
- `nvidia-smi -q -x`: the nvidia_smi_log XML of NVML's nvsmi_device_v12 DTD (R535+),
- `nvidia-smi nvlink -s`: per-GPU "Link N: 26.562 GB/s" / "Link N: <inactive>" lines,
- `ibstat`: one "CA 'mlx5_N'" block per HCA with its "Port 1:" block,
- /proc/modules: "name size refcount deps state offset" lines.
A node whose NICs run Ethernet (`link_layer="Ethernet"`: RoCE v2 on a Spectrum-X fabric)
also gets, since no RDMA device exists here, a sysfs-like tree under SYSFS_DIR
(class/infiniband/<dev>/device/net/<netdev>, ports/1/gid_attrs/types/<i>, class/net/<netdev>/mtu)
and the mlnx-tools stand-ins fixtures/mlnx_qos and fixtures/cma_roce_mode, which print what
the real tools print and keep what they are told to set (so a role's settings can be read
back and faults injected the way an operator would cause them).
Each node is parametrised (GPU count, driver, a rail down, peermem missing...) so the health
checks find real faults.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

FIXTURES = Path(__file__).with_name("fixtures")
DATA_DIR = "usr/share/supercluster-sim"  # inside the node, relative to its root
SYSFS_DIR = DATA_DIR + "/sys"  # the RoCE fixtures' stand-in for /sys
# PFC per priority 0-7 as a RoCE node is configured: lossless on priority 3 only.
ROCE_PFC = (0, 0, 0, 1, 0, 0, 0, 0)

# H100 SXM5 carries 18 NVLink 4 links of 26.562 GB/s each (NVIDIA H100 datasheet: 900 GB/s).
H100_NVLINKS = 18
NVLINK_GBPS = "26.562"

# Modules a configured GPU + RDMA node has loaded (driver, UVM, peermem for GPUDirect RDMA,
# the mlx5 and verbs stack).
DEFAULT_MODULES = (
    "nvidia",
    "nvidia_uvm",
    "nvidia_modeset",
    "nvidia_peermem",
    "mlx5_ib",
    "mlx5_core",
    "ib_uverbs",
    "ib_core",
)


@dataclass(frozen=True)
class Hardware:
    """What one test node reports. Defaults: a healthy HGX H100 node with 8 NDR rails."""

    gpus: int = 8
    gpu_name: str = "NVIDIA H100 80GB HBM3"
    driver_version: str = "550.90.07"
    cuda_version: str = "12.4"
    persistence_mode: bool = True
    ecc: bool = True
    nvlinks: int = H100_NVLINKS
    nvlinks_down: tuple[tuple[int, int], ...] = ()  # (gpu, link) pairs that are inactive
    rails: int = 8
    rails_down: tuple[int, ...] = ()  # rails whose HCA port is Down
    rail_rates: dict[int, int] = field(default_factory=dict)  # rail -> Gb/s (default 400)
    modules: tuple[str, ...] = DEFAULT_MODULES
    nccl_conf: str | None = None  # written to /etc/nccl.conf when set (a configured node)
    # RoCE (Spectrum-X) nodes: the NIC ports' link layer and what the NIC holds.
    link_layer: str = "InfiniBand"  # "Ethernet": RoCE fixtures are rendered
    roce_trust: str = "dscp"  # mlnx_qos trust state: "dscp" or "pcp" (the NIC's default)
    roce_pfc: tuple[int, ...] = ROCE_PFC  # PFC enabled per priority 0-7
    roce_gid_types: tuple[str, ...] = ("IB/RoCE v1", "RoCE v2", "IB/RoCE v1", "RoCE v2")
    roce_mtu: int = 9000  # the rail netdevs' MTU
    roce_cma_mode: str = "RoCE v2"  # rdma_cm's default RoCE mode (cma_roce_mode)


def nvidia_smi_xml(hw: Hardware, node: str) -> str:
    gpus = "".join(_gpu_xml(hw, node, i) for i in range(hw.gpus))
    return (
        '<?xml version="1.0" ?>\n'
        '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n'
        "<nvidia_smi_log>\n"
        "\t<timestamp>Mon Jan  6 12:00:00 2025</timestamp>\n"
        f"\t<driver_version>{escape(hw.driver_version)}</driver_version>\n"
        f"\t<cuda_version>{escape(hw.cuda_version)}</cuda_version>\n"
        f"\t<attached_gpus>{hw.gpus}</attached_gpus>\n"
        f"{gpus}"
        "</nvidia_smi_log>\n"
    )


def _bus_id(i: int) -> str:
    # HGX H100 boards place the 8 GPUs on these PCI buses (as seen on Supermicro/DGX).
    buses = (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)
    bus = buses[i] if i < len(buses) else 0xE0 + i
    return f"00000000:{bus:02X}:00.0"


def _gpu_xml(hw: Hardware, node: str, i: int) -> str:
    on = "Enabled" if hw.persistence_mode else "Disabled"
    ecc = "Enabled" if hw.ecc else "Disabled"
    inactive = {link for gpu, link in hw.nvlinks_down if gpu == i}
    fabric = "Completed" if not inactive else "In Progress"
    serial = 1650000000000 + int(_uuid(node, 0)[:6], 16) * 10 + i
    return (
        f'\t<gpu id="{_bus_id(i)}">\n'
        f"\t\t<product_name>{escape(hw.gpu_name)}</product_name>\n"
        "\t\t<product_brand>NVIDIA</product_brand>\n"
        "\t\t<product_architecture>Hopper</product_architecture>\n"
        "\t\t<display_mode>Disabled</display_mode>\n"
        "\t\t<display_active>Disabled</display_active>\n"
        f"\t\t<persistence_mode>{on}</persistence_mode>\n"
        "\t\t<mig_mode>\n\t\t\t<current_mig>Disabled</current_mig>\n"
        "\t\t\t<pending_mig>Disabled</pending_mig>\n\t\t</mig_mode>\n"
        f"\t\t<serial>{serial}</serial>\n"
        f"\t\t<uuid>GPU-{_uuid(node, i)}</uuid>\n"
        f"\t\t<minor_number>{i}</minor_number>\n"
        "\t\t<vbios_version>96.00.74.00.01</vbios_version>\n"
        "\t\t<pci>\n"
        f"\t\t\t<pci_bus_id>{_bus_id(i)}</pci_bus_id>\n"
        "\t\t\t<pci_device_id>233010DE</pci_device_id>\n"
        "\t\t</pci>\n"
        "\t\t<fabric>\n"
        f"\t\t\t<state>{fabric}</state>\n"
        "\t\t\t<status>Success</status>\n"
        "\t\t</fabric>\n"
        "\t\t<ecc_mode>\n"
        f"\t\t\t<current_ecc>{ecc}</current_ecc>\n"
        f"\t\t\t<pending_ecc>{ecc}</pending_ecc>\n"
        "\t\t</ecc_mode>\n"
        "\t\t<fb_memory_usage>\n\t\t\t<total>81559 MiB</total>\n"
        "\t\t\t<used>0 MiB</used>\n\t\t\t<free>81008 MiB</free>\n\t\t</fb_memory_usage>\n"
        "\t</gpu>\n"
    )


def _uuid(node: str, i: int) -> str:
    h = hashlib.sha1(f"{node}/{i}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def nvlink_status(hw: Hardware, node: str) -> str:
    """`nvidia-smi nvlink -s`: a header line per GPU, then one line per link."""
    lines = []
    down = set(hw.nvlinks_down)
    for i in range(hw.gpus):
        lines.append(f"GPU {i}: {hw.gpu_name} (UUID: GPU-{_uuid(node, i)})")
        for link in range(hw.nvlinks):
            state = "<inactive>" if (i, link) in down else f"{NVLINK_GBPS} GB/s"
            lines.append(f"\t Link {link}: {state}")
    return "\n".join(lines) + "\n"


def ibstat(hw: Hardware, node: str) -> str:
    """ibstat's output: a CA block per ConnectX-7 (MT4129), one port each."""
    blocks = []
    for rail in range(hw.rails):
        guid = "0x" + hashlib.sha1(f"{node}/mlx5_{rail}".encode()).hexdigest()[:16]
        down = rail in hw.rails_down
        state, phys = ("Down", "Disabled") if down else ("Active", "LinkUp")
        rate = 10 if down else hw.rail_rates.get(rail, 400)
        blocks.append(
            f"CA 'mlx5_{rail}'\n"
            "\tCA type: MT4129\n"
            "\tNumber of ports: 1\n"
            "\tFirmware version: 28.39.1002\n"
            "\tHardware version: 0\n"
            f"\tNode GUID: {guid}\n"
            f"\tSystem image GUID: {guid}\n"
            "\tPort 1:\n"
            f"\t\tState: {state}\n"
            f"\t\tPhysical state: {phys}\n"
            f"\t\tRate: {rate}\n"
            f"\t\tBase lid: {0 if down else rail + 2}\n"
            "\t\tLMC: 0\n"
            f"\t\tSM lid: {0 if down else 1}\n"
            "\t\tCapability mask: 0xa751e848\n"
            f"\t\tPort GUID: {guid}\n"
            "\t\tLink layer: InfiniBand\n"
        )
    return "\n".join(blocks)


# The NICs' PCI buses: each beside its GPU's (one PCIe switch per GPU/NIC pair on HGX H100).
def nic_bus(rail: int) -> int:
    return int(_bus_id(rail).split(":")[1], 16) + 1


def nic_netdev(rail: int) -> str:
    """The netdev udev's predictable naming gives a single-port ConnectX/BlueField PF:
    en + p<bus> + s<slot> + np<port> (bus in decimal)."""
    return f"enp{nic_bus(rail)}s0np0"


def _roce_guid(node: str, rail: int) -> str:
    # RoCE port GUIDs are EUI-64s made from the port's MAC (ff:fe in the middle).
    mac = hashlib.sha1(f"{node}/mlx5_{rail}/mac".encode()).hexdigest()[:12]
    return f"0x{mac[:6]}fffe{mac[6:]}"


def ibstat_roce(hw: Hardware, node: str) -> str:
    """ibstat on RoCE ports: a CA block per BlueField-3 SuperNIC (MT41692), its port in the
    Ethernet link layer: no LIDs (0), the port GUID derived from the MAC."""
    blocks = []
    for rail in range(hw.rails):
        guid = _roce_guid(node, rail)
        down = rail in hw.rails_down
        state, phys = ("Down", "Disabled") if down else ("Active", "LinkUp")
        rate = 40 if down else hw.rail_rates.get(rail, 400)
        blocks.append(
            f"CA 'mlx5_{rail}'\n"
            "\tCA type: MT41692\n"
            "\tNumber of ports: 1\n"
            "\tFirmware version: 32.41.1000\n"
            "\tHardware version: 1\n"
            f"\tNode GUID: {guid}\n"
            f"\tSystem image GUID: {guid}\n"
            "\tPort 1:\n"
            f"\t\tState: {state}\n"
            f"\t\tPhysical state: {phys}\n"
            f"\t\tRate: {rate}\n"
            "\t\tBase lid: 0\n"
            "\t\tLMC: 0\n"
            "\t\tSM lid: 0\n"
            "\t\tCapability mask: 0x00010000\n"
            f"\t\tPort GUID: {guid}\n"
            "\t\tLink layer: Ethernet\n"
        )
    return "\n".join(blocks)


def _rate_text(gbps: int) -> str:
    # /sys/class/infiniband/<dev>/ports/1/rate: "<Gb/s> Gb/sec (<width>X <speed>)".
    return f"{gbps} Gb/sec (4X {'NDR' if gbps >= 400 else 'HDR'})"


def render_roce(hw: Hardware, node: str, data: Path) -> None:
    """The RoCE NICs' sysfs-like tree and the mlnx_qos / cma_roce_mode state files."""
    sysfs = data / "sys"
    for rail in range(hw.rails):
        dev, netdev = f"mlx5_{rail}", nic_netdev(rail)
        pci = sysfs / "devices" / "pci0000:00" / f"0000:{nic_bus(rail):02x}:00.0"
        (pci / "net" / netdev).mkdir(parents=True, exist_ok=True)
        ib = sysfs / "class" / "infiniband" / dev
        ib.mkdir(parents=True, exist_ok=True)
        link = ib / "device"
        if not link.is_symlink():
            link.symlink_to(f"../../../devices/pci0000:00/{pci.name}")
        port = ib / "ports" / "1"
        down = rail in hw.rails_down
        for name, text in (
            ("link_layer", "Ethernet"),
            ("state", "1: DOWN" if down else "4: ACTIVE"),
            ("phys_state", "3: Disabled" if down else "5: LinkUp"),
            ("rate", _rate_text(hw.rail_rates.get(rail, 400))),
        ):
            port.mkdir(parents=True, exist_ok=True)
            (port / name).write_text(text + "\n")
        for kind in ("types", "ndevs"):
            (port / "gid_attrs" / kind).mkdir(parents=True, exist_ok=True)
        for index, gid_type in enumerate(hw.roce_gid_types):
            (port / "gid_attrs" / "types" / str(index)).write_text(gid_type + "\n")
            (port / "gid_attrs" / "ndevs" / str(index)).write_text(netdev + "\n")
        net = sysfs / "class" / "net" / netdev
        net.mkdir(parents=True, exist_ok=True)
        (net / "mtu").write_text(f"{hw.roce_mtu}\n")
        qos = data / "qos"
        qos.mkdir(exist_ok=True)
        (qos / f"{netdev}.trust").write_text(hw.roce_trust + "\n")
        (qos / f"{netdev}.pfc").write_text(",".join(map(str, hw.roce_pfc)) + "\n")
        cma = data / "cma"
        cma.mkdir(exist_ok=True)
        (cma / dev).write_text(hw.roce_cma_mode + "\n")


def proc_modules(hw: Hardware, host_modules: str) -> str:
    """The host's real /proc/modules plus the fixture's GPU/RDMA modules (once each)."""
    present = {line.split(" ", 1)[0] for line in host_modules.splitlines() if line}
    extra = [
        f"{name} 16384 0 - Live 0x0000000000000000 (OE)\n"
        for name in hw.modules
        if name not in present
    ]
    return "".join(extra) + host_modules


def render(hw: Hardware, node: str, upper: Path) -> dict[str, Path]:
    """Write the fixture tools and their data into a node's overlay upper dir. Returns the
    bind mounts the node needs over its kernel views ({path in node: path on host}):
    /sys/module (what modules are loaded; every kernel has it) and /proc/modules (only on
    kernels built with module support)."""
    data = upper / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    (data / "nvidia-smi-q-x.xml").write_text(nvidia_smi_xml(hw, node))
    (data / "nvlink-s.txt").write_text(nvlink_status(hw, node))
    roce = hw.link_layer == "Ethernet"
    (data / "ibstat.txt").write_text(ibstat_roce(hw, node) if roce else ibstat(hw, node))
    # Where the real tools live: the NVIDIA driver's /usr/bin/nvidia-smi, Debian
    # infiniband-diags' /usr/sbin/ibstat (the fixture shadows the real, HCA-less one);
    # mlnx-tools' /usr/bin/mlnx_qos and /usr/sbin/cma_roce_mode on RoCE nodes.
    tools = [("nvidia-smi", "usr/bin"), ("ibstat", "usr/sbin")]
    if roce:
        render_roce(hw, node, data)
        tools += [("mlnx_qos", "usr/bin"), ("cma_roce_mode", "usr/sbin")]
    for tool, bindir in tools:
        target = upper / bindir / tool
        target.write_text((FIXTURES / tool).read_text())
        target.chmod(0o755)
    if hw.nccl_conf is not None:
        (upper / "etc/nccl.conf").write_text(hw.nccl_conf)
    sys_module = data / "sys-module"
    for name in hw.modules:
        (sys_module / name).mkdir(parents=True, exist_ok=True)
        (sys_module / name / "initstate").write_text("live\n")
    binds = {"/sys/module": sys_module}
    host_modules = Path("/proc/modules")
    if host_modules.exists():
        (data / "modules").write_text(proc_modules(hw, host_modules.read_text()))
        binds["/proc/modules"] = data / "modules"
    return binds
