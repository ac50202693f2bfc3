"""Power: node, switch and CDU draw -> rack -> A/B feeds -> hall -> facility (PUE) -> site,
against the utility contract plus on-site generation, phase by phase."""

from __future__ import annotations

from collections import defaultdict

from infra.catalog import Catalog
from infra.design.model import Link, Node, PhasePower, Power, Rack, RackPower, Switch
from infra.errors import InputError, at
from infra.spec import ClusterSpec, Generation


def switch_draw_kw(
    catalog: Catalog, switches: list[Switch], links: list[Link]
) -> dict[str, tuple[float, float]]:
    """(expected, nameplate) kW per switch: its base draw plus one transceiver per used
    port (expected); the datasheet maximum (nameplate)."""
    per_end = {name: m.power_w_per_end for name, m in catalog.media_by_name().items()}
    optics_w: dict[str, float] = defaultdict(float)
    for link in links:
        w = per_end.get(link.medium, 0.0)
        optics_w[link.b_dev] += w
        if link.tier != "node_leaf":
            optics_w[link.a_dev] += w
    out = {}
    for sw in switches:
        model = catalog.switches[sw.model]
        out[sw.name] = ((model.base_w + optics_w[sw.name]) / 1000, model.max_w / 1000)
    return out


def _rack_feed_kw(spec: ClusterSpec, catalog: Catalog, rack: Rack) -> float:
    """What one feed can carry. Feeds are 2N: each must hold the whole rack alone."""
    if rack.kind == "network":
        return catalog.pdus[spec.fabric.network_pdu_model].usable_kw
    rt = next(t for t in spec.rack_types if t.name == rack.rack_type)
    return rt.pdus_per_feed * catalog.pdus[rt.pdu_model].usable_kw


def rack_power(
    spec: ClusterSpec,
    catalog: Catalog,
    racks: list[Rack],
    nodes: list[Node],
    switch_kw: dict[str, tuple[float, float]],
    switches: list[Switch],
) -> list[RackPower]:
    expected: dict[str, float] = defaultdict(float)
    nameplate: dict[str, float] = defaultdict(float)
    for node in nodes:
        model = catalog.nodes[node.model]
        expected[node.rack] += model.expected_kw
        nameplate[node.rack] += model.nameplate_kw
    for sw in switches:
        exp, peak = switch_kw[sw.name]
        expected[sw.rack] += exp
        nameplate[sw.rack] += peak
    types = {t.name: t for t in spec.rack_types}
    out = []
    for rack in racks:
        rt = types.get(rack.rack_type)
        if rt is not None and rt.cdu == "in_rack":
            cdu_kw = catalog.cdus[rt.cdu_model].power_kw
            expected[rack.name] += cdu_kw
            nameplate[rack.name] += cdu_kw
        peak = round(nameplate[rack.name], 3)
        out.append(
            RackPower(
                rack.name,
                rack.hall,
                round(expected[rack.name], 3),
                peak,
                _rack_feed_kw(spec, catalog, rack),
                peak / 2,
                peak / 2,
            )
        )
    return out


def in_row_cdu_kw(spec: ClusterSpec, catalog: Catalog) -> dict[tuple[str, str], float]:
    """Draw of in-row CDUs per (hall, row): they feed from the row, not from a rack."""
    types = {t.name: t for t in spec.rack_types}
    out = {}
    for hall in spec.halls:
        for row in hall.rows:
            rt = types[row.rack_type]
            if rt.cdu == "in_row":
                out[(hall.name, row.name)] = row.cdus * catalog.cdus[rt.cdu_model].power_kw
    return out


def _onsite_kw(units: list[Generation]) -> float:
    return sum(g.count * g.mw_each for g in units) * 1000


def _energized(spec: ClusterSpec, sus: list[str], su_hall: dict[str, str]):
    """Cumulative (phase name, halls fully on, SUs on) per phase."""
    if not spec.phases:
        yield "all", {h.name for h in spec.halls}, set(sus)
        return
    halls: set[str] = set()
    on: set[str] = set()
    known = set(sus)
    for i, phase in enumerate(spec.phases):
        for j, hall in enumerate(phase.halls):
            if hall not in su_hall.values() and hall not in {h.name for h in spec.halls}:
                raise InputError([at(f"phases[{i}].halls[{j}]", f"unknown hall {hall!r}")])
        for j, su in enumerate(phase.sus):
            if su not in known:
                raise InputError([at(f"phases[{i}].sus[{j}]", f"unknown scalable unit {su!r}")])
        halls |= set(phase.halls)
        on |= set(phase.sus) | {s for s in sus if su_hall[s] in halls}
        yield phase.name, set(halls), set(on)


def compile_power(
    spec: ClusterSpec,
    racks: list[Rack],
    rack_kw: list[RackPower],
    row_cdu_kw: dict[tuple[str, str], float],
    sus: list[str],
    su_hall: dict[str, str],
) -> Power:
    basis = spec.power.budget_basis
    draw = {r.rack: (r.expected_kw if basis == "expected" else r.nameplate_kw) for r in rack_kw}
    hall_it: dict[str, float] = {h.name: 0.0 for h in spec.halls}
    for rack in racks:
        hall_it[rack.hall] += draw[rack.name]
    for (hall, _row), kw in row_cdu_kw.items():
        hall_it[hall] += kw
    pue = spec.power.target_pue
    it_kw = sum(hall_it.values())
    phases = []
    for name, halls, on in _energized(spec, sus, su_hall):
        p_it = _phase_it(racks, draw, row_cdu_kw, halls, on)
        phase = next((p for p in spec.phases if p.name == name), None)
        contract = (
            phase.utility_contract_mw
            if phase and phase.utility_contract_mw
            else spec.power.utility_contract_mw
        ) * 1000
        gen = phase.generation if phase and phase.generation is not None else spec.power.generation
        live_halls = tuple(sorted({su_hall[s] for s in on} | halls))
        phases.append(
            PhasePower(
                name,
                live_halls,
                len(on),
                round(p_it, 3),
                round(p_it * pue, 3),
                contract,
                _onsite_kw(gen),
                _storage_kw(spec),
            )
        )
    return Power(
        tuple(rack_kw),
        {h: round(v, 3) for h, v in hall_it.items()},
        round(it_kw, 3),
        round(it_kw * pue, 3),
        pue,
        spec.power.utility_contract_mw * 1000,
        _onsite_kw(spec.power.generation),
        _storage_kw(spec),
        sum(s.units * s.mwh_each for s in spec.power.storage) * 1000,
        tuple(phases),
    )


def _storage_kw(spec: ClusterSpec) -> float:
    return sum(s.units * s.mw_each for s in spec.power.storage) * 1000


def _phase_it(racks, draw, row_cdu_kw, halls, on) -> float:
    """IT draw of what is energized: compute racks of live SUs (or whole live halls);
    switch racks and in-row CDUs of any hall or row with live compute."""
    live_rows = {(r.hall, r.row) for r in racks if r.kind == "compute" and r.su in on}
    live_halls = {h for h, _ in live_rows} | halls
    total = 0.0
    for rack in racks:
        if rack.kind == "compute":
            live = rack.su in on or rack.hall in halls
        elif rack.row == "core":  # the core serves every hall
            live = bool(live_halls)
        else:
            live = rack.hall in live_halls
        if live:
            total += draw[rack.name]
    total += sum(kw for key, kw in row_cdu_kw.items() if key in live_rows or key[0] in halls)
    return total
