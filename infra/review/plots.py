"""Inline SVG plots for review.html, drawn here (no plotting library, no network).

Each function returns one <svg> element as a string. A memphis-scale floor holds ~1,600
racks, so racks are plain <rect>s written with short number formats in one join; every
plot carries a class `plot` and a data-plot name that the report test looks for.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from html import escape

from infra.design.model import CduLoad, Design
from infra.review.model import PhaseRow, Review

RACK_DEPTH_M = 1.2
FLOOR_WIDTH_PX = 520  # drawing budget per hall: two halls side by side on a page
FLOOR_HEIGHT_PX = 420
# Sequential colour ramp (viridis stops) for rack power: dark = idle, yellow = hot.
RAMP = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
BEFORE, IT, OVERHEAD = "#b8c4d6", "#2b5d9b", "#8fb3e0"
CONTRACT, SUPPLY = "#c0392b", "#e67e22"
MEDIA_COLOURS = ("#1b9e77", "#7570b3", "#66a61e", "#e6ab02", "#a6761d", "#e7298a", "#666")


def _f(x: float) -> str:
    """Short coordinates keep a 1,600-rack floor plan small."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _colour(frac: float) -> str:
    frac = min(max(frac, 0.0), 1.0) * (len(RAMP) - 1)
    i = min(int(frac), len(RAMP) - 2)
    t = frac - i
    a, b = RAMP[i], RAMP[i + 1]
    r, g, b_ = (round(a[k] + (b[k] - a[k]) * t) for k in range(3))
    return f"#{r:02x}{g:02x}{b_:02x}"


def _nice_top(value: float) -> float:
    """A round axis top at or above `value`: four ticks of a round step."""
    if value <= 0:
        return 1.0
    step = value / 4
    mag = 10 ** math.floor(math.log10(step))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * mag >= step:
            return 4 * m * mag
    return value


def _svg(name: str, width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg class="plot" data-plot="{name}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" width="{_f(width)}" height="{_f(height)}" '
        f'role="img" aria-label="{escape(label)}" font-family="system-ui, sans-serif">'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, s: str, size: int = 11, anchor: str = "start", **kw: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(s)}</text>"
    )


def floor_plans(base: Design | None, head: Design) -> list[tuple[str, str]]:
    """(hall, svg) per hall of the head: racks coloured by expected power; racks the
    change adds are outlined black, racks whose draw it changes orange, racks it removes
    are drawn dashed red."""
    kw = {r.rack: r.expected_kw for r in head.power.racks}
    was = {r.rack: r.expected_kw for r in base.power.racks} if base else {}
    top = max(kw.values(), default=1.0) or 1.0
    old = {r.name: r for r in base.racks} if base else {}
    new_names = {r.name for r in head.racks}
    by_hall: dict[str, list] = defaultdict(list)
    for r in head.racks:
        if base is None:
            mark = ""
        elif r.name not in old:
            mark = "added"
        elif abs(was.get(r.name, 0.0) - kw.get(r.name, 0.0)) > 0.05:
            mark = "changed"
        else:
            mark = ""
        by_hall[r.hall].append((r, mark))
    gone: dict[str, list] = defaultdict(list)
    for r in old.values():
        if r.name not in new_names:
            gone[r.hall].append(r)
    halls = list(by_hall) + [h for h in gone if h not in by_hall]  # removed halls last
    return [(h, _floor(h, by_hall.get(h, []), gone.get(h, []), kw, was, top)) for h in halls]


MARKS = {
    "": "",
    "added": ' stroke="#000" stroke-width="1.5"',
    "changed": f' stroke="{SUPPLY}" stroke-width="1.2"',
}


def _floor(
    hall: str, racks: list, gone: list, kw: dict[str, float], was: dict[str, float], top: float
) -> str:
    everything = [r for r, _ in racks] + gone
    x0 = min(r.x_m for r in everything) - 0.6
    y0 = min(r.y_m for r in everything) - 0.6
    x1 = max(r.x_m for r in everything) + 1.2
    y1 = max(r.y_m for r in everything) + RACK_DEPTH_M + 0.6
    scale = min(FLOOR_WIDTH_PX / max(x1 - x0, 1.0), FLOOR_HEIGHT_PX / max(y1 - y0, 1.0), 40.0)
    w, d = _f(0.6 * scale), _f(RACK_DEPTH_M * scale)
    top_px, height = 22, (y1 - y0) * scale + 22 + 34
    width = max((x1 - x0) * scale + 20, 300)
    body = [_text(10, 15, f"{hall}: {len(racks)} racks by expected power", 12)]
    for r, mark in racks:
        x, y = _f(10 + (r.x_m - x0) * scale), _f(top_px + (r.y_m - y0) * scale)
        p = kw.get(r.name, 0.0)
        note = f" (was {was.get(r.name, 0.0):.1f} kW)" if mark == "changed" else ""
        note = " (added)" if mark == "added" else note
        body.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{d}" fill="{_colour(p / top)}"'
            f"{MARKS[mark]}><title>{r.name} ({r.kind}) {p:.1f} kW{note}</title></rect>"
        )
    for r in gone:
        x, y = _f(10 + (r.x_m - x0) * scale), _f(top_px + (r.y_m - y0) * scale)
        body.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{d}" fill="none" stroke="{CONTRACT}" '
            f'stroke-dasharray="2,2"><title>{r.name} (removed)</title></rect>'
        )
    body.append(_legend(10, height - 24, top))
    return _svg(f"floor-{hall}", width, height, body, f"floor plan of {hall}")


def _legend(x: float, y: float, top: float) -> str:
    stops = "".join(
        f'<stop offset="{i / (len(RAMP) - 1):.2f}" stop-color="{_colour(i / (len(RAMP) - 1))}"/>'
        for i in range(len(RAMP))
    )
    gid = f"ramp{int(y)}"
    return (
        f'<defs><linearGradient id="{gid}">{stops}</linearGradient></defs>'
        f'<rect x="{_f(x)}" y="{_f(y)}" width="160" height="10" fill="url(#{gid})"/>'
        + _text(x, y + 21, "0 kW", 10)
        + _text(x + 160, y + 21, f"{top:.0f} kW", 10, "end")
    )


def power_stack(phases: list[PhaseRow]) -> str:
    """Per phase: before and after bars (IT + facility overhead) against the utility
    contract (red line) and contract plus on-site generation (orange dashed line)."""
    tops = [max(p.before_kw or 0, p.after_kw or 0, p.contract_kw + p.onsite_kw) for p in phases]
    top = _nice_top(max(tops, default=1.0) * 1.05)
    group, left, plot_h, base_y = 150.0, 60.0, 220.0, 250.0
    width = left + group * max(len(phases), 1) + 20
    body = [_text(10, 16, "facility power per phase, MW (before | after)", 12)]
    for i in range(5):
        v = top * i / 4
        y = base_y - plot_h * i / 4
        body.append(
            f'<line x1="{_f(left)}" x2="{_f(width - 10)}" y1="{_f(y)}" y2="{_f(y)}" stroke="#ddd"/>'
        )
        body.append(_text(left - 6, y + 4, f"{v / 1000:,.4g}", 10, "end"))
    for i, p in enumerate(phases):
        gx = left + i * group + 20
        for j, (it, fac, label) in enumerate(
            ((p.it_before_kw, p.before_kw, "before"), (p.it_after_kw, p.after_kw, "after"))
        ):
            if fac is None:
                continue
            x = gx + j * 48
            h_it = plot_h * (it or 0) / top
            h_all = plot_h * fac / top
            fill_it = BEFORE if label == "before" else IT
            body.append(
                f'<rect class="bar" x="{_f(x)}" y="{_f(base_y - h_all)}" width="40" '
                f'height="{_f(h_all - h_it)}" fill="{OVERHEAD if label == "after" else "#dde3ec"}">'
                f"<title>{p.phase} {label}: facility {fac / 1000:.2f} MW</title></rect>"
                f'<rect class="bar" x="{_f(x)}" y="{_f(base_y - h_it)}" width="40" '
                f'height="{_f(h_it)}" fill="{fill_it}">'
                f"<title>{p.phase} {label}: IT {(it or 0) / 1000:.2f} MW</title></rect>"
            )
        for value, colour, dash in (
            (p.contract_kw, CONTRACT, ""),
            (p.contract_kw + p.onsite_kw, SUPPLY, ' stroke-dasharray="5,3"'),
        ):
            y = base_y - plot_h * value / top
            body.append(
                f'<line class="limit" x1="{_f(gx - 8)}" x2="{_f(gx + 104)}" y1="{_f(y)}" '
                f'y2="{_f(y)}" stroke="{colour}" stroke-width="2"{dash}/>'
            )
        body.append(_text(gx + 44, base_y + 16, p.phase, 11, "middle"))
    lx = left
    for colour, label in ((IT, "IT"), (OVERHEAD, "facility overhead (PUE)")):
        body.append(f'<rect x="{_f(lx)}" y="276" width="10" height="10" fill="{colour}"/>')
        body.append(_text(lx + 14, 285, label, 10))
        lx += 40 + 6 * len(label)
    body.append(
        f'<line x1="{_f(lx)}" x2="{_f(lx + 18)}" y1="281" y2="281" stroke="{CONTRACT}" '
        'stroke-width="2"/>' + _text(lx + 22, 285, "contract", 10)
    )
    lx += 80
    body.append(
        f'<line x1="{_f(lx)}" x2="{_f(lx + 18)}" y1="281" y2="281" stroke="{SUPPLY}" '
        'stroke-width="2" stroke-dasharray="5,3"/>' + _text(lx + 22, 285, "contract + on-site", 10)
    )
    return _svg("power-phases", max(width, 600), 296, body, "power per phase")


def fabric_tiers(review: Review) -> str:
    """Switch tiers as boxes (before -> after) with the cables between them split by
    medium."""
    sw: dict[str, list[float]] = defaultdict(lambda: [0, 0])
    for d in review.switches:
        tier = d.item.split("/")[0]
        sw[tier][0] += d.before
        sw[tier][1] += d.after
    cables: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for d in review.cables:
        tier, medium = d.item.split("/")
        cables[tier][medium][0] += d.before
        cables[tier][medium][1] += d.after
    nodes = next((d for d in review.inventory if d.item == "nodes"), None)
    layers = [
        ("core", "spine_core"),
        ("spine", "leaf_spine"),
        ("leaf", "node_leaf"),
    ]
    body = [_text(10, 16, "fabric tiers: switches and cables (before -> after)", 12)]
    y = 30.0
    media = sorted({m for tier in cables.values() for m in tier}, key=_medium_order)
    colour = {m: MEDIA_COLOURS[i % len(MEDIA_COLOURS)] for i, m in enumerate(media)}
    colour["NONE"] = CONTRACT  # cables nothing reaches stand out
    for tier, link_tier in layers:
        b, a = sw.get(tier, [0, 0])
        body.append(
            f'<rect class="tier" data-tier="{tier}" x="10" y="{_f(y)}" width="230" height="30" '
            f'rx="4" fill="#eef2f7" stroke="#556"/>'
            + _text(20, y + 19, f"{tier}: {b:,.0f} -> {a:,.0f} switches ({a - b:+,.0f})", 11)
        )
        y += 36
        here = sorted(cables.get(link_tier, {}).items(), key=lambda kv: _medium_order(kv[0]))
        total = sum(a for _, (_, a) in here) or 1
        x = 260.0
        for medium, (mb, ma) in here:
            w = 300 * ma / total
            body.append(
                f'<rect class="cables" x="{_f(x)}" y="{_f(y - 30)}" width="{_f(max(w, 1))}" '
                f'height="14" fill="{colour[medium]}">'
                f"<title>{link_tier} {medium}: {mb:,.0f} -> {ma:,.0f}</title></rect>"
            )
            x += w
        labels = ", ".join(f"{m} {a:,.0f} ({a - b:+,.0f})" for m, (b, a) in here)
        body.append(_text(260, y - 4, f"{link_tier}: {labels or 'none'}", 10))
        y += 4
    nb, na = (nodes.before, nodes.after) if nodes else (0, 0)
    body.append(
        f'<rect class="tier" data-tier="nodes" x="10" y="{_f(y)}" width="230" height="30" '
        f'rx="4" fill="#f7f3ee" stroke="#556"/>'
        + _text(20, y + 19, f"nodes: {nb:,.0f} -> {na:,.0f} ({na - nb:+,.0f})", 11)
    )
    x = 260.0
    for m in media:
        body.append(
            f'<rect x="{_f(x)}" y="{_f(y + 10)}" width="10" height="10" fill="{colour[m]}"/>'
        )
        body.append(_text(x + 14, y + 19, m, 10))
        x += 24 + 7 * len(m)
    return _svg("fabric-tiers", 760, y + 40, body, "fabric tiers")


def _medium_order(medium: str) -> tuple[int, str]:
    """Catalog order (cheapest, shortest reach first); unknown media and NONE last."""
    order = ("dac", "acc", "sr4", "dr4", "2xdr4", "fr4")
    return (order.index(medium) if medium in order else len(order), medium)


CDU_BINS = ("0-50%", "50-60%", "60-70%", "70-80%", "80-90%", "90-100%", ">100%")


def _cdu_bin(cdu: CduLoad) -> str:
    pct = cdu.load_pct
    if cdu.overloaded or pct is None:
        return ">100%"
    if pct < 50:
        return "0-50%"
    lo = min(int(pct // 10) * 10, 90)
    return f"{lo}-{lo + 10}%"


def cdu_histogram(base: Design | None, head: Design) -> str:
    """How many CDUs sit at each loading (of their N+1 capacity), before and after."""

    def bins(d: Design | None) -> Counter:
        if d is None:
            return Counter()
        # An idle CDU without N+1 capacity has no loading to show; a loaded one is over.
        return Counter(_cdu_bin(c) for c in d.cooling.cdus if c.capacity_kw or c.overloaded)

    b, a = bins(base), bins(head)
    top = max([*b.values(), *a.values(), 1])
    left, plot_h, base_y, group = 50.0, 160.0, 190.0, 90.0
    body = [_text(10, 16, "CDU load distribution (share of N+1 capacity), count of CDUs", 12)]
    for i, name in enumerate(CDU_BINS):
        gx = left + i * group
        for j, (n, colour, label) in enumerate(
            ((b[name], BEFORE, "before"), (a[name], IT, "after"))
        ):
            h = plot_h * n / top
            fill = CONTRACT if name == ">100%" and label == "after" and n else colour
            body.append(
                f'<rect class="bar" x="{_f(gx + j * 34)}" y="{_f(base_y - h)}" width="30" '
                f'height="{_f(h)}" fill="{fill}"><title>{name} {label}: {n}</title></rect>'
                + _text(gx + j * 34 + 15, base_y - h - 3, f"{n}", 9, "middle")
            )
        body.append(_text(gx + 32, base_y + 15, name, 10, "middle"))
    body.append(
        f'<line x1="{_f(left)}" x2="{_f(left + group * len(CDU_BINS))}" '
        f'y1="{_f(base_y)}" y2="{_f(base_y)}" stroke="#333"/>'
    )
    return _svg("cdu-load", left + group * len(CDU_BINS) + 10, 215, body, "CDU load distribution")


def make_plots(review: Review, base: Design | None, head: Design) -> dict:
    return {
        "floors": floor_plans(base, head),
        "power": power_stack(review.phases),
        "fabric": fabric_tiers(review),
        "cdu": cdu_histogram(base, head),
    }
