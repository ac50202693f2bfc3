"""The design summary: the stable, machine-readable shape of `supercluster design --json`."""

from __future__ import annotations

from collections import Counter

from infra.design.model import Design
from infra.policy.rules import Violation

TIERS = ("node_leaf", "leaf_spine", "spine_core")


def summarize(design: Design, violations: list[Violation]) -> dict:
    switches = Counter(s.tier for s in design.switches)
    links = Counter(link.tier for link in design.links)
    media = Counter((link.tier, link.medium or "none") for link in design.links)
    p, c = design.power, design.cooling
    return {
        "site": design.site,
        "stack": design.stack,
        "gpus": design.gpus,
        "nodes": len(design.nodes),
        "racks": sum(1 for r in design.racks if r.kind == "compute"),
        "network_racks": sum(1 for r in design.racks if r.kind == "network"),
        "scalable_units": len({n.su for n in design.nodes}),
        "technology": design.technology,
        "planes": len(design.planes),
        "switches": {t: switches.get(t, 0) for t in ("leaf", "spine", "core")},
        "links": {t: links.get(t, 0) for t in TIERS},
        "media": {f"{t}/{m}": n for (t, m), n in sorted(media.items())},
        "fabric": [
            {
                "plane": pl.name,
                "tiers": pl.tiers,
                "leaves": pl.leaves,
                "spines": pl.spines,
                "cores": pl.cores,
                "endpoints": pl.endpoints,
                "lids": pl.lids,
            }
            for pl in design.planes
        ],
        "power": {
            "it_kw": p.it_kw,
            "facility_kw": p.facility_kw,
            "pue": p.pue,
            "contract_kw": p.contract_kw,
            "onsite_kw": p.onsite_kw,
            "storage_kw": p.storage_kw,
            "storage_kwh": p.storage_kwh,
            "halls_it_kw": p.hall_it_kw,
            "phases": [
                {
                    "phase": ph.phase,
                    **ph.loads(),
                    "headroom_kw": round(ph.supply_kw - ph.facility_kw, 3),
                }
                for ph in p.phases
            ],
        },
        "cooling": {
            "liquid_kw": c.liquid_kw,
            "air_kw": c.air_kw,
            "flow_lpm": c.flow_lpm,
            "facility_water_lpm": c.facility_water_lpm,
            "plant_capacity_kw": c.plant_capacity_kw,
            "cdus": len(c.cdus),
            "max_cdu_load_pct": round(
                max(
                    (d.load_kw / d.capacity_kw * 100 for d in c.cdus if d.capacity_kw), default=0.0
                ),
                1,
            ),
        },
        "violations": [v.to_dict() for v in violations],
    }


def render_text(summary: dict) -> str:
    """A terminal view of the summary."""
    s, pw, cl = summary, summary["power"], summary["cooling"]
    lines = [
        f"site {s['site']} (stack {s['stack']}): {s['gpus']:,} GPUs, {s['nodes']:,} nodes, "
        f"{s['racks']:,} compute racks + {s['network_racks']:,} network racks, "
        f"{s['scalable_units']} SUs",
        f"fabric: {s['technology']}, {s['planes']} plane(s); switches leaf "
        f"{s['switches']['leaf']:,} / spine "
        f"{s['switches']['spine']:,} / core {s['switches']['core']:,}; links node-leaf "
        f"{s['links']['node_leaf']:,} / leaf-spine {s['links']['leaf_spine']:,} / spine-core "
        f"{s['links']['spine_core']:,}",
        f"power: IT {pw['it_kw'] / 1000:,.2f} MW, facility {pw['facility_kw'] / 1000:,.2f} MW "
        f"(PUE {pw['pue']}), contract {pw['contract_kw'] / 1000:,.2f} MW + on-site "
        f"{pw['onsite_kw'] / 1000:,.2f} MW",
    ]
    for ph in pw["phases"]:
        lines.append(
            f"  phase {ph['phase']}: {ph['facility_kw'] / 1000:,.2f} MW of "
            f"{(ph['contract_kw'] + ph['onsite_kw']) / 1000:,.2f} MW "
            f"(headroom {ph['headroom_kw'] / 1000:,.2f} MW)"
        )
    lines.append(
        f"cooling: liquid {cl['liquid_kw'] / 1000:,.2f} MW, air "
        f"{cl['air_kw'] / 1000:,.2f} MW, coolant {cl['flow_lpm']:,.0f} L/min, facility "
        f"water {cl['facility_water_lpm']:,.0f} L/min, busiest CDU "
        f"{cl['max_cdu_load_pct']}%"
    )
    errs = [v for v in s["violations"] if v["severity"] == "error"]
    lines.append(f"violations: {len(errs)} error(s), {len(s['violations']) - len(errs)} warning(s)")
    for v in s["violations"][:20]:
        lines.append(f"  {v['severity']:7} {v['rule']:26} {v['object']}: {v['message']}")
    if len(s["violations"]) > 20:
        lines.append(f"  ... and {len(s['violations']) - 20} more (see --json)")
    return "\n".join(lines)
