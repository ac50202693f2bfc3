"""Renders a subnet's OpenSM configuration from the design: opensm.conf (ftree routing,
QoS), the ftree root and compute-node GUID files, partitions.conf (compute HCAs full
members of the default partition, storage; IPoIB groups at 4K MTU and the link's rate), a
node-name map, the GUID plan and the designed topology.

GUIDs come from the GUID plan (infra.fabric.guids) or, for real hardware, from a
discovered topology matched by node description (`guids` argument).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from infra.catalog import load_catalog
from infra.design.model import Design
from infra.errors import InputError
from infra.fabric.guids import ca_guid, hex_guid, port_guid, switch_guid
from infra.fabric.plane import HCA_PORT, PlaneFabric
from infra.fabric.topology import write_topology
from infra.fabric.validate import Locator

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "opensm"


@dataclass(frozen=True)
class Partition:
    name: str
    pkey_int: int  # 15-bit P_Key; the full-member bit is added by the HCA/SM
    sl: int


# Traffic classes: compute (NCCL/RDMA, IPoIB) on SL0, storage on SL1; VL arbitration gives
# compute three quarters of the low-priority bandwidth when both are busy.
# Compute runs in the default partition: OpenSM always puts it at P_Key index 0, the index
# NCCL uses without NCCL_IB_PKEY and IPoIB parent interfaces (ib0...) use, so compute HCAs
# are its full members (two limited members cannot talk). See docs/fabric.md.
DEFAULT_PARTITION = Partition("Default", 0x7FFF, 0)
COMPUTE_PKEY_INDEX = 0  # the P_Key index NCCL and IPoIB use on every compute HCA
PARTITIONS = (Partition("storage", 0x0002, 1),)  # storage clients use child interfaces
# IPoIB broadcast groups: IBTA MTU code 5 = 4096 (OpenSM's default is 4 = 2048, which
# would cap the 4092-byte datagram MTU of the ipoib role), and the link's rate as an IBTA
# rate code (PortInfo/PathRecord encoding; OpenSM's default is 3 = 10 Gb/s).
IPOIB_MTU_CODE = 5
IB_RATE_CODES = {100: 16, 200: 17, 400: 21}  # Gb/s -> code: 4xEDR, 4xHDR/2xNDR, 4xNDR

QOS = {
    "max_vls": 2,
    "vlarb_high": "0:0,1:0",
    "vlarb_low": "0:192,1:64",
    "sl2vl": ",".join(["0", "1"] + ["0"] * 14),
}


def link_gbps(design: Design, plane: str) -> int:
    """Rate of the plane's HCA links in Gb/s, from its switches' split mode in the catalog
    (QM9700: 64 ports in ndr400, 128 in ndr200)."""
    models = load_catalog().switches
    modes = {
        mode
        for s in design.switches
        if s.plane == plane and s.model in models
        for mode, ports in models[s.model].ports.items()
        if ports == s.ports
    }
    rates = {int("".join(c for c in mode if c.isdigit())) for mode in modes}
    if len(rates) != 1 or next(iter(rates)) not in IB_RATE_CODES:
        raise InputError([f"plane {plane}: cannot tell the link rate from its switches ({rates})"])
    return rates.pop()


@dataclass(frozen=True)
class OpenSmPaths:
    """Where the rendered files live on the subnet manager host."""

    root_guids: str = "/etc/opensm/root_guids.conf"
    cn_guids: str = "/etc/opensm/cn_guids.conf"
    partitions: str = "/etc/opensm/partitions.conf"
    node_name_map: str = "/etc/opensm/node-name-map"
    log_file: str = "/var/log/opensm.log"
    dump_dir: str = "/var/log/"

    @classmethod
    def for_plane(cls, plane: str) -> OpenSmPaths:
        """On an SM host: one directory and one log per plane. A host with a port in
        several planes (a per-rail site's SM server) runs one OpenSM per plane, and each
        reads its own GUID lists and partitions (the opensm role deploys them there)."""
        etc = f"/etc/opensm/{plane}"
        return cls(
            root_guids=f"{etc}/root_guids.conf",
            cn_guids=f"{etc}/cn_guids.conf",
            partitions=f"{etc}/partitions.conf",
            node_name_map=f"{etc}/node-name-map",
            log_file=f"/var/log/opensm-{plane}.log",
            dump_dir=f"/var/log/opensm-{plane}/",
        )

    @classmethod
    def under(cls, root: Path) -> OpenSmPaths:
        return cls(
            root_guids=str(root / "root_guids.conf"),
            cn_guids=str(root / "cn_guids.conf"),
            partitions=str(root / "partitions.conf"),
            node_name_map=str(root / "node-name-map"),
            log_file=str(root / "opensm.log"),
            dump_dir=str(root) + "/",
        )


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class GuidSource:
    """Node GUIDs by device: the plan's, or those a real fabric reported. A discovered
    `NodeGuids` is looked up by type: a switch's GUID only among the Switch records, an
    HCA's only among the Ca records, so an HCA that describes itself as a spine can never
    become a root GUID. (A plain mapping, as older callers pass, serves both.)"""

    def __init__(self, discovered: Mapping[str, int] | None = None):
        self.discovered = discovered

    def switch(self, name: str) -> int:
        if self.discovered is None:
            return switch_guid(name)
        return self._get(name, "switch", getattr(self.discovered, "switches", self.discovered))

    def ca(self, desc: str) -> int:
        if self.discovered is None:
            return ca_guid(desc)
        return self._get(desc, "HCA", getattr(self.discovered, "cas", self.discovered))

    def _get(self, name: str, kind: str, table: Mapping[str, int]) -> int:
        if name not in table:
            where = getattr(self.discovered, "source", "--guids-from")
            raise InputError([f"{where}: no {kind} with node description {name!r}"])
        return table[name]


# How a standby SM watches the master: it polls the master's SMInfo every
# sminfo_polling_timeout ms and takes over after polling_retry_number unanswered polls.
# OpenSM's defaults (10,000 ms x 4) leave a subnet without an SM for ~40 s; at 2,000 ms x 3
# the measured takeover under ibsim is in docs/fabric.md.
SM_POLLING = {"sminfo_polling_timeout": 2000, "polling_retry_number": 3}


# Subnet prefix of a plane: the link-local prefix with the plane's index in its low bits.
# Each plane is its own subnet with its own SM, so every subnet of a site has its own
# prefix and port GIDs stay unique site-wide (a one-plane site keeps the default prefix).
SUBNET_PREFIX_BASE = 0xFE80000000000000


def subnet_prefix(design: Design, plane: str) -> int:
    """The GID subnet prefix of `plane` (opensm.conf `subnet_prefix`)."""
    names = [p.name for p in design.planes]
    if plane not in names:
        raise InputError([f"plane {plane!r} is not in the design (planes: {', '.join(names)})"])
    return SUBNET_PREFIX_BASE + names.index(plane)


def opensm_conf(
    design: Design,
    fabric: PlaneFabric,
    paths: OpenSmPaths | None = None,
    guids: GuidSource | None = None,
    qos: bool | None = None,
    sm_ca: str | None = None,
) -> str:
    """opensm.conf of one subnet: the one renderer behind `fabric render` and the Pulumi
    artifact (infra/deploy/render.py), so both write the same bytes. `sm_ca`: the SM
    host's HCA to bind to (default: the plane's master). `qos` None: the design's
    default, on only where the plane carries storage (fabric.storage_on_rails)."""
    paths = paths or OpenSmPaths.for_plane(fabric.name)
    guids = guids or GuidSource()
    sm_ca = sm_ca or fabric.sm_ca
    plane = next(p for p in design.planes if p.name == fabric.name)
    return (
        _env()
        .get_template("opensm.conf.j2")
        .render(
            plane=fabric.name,
            stack=design.stack,
            switches=len(fabric.switches),
            hcas=len(fabric.cas),
            lids=plane.lids,
            lmc=plane.lmc,
            subnet_prefix=f"0x{subnet_prefix(design, fabric.name):016x}",
            sm_port_guid=hex_guid(port_guid(guids.ca(sm_ca), HCA_PORT)),
            sm_priority=fabric.sm_priority.get(sm_ca, 15),
            sm_polling=SM_POLLING,
            paths=paths,
            qos=QOS,
            qos_enabled=plane.storage if qos is None else qos,
        )
    )


def render_plane(
    design: Design,
    fabric: PlaneFabric,
    paths: OpenSmPaths | None = None,
    guids: GuidSource | None = None,
    qos: bool | None = None,
) -> dict[str, str]:
    """File name -> content for one subnet. QoS (SL2VL/VL arbitration programming, which
    dominates sweep time: see docs/fabric.md) is on only where the plane carries storage,
    unless `qos` says otherwise."""
    paths = paths or OpenSmPaths.for_plane(fabric.name)
    guids = guids or GuidSource()
    env = _env()
    common = {"plane": fabric.name, "stack": design.stack}
    cn = [hex_guid(port_guid(guids.ca(d), HCA_PORT)) for d in fabric.compute]
    files = {
        "opensm.conf": opensm_conf(design, fabric, paths, guids, qos),
        # Each dedicated SM host's own file: its port GUID and sm_priority (master 15).
        **{
            f"opensm-{sm.rpartition(' ')[0]}.conf": opensm_conf(
                design, fabric, paths, guids, qos, sm_ca=sm
            )
            for sm in fabric.sms
        },
        "root_guids.conf": env.get_template("guids.j2").render(
            guids=[hex_guid(guids.switch(s)) for s in fabric.roots]
        ),
        "cn_guids.conf": env.get_template("guids.j2").render(guids=cn),
        "partitions.conf": env.get_template("partitions.conf.j2").render(
            **common,
            default={
                "pkey": f"0x{DEFAULT_PARTITION.pkey_int:04x}",
                "sl": DEFAULT_PARTITION.sl,
                "members": cn,
            },
            mtu=IPOIB_MTU_CODE,
            rate=IB_RATE_CODES[link_gbps(design, fabric.name)],
            partitions=[
                {
                    "name": p.name,
                    "pkey": f"0x{p.pkey_int:04x}",
                    "pkey_int": p.pkey_int,
                    "sl": p.sl,
                    "members": cn,
                }
                for p in PARTITIONS
            ],
        ),
        "node-name-map": env.get_template("node-name-map.j2").render(
            **common,
            names=[(hex_guid(guids.switch(s)), s) for s in fabric.switches]
            + [(hex_guid(guids.ca(d)), d) for d in fabric.cas],
        ),
        "guid-plan.csv": guid_plan_csv(design, fabric, guids),
        "designed.topo": write_topology(
            fabric, title=f"plane {fabric.name} of stack {design.stack}, as designed"
        ),
    }
    return files


def guid_plan_csv(design: Design, fabric: PlaneFabric, guids: GuidSource) -> str:
    """type,node_description,node_guid,port_guid,location - one row per device."""
    loc = Locator(design)
    rows = ["type,node_description,node_guid,port_guid,location"]
    for s in fabric.switches:
        g = guids.switch(s)
        rows.append(f"switch,{s},{hex_guid(g)},{hex_guid(g)},{loc.place((s, 0))}")
    for d in fabric.cas:
        g = guids.ca(d)
        rows.append(f"hca,{d},{hex_guid(g)},{hex_guid(port_guid(g, 1))},{loc.place((d, 1))}")
    return "\n".join(rows) + "\n"
