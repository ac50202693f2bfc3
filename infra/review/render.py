"""Renderers of a Review: terminal text, review.md, review.html, review.json and the
full list of changed cables (cabling-changes.csv). Markdown and HTML come from Jinja2
templates in templates/review/ (StrictUndefined: a missing value fails the render)."""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from infra.design.export import CABLING_FIELDS
from infra.design.model import Design
from infra.fsutil import write_output_dir
from infra.review.model import Review
from infra.review.plots import make_plots

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "review"
MD_ROWS = 10  # cabling rows and violations listed in review.md (the rest: json/csv/html)
HTML_ROWS = 200


def num(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def signed(x: float | None, digits: int = 0) -> str:
    if x is None or round(x, digits) == 0:
        return "0" if x is not None else "-"
    return f"{x:+,.{digits}f}"


def mw(kw: float | None) -> str:
    return "-" if kw is None else f"{kw / 1000:,.2f}"


def dmw(kw: float | None) -> str:
    return "-" if kw is None else f"{kw / 1000:+,.2f}"


def names(items: list[str], limit: int = 6) -> str:
    """A short list: first few names, then how many more."""
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


@cache
def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=num, signed=signed, mw=mw, dmw=dmw, names=names)
    return env


def _context(review: Review) -> dict:
    data = review.to_dict()
    data["cabling_rows"] = review.cabling.rows
    data["verdict"] = (
        f"{review.blocking} blocking error(s) after the change (exit 1)"
        if review.blocking
        else "nothing blocking (exit 0)"
    )
    return data


def render_markdown(review: Review) -> str:
    return _env(False).get_template("review.md.j2").render(r=_context(review), rows=MD_ROWS)


def render_html(review: Review, base: Design | None, head: Design) -> str:
    plots = make_plots(review, base, head)
    plots = {
        "floors": [(hall, Markup(svg)) for hall, svg in plots["floors"]],
        **{k: Markup(v) for k, v in plots.items() if k != "floors"},
    }
    return (
        _env(True)
        .get_template("review.html.j2")
        .render(r=_context(review), plots=plots, rows=HTML_ROWS)
    )


def render_json(review: Review) -> str:
    return json.dumps(review.to_dict(), indent=2, sort_keys=True) + "\n"


def render_cabling_csv(review: Review) -> str:
    fields = ("change", *CABLING_FIELDS, "was_medium", "was_length_m")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(review.cabling.rows)
    return buf.getvalue()


def render_text(review: Review) -> str:
    """The terminal summary: what changes, the power per phase, the verdict."""
    r = review
    lines = [f"plan {r.stack} (site {r.site}): {r.base} -> {r.head}"]
    if not r.base_present:
        lines.append("  the stack file is new at the base: everything is added")
    changed = [d for d in r.inventory if d.delta]
    lines.append(
        "  "
        + (
            "; ".join(
                f"{d.item} {num(d.before)} -> {num(d.after)} ({signed(d.delta)})" for d in changed
            )
            if changed
            else "no inventory change"
        )
    )
    c = r.cabling
    lines.append(f"  cables: {c.added:,} added, {c.removed:,} removed, {c.changed:,} changed")
    for p in r.phases:
        supply = p.contract_kw + p.onsite_kw
        lines.append(
            f"  power phase {p.phase}: {mw(p.before_kw)} -> {mw(p.after_kw)} MW of "
            f"{mw(supply)} MW (headroom {mw(p.headroom_after_kw)} MW)"
        )
    cool = {d.item: d for d in r.cooling}
    water = cool["facility water L/min"]
    lines.append(
        f"  cooling: facility water {num(water.before)} -> {num(water.after)} L/min, "
        f"busiest CDU {num(cool['busiest CDU %'].after, 1)}%"
    )
    v = r.violations
    lines.append(
        f"  rules: {len(v['new'])} new, {len(v['fixed'])} fixed, {len(v['remaining'])} remaining"
    )
    for item in v["new"][:10]:
        lines.append(
            f"    new {item['severity']:7} {item['rule']} {item['object']}: {item['message']}"
        )
    for name, info in r.integrations.items():
        lines.append(f"  {name}: {info['status']}: {info['summary']}")
    lines.append(
        f"verdict: {r.blocking} blocking error(s) after the change"
        if r.blocking
        else "verdict: nothing blocking"
    )
    return "\n".join(lines)


def write_outputs(review: Review, base: Design | None, head: Design, out_dir: Path) -> list[Path]:
    """review.md, review.html, review.json, cabling-changes.csv: the directory replaced as
    a whole (infra/fsutil.write_output_dir)."""
    files = {
        "review.md": render_markdown(review),
        "review.html": render_html(review, base, head),
        "review.json": render_json(review),
        "cabling-changes.csv": render_cabling_csv(review),
    }
    out = write_output_dir(out_dir, files, command=f"plan --stack {review.stack}")
    return sorted(out / name for name in files)
