"""Cooling: heat per rack split into liquid (cold plates) and air, CDU load against its
N+1 capacity, secondary-loop coolant flow and the facility water the plant must supply."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from infra.catalog import Catalog
from infra.design.model import CduLoad, Cooling, Node, Rack, RackCooling, RackPower
from infra.spec import ClusterSpec

WATER_KJ_PER_L_K = 4.186  # specific heat of water per litre (density ~1 kg/L)


def facility_water_lpm(liquid_kw: float, delta_t_c: float) -> float:
    """Flow that carries `liquid_kw` away at a `delta_t_c` rise: Q = P / (c * dT)."""
    return liquid_kw * 60 / (WATER_KJ_PER_L_K * delta_t_c)


def busiest_cdu_pct(cdus: Iterable[CduLoad]) -> float:
    """The highest CDU load among these, in % of N+1 capacity (0 when none has any)."""
    return max((c.load_pct for c in cdus if c.load_pct is not None), default=0.0)


def compile_cooling(
    spec: ClusterSpec,
    catalog: Catalog,
    racks: list[Rack],
    nodes: list[Node],
    rack_kw: list[RackPower],
) -> Cooling:
    liquid: dict[str, float] = defaultdict(float)
    for node in nodes:
        model = catalog.nodes[node.model]
        liquid[node.rack] += model.expected_kw * model.liquid_fraction
    heat = {r.rack: r.expected_kw for r in rack_kw}
    per_lpm = catalog.tcs_lpm_per_kw
    rows = []
    for rack in racks:
        q = heat[rack.name]
        lq = round(liquid[rack.name], 3)
        rows.append(
            RackCooling(
                rack.name, rack.hall, rack.row, q, lq, round(q - lq, 3), round(lq * per_lpm, 1)
            )
        )
    cdus = _cdu_loads(spec, catalog, racks, liquid)
    total_liquid = sum(r.liquid_kw for r in rows)
    return Cooling(
        tuple(rows),
        tuple(cdus),
        round(total_liquid, 3),
        round(sum(r.air_kw for r in rows), 3),
        round(total_liquid * per_lpm, 1),
        round(facility_water_lpm(total_liquid, spec.cooling.facility_delta_t_c), 1),
        spec.cooling.capacity_mw * 1000,
    )


def _cdu_loads(
    spec: ClusterSpec, catalog: Catalog, racks: list[Rack], liquid: dict[str, float]
) -> list[CduLoad]:
    """In-rack CDUs carry their rack with one pump failed (pumps are 1+1); in-row CDUs
    share their row's load and must carry it with one unit failed (N+1)."""
    types = {t.name: t for t in spec.rack_types}
    out = []
    row_load: dict[tuple[str, str], float] = defaultdict(float)
    for rack in racks:
        rt = types.get(rack.rack_type)
        if rt is None or rt.cdu == "none":
            continue
        if rt.cdu == "in_rack":
            cdu = catalog.cdus[rt.cdu_model]
            usable = cdu.capacity_kw if cdu.redundant_pumps >= 1 else 0.0
            out.append(
                CduLoad(
                    f"{rack.name}-cdu",
                    rack.hall,
                    "in_rack",
                    cdu.name,
                    1,
                    round(liquid[rack.name], 3),
                    usable,
                )
            )
        else:
            row_load[(rack.hall, rack.row)] += liquid[rack.name]
    for hall in spec.halls:
        for row in hall.rows:
            rt = types[row.rack_type]
            if rt.cdu != "in_row":
                continue
            cdu = catalog.cdus[rt.cdu_model]
            out.append(
                CduLoad(
                    f"{hall.name}-{row.name}-cdu",
                    hall.name,
                    "in_row",
                    cdu.name,
                    row.cdus,
                    round(row_load[(hall.name, row.name)], 3),
                    (row.cdus - 1) * cdu.capacity_kw,
                )
            )
    return out
