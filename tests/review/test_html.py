"""review.html opened in real headless Chromium: it renders, the plots are there with a
size on the page, and nothing is fetched beyond the file itself (self-contained)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from tests.review.chromium import load_page
from tests.review.helpers import Repo, base_spec

# What the page tells about itself: the plots with their rendered size, the racks drawn
# on the floor plans, and any resource element that could reach out (there must be none).
PAGE_CHECK = """({
  title: document.title,
  verdict: document.getElementById('verdict').textContent,
  plots: Array.from(document.querySelectorAll('svg.plot')).map(s => {
    const b = s.getBoundingClientRect();
    return {name: s.dataset.plot, width: b.width, height: b.height,
            shapes: s.querySelectorAll('rect, line').length};
  }),
  floorRacks: document.querySelectorAll('svg[data-plot^="floor-"] rect[fill^="#"]').length,
  external: Array.from(document.querySelectorAll('[src], link[href], [href^="http"]'))
    .map(e => e.getAttribute('src') || e.getAttribute('href')),
  bodyHeight: document.body.scrollHeight,
})"""


def _assert_loaded_cleanly(page, html: Path) -> None:
    assert page.requests == [html.resolve().as_uri()], page.requests
    assert page.failed == [], page.failed
    assert page.errors == [], page.errors
    assert page.result["external"] == []


@pytest.mark.integration
def test_two_hall_review_renders_in_chromium(repo: Repo, capsys):
    repo.write(base_spec())
    repo.commit()
    spec = base_spec()
    spec["halls"].append(
        {
            "name": "hall2",
            "x_m": 40.0,
            "spine_area": {"x_m": 0.0, "y_m": 8.0},
            "rows": [
                {
                    "name": "r01",
                    "x_m": 0.0,
                    "y_m": 0.0,
                    "racks": 4,
                    "rack_type": "hgx-lc",
                    "network_racks": 1,
                }
            ],
        }
    )
    repo.write(spec)
    run = repo.plan(capsys)
    html = run.out / "review.html"
    page = load_page(html, PAGE_CHECK)
    _assert_loaded_cleanly(page, html)
    r = page.result
    assert r["title"] == "Plan review: review"
    names = [p["name"] for p in r["plots"]]
    assert names == ["floor-hall1", "floor-hall2", "power-phases", "cdu-load", "fabric-tiers"]
    for plot in r["plots"]:
        assert plot["width"] > 100 and plot["height"] > 50, plot
        assert plot["shapes"] > 3, plot
    racks = sum(d["after"] for d in run.json["inventory"] if d["item"].endswith("racks"))
    assert r["floorRacks"] == racks  # every rack drawn once, coloured by its power
    assert ("exit 1" in r["verdict"]) == (run.rc == 1)


@pytest.fixture(scope="module")
def memphis_plan(tmp_path_factory, project_dir: Path) -> Path:
    """The memphis reference stack with one SU added to hall 4."""
    repo = Repo(tmp_path_factory.mktemp("memphis") / "site")
    shutil.copy(project_dir / "Pulumi.memphis.yaml", repo.root / "Pulumi.memphis.yaml")
    repo.commit()
    doc = yaml.safe_load((repo.root / "Pulumi.memphis.yaml").read_text())
    hall4 = doc["config"]["supercluster:cluster"]["halls"][3]
    hall4["rows"] = list(hall4["rows"])  # the halls share one rows list (a YAML merge key)
    hall4["rows"].append(
        {
            "name": "r15",
            "x_m": 0,
            "y_m": 33.6,
            "racks": 4,
            "rack_type": "hgx-lc",
            "network_racks": 1,
        }
    )
    (repo.root / "Pulumi.memphis.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    out = repo.root / "out"
    rc = main(["plan", "--stack", "memphis", "--project-dir", str(repo.root), "--out", str(out)])
    assert rc in (0, 1)
    return out


def test_memphis_markdown_is_concise(memphis_plan: Path):
    md = (memphis_plan / "review.md").read_text()
    lines = md.splitlines()
    assert len(lines) < 90, len(lines)
    assert len(md) < 12_000
    assert "| GPUs | 100,352 | 100,608 | +256 |" in md
    assert "p3-full" in md


@pytest.mark.integration
def test_memphis_review_renders_in_chromium(memphis_plan: Path):
    html = memphis_plan / "review.html"
    assert html.stat().st_size < 2_000_000
    page = load_page(html, PAGE_CHECK)
    _assert_loaded_cleanly(page, html)
    names = [p["name"] for p in page.result["plots"]]
    assert names[:4] == ["floor-hall1", "floor-hall2", "floor-hall3", "floor-hall4"]
    # memphis (Spectrum-X): 1,568 compute + 224 row network racks + 98 spine + 64 core
    # racks, and the added row's 4 compute and 1 network rack
    assert page.result["floorRacks"] >= 1954 + 5
    assert all(p["width"] > 100 and p["height"] > 50 for p in page.result["plots"])
