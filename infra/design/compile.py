"""compile_design: the pure function from a ClusterSpec to a complete Design."""

from __future__ import annotations

import dataclasses

from infra.catalog import Catalog, load_catalog
from infra.design.cooling import compile_cooling
from infra.design.ethernet import EthernetResult, compile_ethernet
from infra.design.fabric import compile_fabric, place_links
from infra.design.layout import Layout, address_plan, compile_layout, make_nodes, pool_hosts
from infra.design.model import Design, SmHost
from infra.design.names import check_unique_names
from infra.design.power import compile_power, in_row_cdu_kw, rack_power, switch_draw_kw
from infra.spec import ClusterSpec


def compile_design(spec: ClusterSpec, stack: str = "", catalog: Catalog | None = None) -> Design:
    catalog = catalog or load_catalog()
    layout = compile_layout(spec, catalog)
    if spec.fabric.technology == "spectrum_x":
        fabric = compile_ethernet(spec, catalog, layout)
    else:
        fabric = compile_fabric(spec, catalog, layout)
    fabric.switches = _switch_mgmt(spec, fabric.switches)
    nodes = make_nodes(layout, spec, fabric.hcas)
    racks = layout.racks + fabric.racks
    device_rack = {n.name: n.rack for n in nodes}
    device_rack.update({s.name: s.rack for s in fabric.switches})
    if layout.ufm:
        device_rack["ufm"] = layout.ufm.rack
    sm_hosts = _sm_hosts(spec, layout, fabric.hcas)
    device_rack.update({h.name: h.rack for h in sm_hosts})
    rack_xy = {r.name: (r.x_m, r.y_m) for r in racks}
    links = place_links(spec, catalog, fabric.links, device_rack, rack_xy)
    switch_kw = switch_draw_kw(catalog, fabric.switches, links)
    rack_kw = rack_power(spec, catalog, racks, nodes, switch_kw, fabric.switches)
    power = compile_power(
        spec, racks, rack_kw, in_row_cdu_kw(spec, catalog), layout.sus, layout.su_hall
    )
    cooling = compile_cooling(spec, catalog, racks, nodes, rack_kw)
    check_unique_names(
        spec, racks, nodes, fabric.switches, cooling.cdus, layout.ufm is not None, sm_hosts
    )
    gpus_per_node = catalog.nodes[spec.rack_types[0].node].gpus
    gpus = sum(catalog.nodes[n.model].gpus for n in nodes)
    return Design(
        spec.site.name,
        stack,
        tuple(racks),
        tuple(nodes),
        tuple(fabric.switches),
        tuple(links),
        tuple(fabric.planes),
        power,
        cooling,
        gpus_per_node,
        gpus,
        ufm_rack=layout.ufm.rack if layout.ufm else "",
        ufm_u=layout.ufm.u if layout.ufm else 0,
        sm_hosts=tuple(sm_hosts),
        technology=spec.fabric.technology,
        switches_l3=tuple(fabric.switches_l3) if isinstance(fabric, EthernetResult) else (),
        nics_l3=tuple(fabric.nics_l3) if isinstance(fabric, EthernetResult) else (),
    )


def _sm_hosts(spec: ClusterSpec, layout: Layout, hcas: dict) -> list[SmHost]:
    """The SM hosts, with management addresses after the nodes' (same pool)."""
    if not layout.sm_slots:
        return []
    n = len(layout.slots)
    mgmt, _ = address_plan(spec, n + len(layout.sm_slots))
    return [
        SmHost(s.name, s.hall, s.rack, s.u, s.model, mgmt[n + i], 15 - i, tuple(hcas[s.name]))
        for i, s in enumerate(layout.sm_slots)
    ]


def _switch_mgmt(spec: ClusterSpec, switches: list) -> list:
    """Each switch's out-of-band management address, in design order, where the site
    declares the pool (addressing.switch_mgmt_cidr)."""
    if spec.addressing.switch_mgmt_cidr is None:
        return switches
    ips = pool_hosts(spec, "switch_mgmt_cidr", len(switches), "switches")
    return [dataclasses.replace(s, mgmt_ip=ip) for s, ip in zip(switches, ips, strict=True)]
