"""RoCE facts of a Spectrum-X node, read the way the real tools print them, and the
lossless profile they are held to.

One shell section (run within the facts command, so still one SSH session per node): for
each RDMA device whose port 1 runs the Ethernet link layer, its netdev (sysfs
class/infiniband/<dev>/device/net/), the netdev's MTU, the GID types of the first table
entries (ports/1/gid_attrs/types/<i>: "IB/RoCE v1" or "RoCE v2") and `mlnx_qos -i <netdev>`
(trust state and the PFC "enabled" row). InfiniBand devices print nothing. A simulated node
has no RDMA devices: its hardware fixtures stand a sysfs-like tree in SIM_SYSFS, read
instead of /sys where it exists (infra/sim/hardware.py).

The expected values are the ones the roce role sets: inventory/group_vars/all/roce.yml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.fsutil import REPO_ROOT

SIM_SYSFS = "/usr/share/supercluster-sim/sys"
SETTINGS_FILE = Path("inventory") / "group_vars" / "all" / "roce.yml"
GID_ENTRIES = 8  # the link-local pair and the first IPv4/IPv6 addresses' pairs

SECTION = (
    f"r=/sys; [ -d {SIM_SYSFS}/class/infiniband ] && r={SIM_SYSFS}; "
    'for d in "$r"/class/infiniband/*; do '
    '[ -r "$d/ports/1/link_layer" ] || continue; read -r ll < "$d/ports/1/link_layer"; '
    '[ "$ll" = Ethernet ] || continue; dev=${d##*/}; n=; '
    'for x in "$d"/device/net/*; do [ -e "$x" ] && n=${x##*/}; done; '
    'mtu=; [ -n "$n" ] && [ -r "$r/class/net/$n/mtu" ] && read -r mtu < "$r/class/net/$n/mtu"; '
    f"types=; i=0; while [ $i -lt {GID_ENTRIES} ]; do t=; "
    'f="$d/ports/1/gid_attrs/types/$i"; [ -r "$f" ] && read -r t < "$f" 2>/dev/null; '
    'types="$types$t;"; i=$((i + 1)); done; '
    'echo "@rail $dev|$n|$mtu|$types"; '
    '[ -n "$n" ] && mlnx_qos -i "$n" 2>&1 | while IFS= read -r l; do echo "@qos $dev $l"; done; '
    "done; true"
)


@dataclass(frozen=True)
class RoceSettings:
    """The host half of the fabric's lossless profile (roce.yml)."""

    trust: str = "dscp"
    lossless_priority: int = 3
    gid_index: int = 3
    mtu: int = 9000
    dscp: int = 26

    @property
    def pfc(self) -> list[int]:
        return [int(p == self.lossless_priority) for p in range(8)]

    @property
    def traffic_class(self) -> int:
        """NCCL_IB_TC: DSCP in the ToS byte's upper 6 bits, ECT(0) (0b10) below."""
        return self.dscp << 2 | 2


def load_settings(project_dir: Path = REPO_ROOT) -> RoceSettings:
    path = Path(project_dir) / SETTINGS_FILE
    data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    data = data or {}
    base = RoceSettings()
    return RoceSettings(
        trust=str(data.get("roce_trust", base.trust)),
        lossless_priority=int(data.get("roce_lossless_priority", base.lossless_priority)),
        gid_index=int(data.get("roce_gid_index", base.gid_index)),
        mtu=int(data.get("roce_mtu", base.mtu)),
        dscp=int(data.get("roce_dscp", base.dscp)),
    )


_TRUST = re.compile(r"Priority trust state:\s*(\S+)")
_PFC = re.compile(r"^\s*enabled\s+([01](?:\s+[01]){7})\s*$", re.MULTILINE)


def parse_mlnx_qos(text: str) -> dict:
    """`mlnx_qos -i <netdev>`: {"trust": "dscp"|"pcp"|None, "pfc": [8 x 0|1] or None}."""
    trust = _TRUST.search(text)
    pfc = _PFC.search(text)
    return {
        "trust": trust.group(1) if trust else None,
        "pfc": [int(v) for v in pfc.group(1).split()] if pfc else None,
    }


def parse_roce(text: str) -> dict[str, dict]:
    """The section's lines -> {device: {"netdev", "mtu", "gid_types", "trust", "pfc"}}."""
    rails: dict[str, dict] = {}
    qos: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("@rail "):
            fields = line[len("@rail ") :].split("|")
            if len(fields) != 4:
                continue
            dev, netdev, mtu, types = fields
            rails[dev] = {
                "netdev": netdev or None,
                "mtu": int(mtu) if mtu.isdigit() else None,
                "gid_types": types.split(";")[:GID_ENTRIES],
            }
        elif line.startswith("@qos "):
            dev, _, rest = line[len("@qos ") :].partition(" ")
            qos.setdefault(dev, []).append(rest)
    for dev, rail in rails.items():
        rail.update(parse_mlnx_qos("\n".join(qos.get(dev, []))))
        rail["qos_output"] = bool(qos.get(dev))
    return rails
