"""The fabric brought up for real: ibsim serves the plane, OpenSM routes it (ftree, or the
updn fallback, reported), ibnetdiscover reads it back, validation checks it, and nothing is left
running afterwards."""

from __future__ import annotations

import json
import os
import random

import pytest

from infra.cli import main
from infra.design.model import Design, Link, Node, Plane, Rack, Switch
from infra.fabric.sim import SimResult, leftover_processes, read_opensm_log, simulate_plane

from .conftest import PROJECT_DIR

pytestmark = pytest.mark.integration


def _gone(result: SimResult) -> None:
    assert leftover_processes(result.sockname) == []
    for pid in result.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_dev_plane_comes_up_with_ftree(dev_design):
    r = simulate_plane(dev_design, "p0")
    assert r.subnet_up, r.opensm_errors
    assert r.routing_engine == "ftree", f"OpenSM fell back to {r.routing_engine}"
    assert (r.switches_seen, r.hcas_seen) == (12, 256)
    assert r.sweep_s is not None and 0 < r.sweep_s < 60
    assert r.findings == [] and r.opensm_errors == []
    assert len(r.pids) == 3 + 256  # ibsim, opensm, ibnetdiscover, smpquery per compute HCA
    _gone(r)


def test_superpod_4su_plane_comes_up_with_ftree(superpod_design):
    r = simulate_plane(superpod_design, "p0")
    assert r.subnet_up, r.opensm_errors
    assert r.routing_engine == "ftree", f"OpenSM fell back to {r.routing_engine}"
    assert (r.switches_seen, r.hcas_seen) == (48, 1020)
    assert r.findings == []
    print(f"4-SU SuperPOD plane: OpenSM sweep {r.sweep_s:.3f} s")
    _gone(r)


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_random_faults_are_found_and_nothing_else(dev_design, seed):
    rng = random.Random(seed)
    counts = {"swap": rng.randint(1, 3), "down": rng.randint(1, 3), "speed": rng.randint(1, 2)}
    r = simulate_plane(dev_design, "p0", counts, seed=seed)
    assert r.subnet_up
    assert len(r.faults) == sum(counts.values())
    want = sorted((f.finding_kind, f.designed) for f in r.faults)
    assert sorted((f.kind, tuple(f.designed)) for f in r.findings) == want
    assert r.faults_found
    _gone(r)


def test_simulate_cli_reports_faults_as_json(capsys):
    argv = ["fabric", "simulate", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]
    assert main([*argv, "--fault", "swap:1", "--fault", "speed:1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["command"], report["ok"]) == ("fabric simulate", True)
    (plane,) = report["planes"]
    assert plane["ftree"] and plane["subnet_up"] and plane["faults_found"]
    assert sorted(f["kind"] for f in plane["findings"]) == ["degraded", "miswired"]
    assert main([*argv, "--fault", "swap:999"]) == 2


def _not_a_fat_tree() -> Design:
    """Two leaves cabled to each other, hosts on both: no tree for ftree to rank."""
    rack = Rack("r1", "hall1", "r01", 0, "compute", 0.0, 0.0, "t")
    switches = tuple(Switch(f"p0-leaf-{i}", "leaf", "p0", "su001", "QM9700", 64, "r1", 40 + i)
                     for i in (1, 2))  # fmt: skip
    nodes = tuple(Node(f"n{i}", i, "hall1", "su001", i, "r1", 2 * i + 1, "m", "", "")
                  for i in range(4))  # fmt: skip
    links = tuple(
        Link("node_leaf", "p0", f"n{i}", 0, f"p0-leaf-{1 + i % 2}", 1 + i // 2, "dac", 1.0)
        for i in range(4)
    ) + tuple(Link("leaf_spine", "p0", "p0-leaf-1", p, "p0-leaf-2", p, "dac", 1.0)
              for p in (5, 6))  # fmt: skip
    plane = Plane("p0", (0,), 1, 8, 2, 0, 0, 4, 6)
    return Design("t", "t", (rack,), nodes, switches, links, (plane,), None, None, 8, 32)


def test_not_a_fat_tree_is_routed_by_the_declared_fallback():
    r = simulate_plane(_not_a_fat_tree(), "p0")
    assert r.subnet_up  # OpenSM still brings it up ...
    assert r.routing_engine == "updn" and not r.ftree  # ... with updn (ftree,updn), not ftree
    assert r.fell_back and r.routed
    assert any("ftree: cannot build lid matrices" in e for e in r.opensm_errors)
    _gone(r)


def test_engine_is_read_from_the_log():
    log = (
        "Nov 28 00:25:24 959000 [FEDC46C0] 0x02 -> Entering DISCOVERING state\n"
        "Nov 28 00:25:24 959987 [FEDC46C0] 0x01 -> ucast_mgr_route: ftree: cannot build "
        "lid matrices\n"
        "Nov 28 00:25:24 960049 [FEDC46C0] 0x02 -> osm_ucast_mgr_process: minhop tables "
        "configured on all switches\n"
        "Nov 28 00:25:24 962061 [FEDC46C0] 0x02 -> SUBNET UP\n"
    )
    r = SimResult(plane="p0")
    read_opensm_log(log, r)
    assert r.routing_engine == "minhop" and not r.ftree and r.subnet_up
    assert r.sweep_s == pytest.approx(0.003061)
    assert any("cannot build lid matrices" in e for e in r.opensm_errors)
