"""Hostile discovery files (tests/hostile/discovery/, described in its cases.json) fed to
the real CLI in a subprocess: `fabric render --guids-from F` and `fabric validate
--discovered F`. Each case states the exit code and a message substring per command; every
run must also end without a traceback, with no raw control character on the terminal and
with bounded output (a 10 MB description is not echoed back)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.design import compile_design
from infra.fabric.plane import plane_fabric
from infra.fabric.topology import write_topology
from infra.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "discovery"
CLI = Path(sys.executable).parent / "supercluster"
CASES = json.loads((CORPUS / "cases.json").read_text())["cases"]
# Anything a terminal would act on: C0 but tab and newline, DEL, C1, bidi overrides.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MAX_OUTPUT = 20_000  # characters: 50 problem lines of clipped values fit well inside


def _dev_plane_text() -> str:
    design = compile_design(load_spec("dev", ROOT), stack="dev")
    return write_topology(plane_fabric(design, "p0"))


def _without_record(text: str, desc: str) -> str:
    """The topology with the record of `desc` (its id lines, header, port lines) removed."""
    records = text.split("\n\n")
    return "\n\n".join(r for r in records if f'# "{desc}" enhanced' not in r)


def _impostor(desc: str, guid: int) -> str:
    return (
        f"vendid=0x2c9\ndevid=0x1021\nsysimgguid=0x{guid:x}\ncaguid=0x{guid:x}\n"
        f'Ca\t1 "H-{guid:016x}"\t\t# "{desc}"\n'
    )


def make_huge_description(tmp: Path) -> Path:
    path = tmp / "huge_description.topo"
    desc = "x" * (10 * 1024 * 1024)
    path.write_text(f'switchguid=0x5c01(5c01)\nSwitch\t64 "S-0000000000005c01"\t\t# "{desc}"\n')
    return path


def make_hca_impostor_spine_absent(tmp: Path) -> Path:
    path = tmp / "hca_impostor_spine_absent.topo"
    text = _without_record(_dev_plane_text(), "p0-spine-001")
    assert '"p0-spine-001" enhanced' not in text  # the spine's own record is really gone
    path.write_text(text + "\n" + _impostor("p0-spine-001", 0x5A00_0000_0000_1230))
    return path


def make_designed_plane(tmp: Path) -> Path:
    path = tmp / "designed_plane.topo"
    path.write_text(_dev_plane_text())
    return path


def _case_file(case: dict, tmp: Path) -> Path:
    if "make" in case:
        return globals()[f"make_{case['make']}"](tmp)
    return CORPUS / case["file"]


def _argv(command: str, path: Path, tmp: Path) -> list[str]:
    if command == "render":
        out = str(tmp / "out")
        return ["fabric", "render", "--stack", "dev", "--guids-from", str(path), "--out", out]
    return ["fabric", "validate", "--stack", "dev", "--discovered", str(path)]


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *argv, "--project-dir", str(ROOT)],
        capture_output=True,
        text=True,
        errors="surrogateescape",  # whatever bytes come out are looked at, not decoded away
        timeout=120,
    )


RUNS = [
    pytest.param(case, command, id=f"{case.get('file') or case['make']}-{command}")
    for case in CASES
    for command in ("render", "validate")
    if command in case
]


@pytest.mark.parametrize(("case", "command"), RUNS)
def test_hostile_discovery_file(case: dict, command: str, tmp_path: Path):
    want = case[command]
    proc = _run(_argv(command, _case_file(case, tmp_path), tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == want["exit"], out[-2000:]
    assert want["message"] in out, out[-2000:]
    assert "Traceback" not in out
    assert RAW_CONTROL.search(out) is None, repr(RAW_CONTROL.search(out))
    assert len(out) < MAX_OUTPUT or want["exit"] in (0, 1), len(out)
    if want["exit"] == 2:  # refused input: one line per problem, each naming the file
        lines = proc.stderr.splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), lines[:5]
        assert all(f"--{'guids-from' if command == 'render' else 'discovered'} " in line
                   for line in lines if "more problems" not in line)  # fmt: skip


def test_every_corpus_file_has_a_case():
    named = {c["file"] for c in CASES if "file" in c}
    on_disk = {p.name for p in CORPUS.iterdir() if p.suffix == ".topo"}
    assert named == on_disk


def test_problems_are_capped_at_fifty_with_a_count(tmp_path: Path):
    proc = _run(_argv("validate", CORPUS / "sixty_bad_headers.topo", tmp_path))
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2
    assert len(lines) == 51 and lines[-1] == "error: ... and 10 more problems"
    first = ":5: malformed record header: 'Switch\\t64 \"S-0000000000000001\"\\t\\t# bad 1'"
    assert lines[0].endswith(first), lines[0]


def test_render_never_takes_an_hca_guid_as_a_root_guid(tmp_path: Path):
    """The designed plane plus an HCA described as spine 001 (spine present): refused,
    naming both lines; before, the HCA's GUID replaced the spine's in root_guids.conf."""
    path = tmp_path / "impostor.topo"
    path.write_text(_dev_plane_text() + "\n" + _impostor("p0-spine-001", 0x5A00_0000_0000_1230))
    proc = _run(_argv("render", path, tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "duplicate node description 'p0-spine-001': also at --guids-from" in proc.stderr
    assert ":9 (" in proc.stderr  # the spine's own header line, named as the first entry
    assert not (tmp_path / "out").exists()
