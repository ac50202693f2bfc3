"""What a node says about itself, gathered in one SSH command and parsed from the real
tools' formats: nvidia-smi's XML (`-q -x`) and NVLink status (`nvlink -s`), ibstat's CA/port
blocks (sysfs /sys/class/infiniband as the fallback), /proc/modules (or /sys/module where a
kernel has no module support), /etc/nccl.conf, /etc/os-release and uname.

One command per host (sections delimited by marker lines) keeps a fan-out at one SSH
session per node: the cost that matters at 12,500 nodes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from infra.fleet import probes, roce

MARK = "@@supercluster"

# `c FILE` prints a file with shell builtins only: at 12,500 nodes every fork in this script
# is paid 12,500 times, so files are read without spawning cat.
_CAT = 'c() { while IFS= read -r l || [ -n "$l" ]; do printf "%s\\n" "$l"; done < "$1"; }'

# name -> shell snippet; stderr is folded into the section, and its exit status recorded.
SECTIONS: dict[str, str] = {
    "hostname": "c /proc/sys/kernel/hostname",
    "kernel": "c /proc/sys/kernel/osrelease",
    "os_release": "c /etc/os-release",
    "nvidia_smi": "nvidia-smi -q -x",
    "nvlink": "nvidia-smi nvlink -s",
    "ibstat": "ibstat",
    "ib_sysfs": (
        'for p in /sys/class/infiniband/*/ports/*; do [ -e "$p/state" ] || continue; '
        'read -r s < "$p/state"; read -r ph < "$p/phys_state"; read -r r < "$p/rate"; '
        'read -r ll < "$p/link_layer"; echo "$p|$s|$ph|$r|$ll"; done'
    ),
    "modules": (
        "if [ -r /proc/modules ]; then c /proc/modules; else "
        'for f in /sys/module/*/initstate; do [ -r "$f" ] || continue; read -r s < "$f"; '
        'm=${f%/initstate}; echo "${m##*/} 0 0 - $s"; done; fi'
    ),
    "nccl_conf": "c /etc/nccl.conf",
}
# The RDMA devices' sysfs section also reads the RoCE ports of a Spectrum-X node (netdev,
# MTU, GID types, mlnx_qos; infra/fleet/roce.py): its "@rail"/"@qos" lines are not port lines.
SECTIONS["ib_sysfs"] += "; " + roce.SECTION
# The acceptance catalogue's probes (PCIe links, XIDs, fabric manager, module flavour).
SECTIONS.update(probes.SECTIONS)


def facts_command(extra: dict[str, str] | None = None) -> str:
    """The POSIX sh script every host runs (also what the pssh benchmark runs); `extra`
    sections (the benchmarks: probes.benchmark_sections) run after the facts."""
    sections = {**SECTIONS, **(extra or {})}
    parts = [f"{{ {snippet} ; }} 2>&1; echo '{MARK} rc' $?" for snippet in sections.values()]
    heads = [f"echo '{MARK} section {name}'" for name in sections]
    return _CAT + "; " + "; ".join(f"{h}; {p}" for h, p in zip(heads, parts, strict=True))


def split_sections(output: str) -> dict[str, tuple[int, str]]:
    """{section: (exit status, text)} from the script's output."""
    sections: dict[str, tuple[int, str]] = {}
    name, lines = None, []
    for line in output.splitlines():
        if line.startswith(f"{MARK} section "):
            name, lines = line.split()[-1], []
        elif line.startswith(f"{MARK} rc ") and name:
            sections[name] = (int(line.split()[-1]), "\n".join(lines))
            name = None
        elif name:
            lines.append(line)
    return sections


def parse_facts(output: str) -> dict:
    sections = split_sections(output)
    errors: dict[str, str] = {}

    def text(name: str) -> str | None:
        rc, body = sections.get(name, (127, "missing from output"))
        if rc != 0:
            errors[name] = _first_line(body) or f"exit status {rc}"
            return None
        return body

    facts: dict = {
        "hostname": (text("hostname") or "").strip(),
        "kernel": (text("kernel") or "").strip(),
        "os": parse_os_release(text("os_release") or ""),
        "gpu": None,
        "hcas": [],
        "modules": [],
        "nccl_conf": None,
    }
    xml = text("nvidia_smi")
    if xml is not None:
        try:
            facts["gpu"] = parse_nvidia_smi_xml(xml)
        except ValueError as exc:
            errors["nvidia_smi"] = str(exc)
    nvlink = text("nvlink")
    if facts["gpu"] and nvlink is not None:
        links = parse_nvlink_status(nvlink)
        speeds = parse_nvlink_speeds(nvlink)
        for gpu in facts["gpu"]["gpus"]:
            gpu["nvlinks_active"], gpu["nvlinks_total"] = links.get(gpu["index"], (0, 0))
            gpu["nvlink_speeds"] = speeds.get(gpu["index"], [])
    ib = text("ibstat")
    if ib is not None:
        facts["hcas"] = parse_ibstat(ib)
    else:
        sysfs = sections.get("ib_sysfs", (1, ""))[1]
        facts["hcas"] = parse_ib_sysfs(sysfs)
        if facts["hcas"]:
            errors.pop("ibstat", None)  # sysfs answered instead
    modules = text("modules")
    if modules is not None:
        facts["modules"] = parse_modules(modules)
    conf = text("nccl_conf")
    if conf is not None:
        facts["nccl_conf"] = parse_nccl_conf(conf)
    facts["roce"] = roce.parse_roce(sections.get("ib_sysfs", (1, ""))[1])
    _probe_facts(facts, sections, text)
    facts["errors"] = errors
    return facts


def _probe_facts(facts: dict, sections: dict, text) -> None:
    """The acceptance catalogue's facts: None where the tool could not answer (a check
    then fails naming the tool's message, from `errors`)."""
    lspci = text("lspci")
    facts["pci"] = probes.parse_lspci(lspci) if lspci is not None else None
    facts["hca_pci"] = probes.parse_hca_pci(sections.get("hca_pci", (1, ""))[1])
    xid = text("xid")
    facts["xids"] = probes.parse_xid(xid) if xid is not None else None
    # is-active exits non-zero for any state but active: the state is the fact.
    rc, state = sections.get("fabricmanager", (127, ""))
    facts["fabricmanager"] = _first_line(state) or f"exit status {rc}"
    version = text("nvidia_version")
    facts["open_module"] = probes.open_kernel_module(version) if version is not None else None
    bench: dict = {}
    if "ib_write_bw" in sections:
        bench["ib_write_bw"] = probes.parse_ib_write_bw(sections["ib_write_bw"][1])
    if "nccl" in sections:
        rc, body = sections["nccl"]
        bench["nccl"] = probes.parse_all_reduce(body) if rc == 0 else {}
        bench["nccl_error"] = None if rc == 0 else _first_line(body) or f"exit status {rc}"
    if "dcgm" in sections:
        rc, body = sections["dcgm"]
        bench["dcgm"] = probes.parse_dcgm_diag(body)
        bench["dcgm_rc"] = rc
        bench["dcgm_error"] = None if rc == 0 else _first_line(body)
    facts["bench"] = bench


def _first_line(body: str) -> str:
    return next((line.strip() for line in body.splitlines() if line.strip()), "")


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("ID", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME"):
            out[key.lower()] = value.strip().strip('"')
    return out


def parse_nvidia_smi_xml(text: str) -> dict:
    """nvidia-smi -q -x (nvsmi_device DTD): driver, CUDA, and per GPU its name, UUID,
    persistence, ECC and NVLink fabric state."""
    start = text.find("<nvidia_smi_log")
    if start < 0:
        raise ValueError(f"no nvidia_smi_log in nvidia-smi output: {_first_line(text)[:80]}")
    # The DOCTYPE names an external DTD; drop it (ElementTree never fetches it anyway).
    try:
        root = ET.fromstring(text[start:])
    except ET.ParseError as exc:
        raise ValueError(f"nvidia-smi XML does not parse: {exc}") from exc
    gpus = []
    for i, gpu in enumerate(root.findall("gpu")):
        minor = _xml(gpu, "minor_number")
        gpus.append(
            {
                "index": int(minor) if minor and minor.isdigit() else i,
                "bus_id": gpu.get("id", ""),
                "name": _xml(gpu, "product_name"),
                "uuid": _xml(gpu, "uuid"),
                "persistence_mode": _xml(gpu, "persistence_mode") == "Enabled",
                "ecc_current": _xml(gpu, "ecc_mode/current_ecc") == "Enabled",
                "ecc_pending": _xml(gpu, "ecc_mode/pending_ecc") == "Enabled",
                "fabric_state": _xml(gpu, "fabric/state"),
                "fabric_status": _xml(gpu, "fabric/status"),
                **_gpu_health(gpu),
            }
        )
    attached = _xml(root, "attached_gpus")
    return {
        "driver_version": _xml(root, "driver_version"),
        "cuda_version": _xml(root, "cuda_version"),
        "count": int(attached) if attached and attached.isdigit() else len(gpus),
        "models": sorted({g["name"] for g in gpus}),
        "gpus": gpus,
    }


def _gpu_health(gpu: ET.Element) -> dict:
    """The catalogue's per-GPU facts from the same XML: uncorrectable ECC counts (volatile:
    since the driver loaded; aggregate: the GPU's life; v12 names them sram_uncorrectable_*
    and dram_uncorrectable, older DTDs double_bit/*), row remapping, the active clock event
    reasons (clocks_throttle_reasons before R535), the enforced power limit, the PCIe link
    (max_link_gen: the generation GPU and slot both support; the current one drops at idle)."""

    def uncorrectable(period: str) -> int | None:
        # Aggregate: SRAM only (a DRAM error over the GPU's life is what row remapping
        # repairs; "row remap" judges those). Volatile: every uncorrectable counter.
        node = gpu.find(f"ecc_errors/{period}")
        if node is None:
            return None
        total, seen = 0, False
        sram_only = period == "aggregate"
        for child in node.iter():
            tag = child.tag
            counted = ("uncorrectable" in tag and (not sram_only or tag.startswith("sram"))) or (
                tag == "total" and child in _double_bit(node)
            )
            if counted and child.text and child.text.strip().isdigit():
                total += int(child.text.strip())
                seen = True
        return total if seen else 0

    reasons = gpu.find("clocks_event_reasons")
    if reasons is None:
        reasons = gpu.find("clocks_throttle_reasons")
    active = []
    for child in list(reasons) if reasons is not None else []:
        if (child.text or "").strip() == "Active":
            active.append(re.sub(r"^clocks_(event|throttle)_reason_", "", child.tag))
    limit = _xml(gpu, "gpu_power_readings/current_power_limit") or _xml(
        gpu, "power_readings/enforced_power_limit"
    )
    gen = _xml(gpu, "pci/pci_gpu_link_info/pcie_gen/max_link_gen")
    width = _xml(gpu, "pci/pci_gpu_link_info/link_widths/current_link_width")
    return {
        "ecc_volatile_uncorrectable": uncorrectable("volatile"),
        "ecc_aggregate_uncorrectable": uncorrectable("aggregate"),
        "row_remap_pending": _xml(gpu, "remapped_rows/remapped_row_pending"),
        "row_remap_failure": _xml(gpu, "remapped_rows/remapped_row_failure"),
        "clock_events": active if reasons is not None else None,
        "power_limit_w": _watts(limit),
        "pcie_max_gen": int(gen) if gen and gen.isdigit() else None,
        "pcie_width": int(width.rstrip("x")) if width and width.rstrip("x").isdigit() else None,
    }


def _double_bit(node: ET.Element) -> list[ET.Element]:
    return [t for d in node.findall("double_bit") for t in d.findall("total")]


def _watts(text: str | None) -> float | None:
    m = re.match(r"\s*([0-9.]+)\s*W", text or "")
    return float(m.group(1)) if m else None


def _xml(node: ET.Element, path: str) -> str | None:
    found = node.find(path)
    return found.text.strip() if found is not None and found.text else None


_NVLINK_GPU = re.compile(r"^GPU (\d+): ")
_NVLINK_LINK = re.compile(r"^\s*Link (\d+): (.*)$")


def parse_nvlink_status(text: str) -> dict[int, tuple[int, int]]:
    """`nvidia-smi nvlink -s` -> {gpu index: (active links, links)}; an inactive link
    prints `<inactive>` instead of its speed."""
    out: dict[int, list[int]] = {}
    gpu = None
    for line in text.splitlines():
        if m := _NVLINK_GPU.match(line):
            gpu = int(m.group(1))
            out[gpu] = [0, 0]
        elif (m := _NVLINK_LINK.match(line)) and gpu is not None:
            out[gpu][1] += 1
            if "inactive" not in m.group(2):
                out[gpu][0] += 1
    return {g: (a, t) for g, (a, t) in out.items()}


def parse_nvlink_speeds(text: str) -> dict[int, list[float | None]]:
    """`nvidia-smi nvlink -s` -> {gpu index: [GB/s per link, None where inactive]}."""
    out: dict[int, list[float | None]] = {}
    gpu = None
    for line in text.splitlines():
        if m := _NVLINK_GPU.match(line):
            gpu = int(m.group(1))
            out[gpu] = []
        elif (m := _NVLINK_LINK.match(line)) and gpu is not None:
            speed = re.match(r"([0-9.]+) GB/s", m.group(2).strip())
            out[gpu].append(float(speed.group(1)) if speed else None)
    return out


def parse_ibstat(text: str) -> list[dict]:
    """ibstat: `CA 'mlx5_0'` blocks, each with `Port N:` blocks of `Key: value` lines."""
    hcas: list[dict] = []
    port: dict | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if raw.startswith("CA '"):
            hcas.append({"device": raw[4:].rstrip("'"), "ports": []})
            port = None
        elif not hcas or not line:
            continue
        elif re.fullmatch(r"Port \d+:", line):
            port = {"port": int(line[5:-1])}
            hcas[-1]["ports"].append(port)
        elif ":" in line:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if port is None:
                if key == "CA type":
                    hcas[-1]["ca_type"] = value
                elif key == "Firmware version":
                    hcas[-1]["firmware"] = value
            elif key == "State":
                port["state"] = value
            elif key == "Physical state":
                port["physical_state"] = value
            elif key == "Rate":
                port["rate_gbps"] = _number(value)
            elif key == "Link layer":
                port["link_layer"] = value
    return hcas


def parse_ib_sysfs(text: str) -> list[dict]:
    """Lines `/sys/class/infiniband/<dev>/ports/<n>|4: ACTIVE|5: LinkUp|400 Gb/sec (4X
    NDR)|InfiniBand` into the same shape as parse_ibstat."""
    hcas: dict[str, dict] = {}
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 5 or "/ports/" not in fields[0]:
            continue
        path, state, phys, rate, layer = fields
        device = path.split("/")[-3]
        hca = hcas.setdefault(device, {"device": device, "ports": []})
        hca["ports"].append(
            {
                "port": int(path.rsplit("/", 1)[1]),
                "state": state.partition(":")[2].strip().capitalize(),
                "physical_state": phys.partition(":")[2].strip(),
                "rate_gbps": _number(rate.split()[0] if rate else ""),
                "link_layer": layer.strip(),
            }
        )
    return [hcas[d] for d in sorted(hcas)]


def _number(text: str) -> float | int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def parse_modules(text: str) -> list[str]:
    """/proc/modules lines `name size refs deps state offset`: the live ones' names."""
    names = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        state = fields[4] if len(fields) > 4 else "Live"
        if state.lower() == "live":
            names.append(fields[0])
    return sorted(set(names))


def parse_nccl_conf(text: str) -> dict[str, str]:
    """/etc/nccl.conf: `NAME=value` lines, # comments."""
    conf = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, sep, value = line.partition("=")
        if sep and key.strip():
            conf[key.strip()] = value.strip().strip('"')
    return conf
