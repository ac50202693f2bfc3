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
    # The acceptance catalogue's faults (each a knob; the defaults are a healthy node).
    ecc_volatile_uncorrectable: dict[int, int] = field(default_factory=dict)  # gpu -> count
    row_remap_pending: tuple[int, ...] = ()  # GPUs with a row remap pending
    row_remap_failure: tuple[int, ...] = ()  # GPUs whose remap failed
    xids: tuple[tuple[int, int], ...] = ()  # (gpu, xid) in the kernel log since boot
    clock_events: dict[int, tuple[str, ...]] = field(default_factory=dict)  # gpu -> active
    power_limit_w: dict[int, float] = field(default_factory=dict)  # gpu -> W (default 700)
    # PCIe links: "gpu N" or "mlx5_N" -> (generation, width); default Gen5 x16.
    pcie_links: dict[str, tuple[int, int]] = field(default_factory=dict)
    nvlink_gbps: dict[tuple[int, int], str] = field(default_factory=dict)  # (gpu, link) -> GB/s
    fabricmanager_state: str | None = "active"  # None: no fixture, systemctl answers
    open_module: bool = True  # the open GPU kernel modules (DMA-BUF) or the proprietary ones
    ib_write_bw_gbps: dict[int, float] = field(default_factory=dict)  # rail -> Gb/s
    nccl_busbw_gbps: float = 472.5  # all_reduce_perf's busbw at 16 GiB (scaled below)
    dcgm_failures: tuple[str, ...] = ()  # dcgmi diag tests that fail ("GPU Memory")


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
    gen, width = hw.pcie_links.get(f"gpu {i}", (5, 16))
    active = set(hw.clock_events.get(i, ()))
    reasons = "".join(
        f"\t\t\t<clocks_event_reason_{r}>{'Active' if r in active else 'Not Active'}"
        f"</clocks_event_reason_{r}>\n"
        for r in CLOCK_EVENT_REASONS
    )
    volatile = hw.ecc_volatile_uncorrectable.get(i, 0)
    power = hw.power_limit_w.get(i, 700.0)
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
        "\t\t\t<pci_gpu_link_info>\n\t\t\t\t<pcie_gen>\n"
        f"\t\t\t\t\t<max_link_gen>{gen}</max_link_gen>\n"
        f"\t\t\t\t\t<current_link_gen>{gen}</current_link_gen>\n"
        f"\t\t\t\t\t<device_current_link_gen>{gen}</device_current_link_gen>\n"
        "\t\t\t\t\t<max_device_link_gen>5</max_device_link_gen>\n"
        f"\t\t\t\t\t<max_host_link_gen>{gen}</max_host_link_gen>\n"
        "\t\t\t\t</pcie_gen>\n\t\t\t\t<link_widths>\n"
        "\t\t\t\t\t<max_link_width>16x</max_link_width>\n"
        f"\t\t\t\t\t<current_link_width>{width}x</current_link_width>\n"
        "\t\t\t\t</link_widths>\n\t\t\t</pci_gpu_link_info>\n"
        "\t\t</pci>\n"
        "\t\t<performance_state>P0</performance_state>\n"
        f"\t\t<clocks_event_reasons>\n{reasons}\t\t</clocks_event_reasons>\n"
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
        "\t\t<ecc_errors>\n"
        f"\t\t\t<volatile>\n{_ecc_counts(volatile)}\t\t\t</volatile>\n"
        f"\t\t\t<aggregate>\n{_ecc_counts(volatile)}"
        "\t\t\t\t<sram_threshold_exceeded>No</sram_threshold_exceeded>\n"
        "\t\t\t</aggregate>\n"
        "\t\t</ecc_errors>\n"
        "\t\t<remapped_rows>\n"
        "\t\t\t<remapped_row_corr>0</remapped_row_corr>\n"
        f"\t\t\t<remapped_row_unc>{volatile}</remapped_row_unc>\n"
        f"\t\t\t<remapped_row_pending>{_yes(i in hw.row_remap_pending)}</remapped_row_pending>\n"
        f"\t\t\t<remapped_row_failure>{_yes(i in hw.row_remap_failure)}</remapped_row_failure>\n"
        "\t\t</remapped_rows>\n"
        "\t\t<gpu_power_readings>\n"
        "\t\t\t<power_state>P0</power_state>\n"
        "\t\t\t<power_draw>72.41 W</power_draw>\n"
        f"\t\t\t<current_power_limit>{power:.2f} W</current_power_limit>\n"
        f"\t\t\t<requested_power_limit>{power:.2f} W</requested_power_limit>\n"
        "\t\t\t<default_power_limit>700.00 W</default_power_limit>\n"
        "\t\t\t<min_power_limit>200.00 W</min_power_limit>\n"
        "\t\t\t<max_power_limit>700.00 W</max_power_limit>\n"
        "\t\t</gpu_power_readings>\n"
        "\t</gpu>\n"
    )


# nvsmi_device_v12's clocks_event_reasons children, in nvidia-smi's order (R535+).
CLOCK_EVENT_REASONS = (
    "gpu_idle",
    "applications_clocks_setting",
    "sw_power_cap",
    "hw_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "display_clocks_setting",
)


def _ecc_counts(dram_uncorrectable: int) -> str:
    # v12 (Hopper): SRAM parity/SEC-DED and DRAM counters.
    return (
        "\t\t\t\t<sram_correctable>0</sram_correctable>\n"
        "\t\t\t\t<sram_uncorrectable_parity>0</sram_uncorrectable_parity>\n"
        "\t\t\t\t<sram_uncorrectable_secded>0</sram_uncorrectable_secded>\n"
        "\t\t\t\t<dram_correctable>0</dram_correctable>\n"
        f"\t\t\t\t<dram_uncorrectable>{dram_uncorrectable}</dram_uncorrectable>\n"
    )


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


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
            speed = hw.nvlink_gbps.get((i, link), NVLINK_GBPS)
            state = "<inactive>" if (i, link) in down else f"{speed} GB/s"
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


def _lnksta(gen: int, width: int) -> str:
    speed = {1: "2.5", 2: "5", 3: "8", 4: "16", 5: "32", 6: "64"}[gen]
    note = " (downgraded)" if (gen, width) != (5, 16) else ""
    return f"Speed {speed}GT/s, Width x{width}{note}"


def _express(gen: int, width: int, port: int = 0) -> str:
    """The PCI Express capability as `lspci -vv` prints it (as root)."""
    return (
        "\tCapabilities: [60] Express (v2) Endpoint, MSI 00\n"
        "\t\tDevCap:\tMaxPayload 512 bytes, PhantFunc 0, Latency L0s unlimited, L1 unlimited\n"
        "\t\t\tExtTag+ AttnBtn- AttnInd- PwrInd- RBE+ FLReset+ SlotPowerLimit 75W\n"
        "\t\tDevCtl:\tCorrErr- NonFatalErr+ FatalErr+ UnsupReq+\n"
        "\t\t\tRlxdOrd+ ExtTag+ PhantFunc- AuxPwr- NoSnoop+ FLReset-\n"
        "\t\t\tMaxPayload 256 bytes, MaxReadReq 4096 bytes\n"
        f"\t\tLnkCap:\tPort #{port}, Speed 32GT/s, Width x16, ASPM not supported\n"
        "\t\t\tClockPM- Surprise- LLActRep- BwNot- ASPMOptComp+\n"
        "\t\tLnkCtl:\tASPM Disabled; RCB 64 bytes, Disabled- CommClk+\n"
        "\t\t\tExtSynch- ClockPM- AutWidDis- BWInt- AutBWInt-\n"
        f"\t\tLnkSta:\t{_lnksta(gen, width)}\n"
        "\t\t\tTrErr- Train- SlotClk+ DLActive- BWMgmt- ABWMgmt-\n"
    )


def lspci_nvidia(hw: Hardware) -> str:
    """`lspci -D -vv -d 10de:`: the GPUs (3D controllers, GH100 on HGX H100)."""
    blocks = []
    for i in range(hw.gpus):
        gen, width = hw.pcie_links.get(f"gpu {i}", (5, 16))
        blocks.append(
            f"0000:{_bus_id(i)[9:].lower()} 3D controller: NVIDIA Corporation GH100 "
            "[H100 SXM5 80GB] (rev a1)\n"
            "\tSubsystem: NVIDIA Corporation GH100 [H100 SXM5 80GB]\n"
            "\tControl: I/O- Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr+ Stepping- "
            "SERR+ FastB2B- DisINTx+\n"
            f"\tNUMA node: {_numa(i)}\n"
            "\tCapabilities: [40] Power Management version 3\n"
            + _express(gen, width)
            + "\tKernel driver in use: nvidia\n\tKernel modules: nvidia\n"
        )
    return "\n".join(blocks) + "\n"


def lspci_mellanox(hw: Hardware) -> str:
    """`lspci -D -vv -d 15b3:`: ConnectX-7 (InfiniBand) or BlueField-3 (Ethernet) per rail."""
    roce = hw.link_layer == "Ethernet"
    kind = (
        "Ethernet controller: Mellanox Technologies MT43244 BlueField-3 integrated ConnectX-7 "
        "network controller (rev 01)"
        if roce
        else "Infiniband controller: Mellanox Technologies MT2910 Family [ConnectX-7]"
    )
    blocks = []
    for rail in range(hw.rails):
        gen, width = hw.pcie_links.get(f"mlx5_{rail}", (5, 16))
        blocks.append(
            f"0000:{nic_bus(rail):02x}:00.0 {kind}\n"
            "\tSubsystem: Mellanox Technologies Device 0023\n"
            f"\tNUMA node: {_numa(rail)}\n"
            "\tCapabilities: [40] Power Management version 3\n"
            + _express(gen, width)
            + "\tKernel driver in use: mlx5_core\n\tKernel modules: mlx5_core\n"
        )
    return "\n".join(blocks) + "\n"


def _host_numa(node: int) -> int:
    """The node's NUMA node where this host has it, else 0: the acceptance's ib_write_bw
    runs under the real numactl, which refuses a node the machine lacks."""
    return node if Path(f"/sys/devices/system/node/node{node}").exists() else 0


def _numa(index: int) -> int:
    # Two sockets: GPUs/HCAs 0-3 on node 0, 4-7 on node 1 (HGX H100 boards).
    return 0 if index < 4 else 1


def dmesg(hw: Hardware) -> str:
    """Kernel messages since boot as `dmesg` prints them, with the NVRM XID lines
    (`NVRM: Xid (PCI:0000:18:00): 79, pid=..., name=..., <description>`)."""
    lines = [
        "[    0.000000] Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org)",
        "[   12.418290] nvidia: loading out-of-tree module taints kernel.",
        "[   12.602113] NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  "
        f"{hw.driver_version}  Release Build  (dvs-builder@U16-I3-B03-4-3)",
        "[   14.007214] mlx5_core 0000:19:00.0: firmware version: 28.39.1002",
    ]
    for n, (gpu, xid) in enumerate(hw.xids):
        bus = _bus_id(gpu)[9:].lower().rsplit(".", 1)[0]
        lines.append(
            f"[{3600 + n:>5}.123456] NVRM: Xid (PCI:0000:{bus}): {xid}, pid=41234, "
            "name=python3, Ch 00000008"
        )
    return "\n".join(lines) + "\n"


def nvidia_version(hw: Hardware) -> str:
    """/proc/driver/nvidia/version: the module's flavour and version."""
    kind = "Open Kernel Module for x86_64" if hw.open_module else "x86_64 Kernel Module"
    return (
        f"NVRM version: NVIDIA UNIX {kind}  {hw.driver_version}  Release Build  "
        "(dvs-builder@U16-I3-B03-4-3)  Fri Jun  7 21:38:49 UTC 2024\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
    )


def render_ib_sysfs(hw: Hardware, data: Path) -> None:
    """InfiniBand nodes: each HCA's device link and NUMA node in the sysfs-like tree (RoCE
    nodes get theirs from render_roce), for the PCIe and ib_write_bw placement probes."""
    sysfs = data / "sys"
    for rail in range(hw.rails):
        pci = sysfs / "devices" / "pci0000:00" / f"0000:{nic_bus(rail):02x}:00.0"
        pci.mkdir(parents=True, exist_ok=True)
        ib = sysfs / "class" / "infiniband" / f"mlx5_{rail}"
        (ib / "ports" / "1").mkdir(parents=True, exist_ok=True)
        (ib / "ports" / "1" / "link_layer").write_text("InfiniBand\n")
        link = ib / "device"
        if not link.is_symlink():
            link.symlink_to(f"../../../devices/pci0000:00/{pci.name}")


def bench_data(hw: Hardware, data: Path) -> None:
    """What the benchmark stand-ins print: per rail ib_write_bw, the all_reduce busbw, the
    DCGM tests that fail."""
    bw = data / "ib_write_bw"
    bw.mkdir(exist_ok=True)
    for rail in range(hw.rails):
        (bw / f"mlx5_{rail}").write_text(f"{hw.ib_write_bw_gbps.get(rail, 392.87):.2f}\n")
    (data / "nccl-busbw").write_text(f"{hw.nccl_busbw_gbps}\n")
    (data / "dcgm-failures").write_text("".join(f"{t}\n" for t in hw.dcgm_failures))
    (data / "gpu-count").write_text(f"{hw.gpus}\n")


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
    else:
        render_ib_sysfs(hw, data)
    for rail in range(hw.rails):
        pci = data / "sys" / "devices" / "pci0000:00" / f"0000:{nic_bus(rail):02x}:00.0"
        (pci / "numa_node").write_text(f"{_host_numa(_numa(rail))}\n")
    # The acceptance catalogue's probes: lspci (the host's real one lists no GPUs), dmesg,
    # the fabric manager's unit state (no systemd in a namespace node), the driver's
    # /proc/driver/nvidia/version, and the benchmarks (GPUs cannot exist here). In
    # /usr/local/bin: first in sshd's PATH, and untouched by the packages the roles install
    # (perftest's real /usr/bin/ib_write_bw).
    (data / "lspci-10de.txt").write_text(lspci_nvidia(hw))
    (data / "lspci-15b3.txt").write_text(lspci_mellanox(hw))
    (data / "dmesg.txt").write_text(dmesg(hw))
    (data / "proc-driver-nvidia-version").write_text(nvidia_version(hw))
    if hw.fabricmanager_state is not None:
        (data / "fabricmanager.state").write_text(hw.fabricmanager_state + "\n")
    bench_data(hw, data)
    tools += [
        (name, "usr/local/bin")
        for name in ("lspci", "dmesg", "ib_write_bw", "all_reduce_perf", "dcgmi")
    ]
    for tool, bindir in tools:
        target = upper / bindir / tool
        target.parent.mkdir(parents=True, exist_ok=True)
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
