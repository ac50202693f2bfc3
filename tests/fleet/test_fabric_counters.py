"""Fabric port counters as rates over an interval after a clear: perfquery's real output
(fixtures in its format, and a real read under ibsim with counters set in the simulator),
per-counter thresholds from the inventory, link flaps, designed ports only."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ibsimplane import swept_plane

from infra.design import compile_design
from infra.errors import InputError
from infra.fabric.sim import tool
from infra.fleet.counters import designed_ports, judge, parse_perfquery
from infra.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures"


def _thresholds(project_dir: Path) -> tuple[dict, float]:
    doc = yaml.safe_load((project_dir / "inventory/group_vars/all/thresholds.yml").read_text())
    return doc["fabric_health_thresholds"], float(doc["fabric_health_interval_s"])


def test_parse_real_format() -> None:
    reads = parse_perfquery((FIXTURES / "perfquery-after-60s.txt").read_text())
    assert sorted(reads) == [(7, 1), (125, 1), (125, 2), (125, 3), (125, 64)]
    assert reads[(125, 1)]["SymbolErrorCounter"] == 42
    assert reads[(125, 1)]["CounterSelect"] == 0  # hex values parse too
    assert reads[(125, 64)]["PortRcvErrors"] == 50
    with pytest.raises(InputError, match=r"x:2: not perfquery output"):
        parse_perfquery("# Port counters: Lid 1 port 1 (CapMask: 0x1200)\ngarbage\n", "x")


def test_designed_ports_only_with_thresholds_and_flaps(project_dir: Path) -> None:
    thresholds, interval = _thresholds(project_dir)
    before = parse_perfquery((FIXTURES / "perfquery-cleared.txt").read_text())
    after = parse_perfquery((FIXTURES / "perfquery-after-60s.txt").read_text())
    # Port 64 of the leaf is a spare (no cable in the design): its 9,999 symbol errors
    # and 50 receive errors are not failures. LID 7 is an HCA, designed, 11 rcv errors.
    lids = {"leaf-a": 125, "node01 mlx5_0": 7}
    ports = designed_ports(
        lids, [("leaf-a", 1), ("leaf-a", 2), ("leaf-a", 3), ("node01 mlx5_0", 1)]
    )
    found = judge(before, after, interval, thresholds, ports)
    got = sorted((f.port, f.counter, f.kind, f.delta) for f in found)
    assert got == [
        ("leaf-a port 1", "SymbolErrorCounter", "errors", 42),
        ("leaf-a port 2", "LinkDownedCounter", "flap", 1),
        ("node01 mlx5_0 port 1", "PortRcvErrors", "errors", 11),
    ]
    sym = next(f for f in found if f.counter == "SymbolErrorCounter")
    assert sym.rate_per_s == pytest.approx(42 / interval) and sym.threshold == 10
    assert "port 64" not in " ".join(f.summary for f in found)
    # The same reads with the spare in the design: it fails on two counters.
    ports[(125, 64)] = "leaf-a port 64"
    spare = [f for f in judge(before, after, interval, thresholds, ports) if "64" in f.port]
    assert sorted(f.counter for f in spare) == [
        "LinkDownedCounter",
        "PortRcvErrors",
        "SymbolErrorCounter",
    ]
    # A designed port that did not answer the second read is a finding.
    ports[(125, 9)] = "leaf-a port 9"
    assert [
        f.kind for f in judge(before, after, interval, thresholds, ports) if f.port.endswith(" 9")
    ] == ["unreadable"]


def _lids(discovered: str) -> dict[str, int]:
    sw = re.findall(
        r'^Switch\t\d+ "S-[0-9a-f]+"\t\t# "([^"]+)" enhanced port 0 lid (\d+)', discovered, re.M
    )
    return {name: int(lid) for name, lid in sw}


def test_real_read_under_ibsim(project_dir: Path) -> None:
    """ibsim + OpenSM on the dev plane; perfquery clears a leaf's counters, the simulator
    sets counters on three of its designed ports (PerformanceSet), perfquery reads them
    after the interval: exactly the port above threshold and the flapped link fail."""
    thresholds, _ = _thresholds(project_dir)
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    leaf = "p0-leaf-su001-r0"
    with swept_plane(design) as plane:

        def run(*cmd: str) -> str:
            done = subprocess.run(
                cmd, cwd=plane.state, env=plane.client, capture_output=True, text=True,
                timeout=120, check=True,
            )  # fmt: skip
            return done.stdout

        discovered = run(tool("ibnetdiscover"))
        lid = _lids(discovered)[leaf]
        node_id = re.search(rf'"(S-[0-9a-f]+)"\t\t# "{leaf}"', discovered).group(1)
        designed = [e for a, b, _ in plane.fabric.links for e in (a, b) if e[0] == leaf]
        ports = designed_ports({leaf: lid}, designed)
        assert len(ports) == 64
        read = lambda: "".join(run(tool("perfquery"), str(lid), str(p)) for p in (1, 2, 3))  # noqa: E731
        for port in (1, 2, 3):  # the clear
            run(tool("perfquery"), "-R", str(lid), str(port))
        cleared = parse_perfquery(read())
        t0 = time.monotonic()
        plane.set_counters(
            node_id,
            {
                (1, "SymbolErrorCounter"): 25,
                (2, "LinkDownedCounter"): 1,
                (3, "SymbolErrorCounter"): 4,
            },
        )
        time.sleep(1.0)
        after = parse_perfquery(read())
        interval = time.monotonic() - t0
    assert all(v["SymbolErrorCounter"] == 0 for v in cleared.values())
    found = judge(
        cleared,
        after,
        interval,
        thresholds,
        {k: v for k, v in ports.items() if k in after},
    )
    got = sorted((f.port, f.counter, f.kind, f.delta) for f in found)
    assert got == [
        (f"{leaf} port 1", "SymbolErrorCounter", "errors", 25),
        (f"{leaf} port 2", "LinkDownedCounter", "flap", 1),
    ]
