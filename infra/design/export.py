"""Export a design for the people who build the site: the cabling plan (one row per
cable, both ends with hall/rack/U/device/port), rack elevations, and the per-node port
map (which HCA on which rail to which leaf port)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from infra.catalog import load_catalog
from infra.design.ethernet import port_name
from infra.design.model import Design
from infra.fsutil import write_output_dir

CABLING_FIELDS = (
    "cable_id",
    "plane",
    "tier",
    "a_hall",
    "a_rack",
    "a_u",
    "a_device",
    "a_port",
    "b_hall",
    "b_rack",
    "b_u",
    "b_device",
    "b_port",
    "medium",
    "length_m",
)


def _where(design: Design) -> dict[str, tuple[str, str, int]]:
    """device -> (hall, rack, U)."""
    rack_hall = {r.name: r.hall for r in design.racks}
    out = {n.name: (n.hall, n.rack, n.u) for n in design.nodes}
    out.update({s.name: (rack_hall[s.rack], s.rack, s.u) for s in design.switches})
    out.update({h.name: (h.hall, h.rack, h.u) for h in design.sm_hosts})
    return out


def node_port(link_tier: str, port: int) -> str:
    """Port label as printed on the cable tag: HCA device for nodes, port number else."""
    return f"mlx5_{port}" if link_tier == "node_leaf" else str(port)


def switch_port_labels(design: Design):
    """(switch, port) -> the label on the cable tag: the port number on InfiniBand, the
    interface name the switch's OS shows on Spectrum-X (swp1s0, swp33: what NVUE and LLDP
    name, and what a technician reads off the switch)."""
    if design.technology != "spectrum_x":
        return lambda _switch, port: port
    tier = {s.name: s.tier for s in design.switches}
    return lambda switch, port: port_name(tier[switch], port)


def cabling_rows(design: Design) -> list[dict]:
    where = _where(design)
    if design.ufm_rack:
        hall = next(r.hall for r in design.racks if r.name == design.ufm_rack)
        where["ufm"] = (hall, design.ufm_rack, design.ufm_u)
    rows = []
    label = switch_port_labels(design)
    numbers = design.link_numbers or range(1, len(design.links) + 1)  # site-wide cable ids
    for i, link in zip(numbers, design.links, strict=True):
        a, b = where[link.a_dev], where[link.b_dev]
        rows.append(
            {
                "cable_id": f"C{i:06d}",
                "plane": link.plane,
                "tier": link.tier,
                "a_hall": a[0],
                "a_rack": a[1],
                "a_u": a[2],
                "a_device": link.a_dev,
                "a_port": node_port(link.tier, link.a_port)
                if link.tier == "node_leaf"
                else label(link.a_dev, link.a_port),
                "b_hall": b[0],
                "b_rack": b[1],
                "b_u": b[2],
                "b_device": link.b_dev,
                "b_port": label(link.b_dev, link.b_port),
                "medium": link.medium or "NONE",
                "length_m": link.length_m,
            }
        )
    return rows


def _csv(fields: tuple[str, ...], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def elevation_rows(design: Design) -> list[dict]:
    """Every occupied U range of every rack: nodes, in-rack CDUs, switches."""
    catalog = load_catalog()
    rows = []
    for n in design.nodes:
        rows.append(
            {
                "rack": n.rack,
                "u": n.u,
                "height_u": catalog.nodes[n.model].height_u,
                "device": n.name,
                "kind": "node",
                "model": n.model,
            }
        )
    for s in design.switches:
        rows.append(
            {
                "rack": s.rack,
                "u": s.u,
                "height_u": catalog.switches[s.model].height_u,
                "device": s.name,
                "kind": f"{s.tier} switch",
                "model": s.model,
            }
        )
    for c in design.cooling.cdus:
        if c.placement == "in_rack":
            rack = c.name.removesuffix("-cdu")
            rows.append(
                {
                    "rack": rack,
                    "u": 1,
                    "height_u": catalog.cdus[c.model].height_u,
                    "device": c.name,
                    "kind": "cdu",
                    "model": c.model,
                }
            )
    order = {r.name: i for i, r in enumerate(design.racks)}
    rows.sort(key=lambda r: (order[r["rack"]], -r["u"]))
    return rows


def port_map_rows(design: Design) -> list[dict]:
    leaf_rack = {s.name: (s.rack, s.u) for s in design.switches if s.tier == "leaf"}
    cable = {(lk.a_dev, lk.a_port): lk for lk in design.links if lk.tier == "node_leaf"}
    label = switch_port_labels(design)
    rows = []
    for n in design.nodes:
        for h in n.hcas:
            link = cable[(n.name, h.rail)]
            rack, u = leaf_rack[h.leaf]
            rows.append(
                {
                    "node": n.name,
                    "rack": n.rack,
                    "u": n.u,
                    "hca": h.device,
                    "rail": h.rail,
                    "plane": h.plane,
                    "leaf": h.leaf,
                    "leaf_port": label(h.leaf, h.leaf_port),
                    "leaf_rack": rack,
                    "leaf_u": u,
                    "medium": link.medium or "NONE",
                    "length_m": link.length_m,
                }
            )
    return rows


def export_design(design: Design, out_dir: Path, protect: tuple[Path, ...] = ()) -> list[Path]:
    """Write the three files into out_dir, replacing the directory as a whole (see
    infra/fsutil.write_output_dir)."""
    files = {
        "cabling.csv": _csv(CABLING_FIELDS, cabling_rows(design)),
        "rack_elevations.csv": _csv(
            ("rack", "u", "height_u", "device", "kind", "model"), elevation_rows(design)
        ),
        "node_ports.csv": _csv(
            (
                "node",
                "rack",
                "u",
                "hca",
                "rail",
                "plane",
                "leaf",
                "leaf_port",
                "leaf_rack",
                "leaf_u",
                "medium",
                "length_m",
            ),
            port_map_rows(design),
        ),
    }
    out = write_output_dir(
        out_dir, files, command=f"export --stack {design.stack}", protect=protect
    )
    return sorted(out / name for name in files)
