"""The project carries its own sources: every catalog entry and every acceptance threshold
cites a public document (title, section or table, URL) in the project file itself, and no
project file points at a reference that only its developers had."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "infra" / "catalog" / "hardware.yaml"
THRESHOLDS = ROOT / "inventory" / "group_vars" / "all" / "thresholds.yml"
# Spelled in pieces so that this file does not match itself.
PRIVATE = ("REFERENCE" + ".md", "shared" + "/")
URL = re.compile(r"https://[^\s\"')]+")


def project_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / p for p in listed.split("\0") if p and (ROOT / p).is_file()]


def test_no_project_file_cites_a_file_outside_the_project():
    cited = []
    for path in project_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary files cite nothing
        cited += [f"{path.relative_to(ROOT)}: {p}" for p in PRIVATE if p in text]
    assert cited == []


def catalog_entries() -> list[tuple[str, dict]]:
    raw = yaml.safe_load(CATALOG.read_text())
    entries = [(f"{table}.{name}", e) for table in ("nodes", "switches", "nics", "cdus", "pdus")
               for name, e in raw[table].items()]  # fmt: skip
    entries += [(f"media.{m['name']}", m) for m in raw["media"]]
    entries.append(("cooling", raw["cooling"]))
    return entries


def test_every_catalog_entry_cites_a_public_document():
    missing = []
    for where, entry in catalog_entries():
        sources = entry.get("source") or []
        if not sources:
            missing.append(f"{where}: no source")
        for source in sources:
            if not (source.get("title") and source.get("section")):
                missing.append(f"{where}: a source without its title and section")
            if not URL.fullmatch(str(source.get("url", ""))):
                missing.append(f"{where}: source {source.get('title')!r} has no https URL")
    assert missing == []
    assert len(catalog_entries()) >= 12  # the check saw the whole catalog


def test_every_threshold_follows_its_cited_source():
    """Each numeric threshold sits under a comment block that names a URL (one block may
    cite the source of the few settings right below it)."""
    block_cites, in_comment, uncited = False, False, []
    for line in THRESHOLDS.read_text().splitlines():
        if line.startswith("#"):
            block_cites = (block_cites and in_comment) or bool(URL.search(line))
            in_comment = True
            continue
        in_comment = False
        setting = re.match(r"(\w+):\s*(\d+(\.\d+)?)\s*$", line)
        if setting and not block_cites:
            uncited.append(setting.group(1))
    assert uncited == []
    values = yaml.safe_load(THRESHOLDS.read_text())
    assert values["acceptance_ib_write_bw_gbps_min"] < min(
        values["acceptance_rail_rate_gbps"].values()
    )
