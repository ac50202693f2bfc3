"""What the components publish, as pure functions of the Design: the per-plane cabling
plan, the OpenSM configuration (InfiniBand) or every switch's NVUE configuration
(Spectrum-X), and the inventory data of a stack's hosts. No Pulumi here, so the same bytes
come out of `pulumi up`, the artifact provider, `fabric render` and the tests."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from operator import itemgetter

from infra.design.export import CABLING_FIELDS, cabling_rows
from infra.design.model import Design, Node
from infra.fabric.nvue import render_nvue
from infra.fabric.opensm import opensm_conf as fabric_opensm_conf
from infra.fabric.plane import plane_fabric


def cabling_plans(design: Design) -> dict[str, str]:
    """plane -> the CSV cabling plan of that plane (cable ids are site-wide)."""
    row_of = itemgetter(*CABLING_FIELDS)  # csv.DictWriter checks every key: 3x slower
    by_plane: dict[str, list[tuple]] = defaultdict(list)
    for row in cabling_rows(design):
        by_plane[row["plane"]].append(row_of(row))
    out = {}
    for plane in design.planes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CABLING_FIELDS)
        writer.writerows(by_plane.get(plane.name, []))
        out[plane.name] = buf.getvalue()
    return out


def opensm_conf(design: Design, plane: str) -> str:
    """The subnet manager configuration of one plane: `fabric render`'s opensm.conf, from
    the same renderer (infra.fabric.opensm), so the artifact and that file are one text."""
    return fabric_opensm_conf(design, plane_fabric(design, plane))


def nvue_configs(design: Design) -> dict[str, str]:
    """A Spectrum-X fabric's switch configurations: `<switch>.yaml` -> its NVUE
    configuration (`nv config replace` input), from the one renderer (infra.fabric.nvue):
    the files `fabric render` writes under nvue/ and the switches role deploys."""
    return render_nvue(design)


def nvue_bundle(design: Design) -> str:
    """Every switch's NVUE configuration in one text, for one Pulumi artifact per fabric
    (memphis has 4,160 switches: one resource each would blow the resource budget): a
    YAML stream, one document per switch in design order, each headed by its file name
    (`--- # <switch>.yaml`), the document the very bytes of nvue_configs'."""
    return "".join(f"--- # {name}\n{text}" for name, text in nvue_configs(design).items())


def hca_rail_map(nodes: Iterable[Node]) -> dict[str, dict]:
    """device -> {rail, plane}: the same on every node of a rail-optimized design."""
    out: dict[str, dict] = {}
    for n in nodes:
        for h in n.hcas:
            entry = {"rail": h.rail, "plane": h.plane}
            if out.setdefault(h.device, entry) != entry:
                raise ValueError(
                    f"{n.name}: {h.device} is on rail {h.rail}/{h.plane}, other "
                    f"nodes have it on {out[h.device]}"
                )
    return dict(sorted(out.items()))


def inventory_data(design: Design, hall: str | None = None) -> dict:
    """The Ansible inventory data of the hosts in `hall` (all halls when None): each host
    with its management and BMC addresses and where it sits, plus the HCA-to-rail map
    (per device; the leaf port of every HCA is in the cabling plan artifact)."""
    nodes = [n for n in design.nodes if hall is None or n.hall == hall]
    return {
        "site": design.site,
        "hosts": {
            n.name: {
                "mgmt_ip": n.mgmt_ip,
                "bmc_ip": n.bmc_ip,
                "hall": n.hall,
                "su": n.su,
                "rack": n.rack,
                "u": n.u,
                "model": n.model,
            }
            for n in nodes
        },
        "hca_rails": hca_rail_map(nodes),
        "planes": [p.name for p in design.planes],
    }


HOST_FIELDS = ("mgmt_ip", "bmc_ip", "hall", "su", "rack", "u")


def inventory_output(inventory: dict) -> dict:
    """The inventory as a stack output: each host as one line of HOST_FIELDS separated by
    spaces. Pulumi wraps every nested value of an output in its own Output object; one
    string per host keeps a 3,136-host hall stack's registration twice as fast. The full
    structure is the inventory artifact (inventory.json)."""
    return {
        "site": inventory["site"],
        "planes": inventory["planes"],
        "hca_rails": inventory["hca_rails"],
        "host_fields": list(HOST_FIELDS),
        "hosts": {
            name: " ".join(str(h[f]) for f in HOST_FIELDS) for name, h in inventory["hosts"].items()
        },
    }
