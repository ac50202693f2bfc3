"""The Spectrum-X fabric's control plane under real software (infra/sim/ethfabric.py),
through `supercluster fabric simulate`: the dev-size Clos (4 SN5600 leaves, 2 spines, 32
nodes x 8 NICs) in network namespaces joined by veth cables, Debian's FRR (zebra + bgpd)
per switch and lldpd everywhere. One run with a swapped and a missing NIC cable: every
BGP session up, every NIC /31 at the designed ECMP width from every other leaf, a downed
uplink rerouted, the faults found by the LLDP validator with their places and nothing
else; then the real lldpd output it kept, validated again by `fabric validate --lldp`,
and nothing left behind. Needs root, frr, lldpd and iputils-ping (scripts/setup.sh)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infra.cli import main
from tests.fabric.ethernet_design import write_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return write_stack(tmp_path_factory.mktemp("proj"))


@pytest.fixture(scope="module")
def run(project, tmp_path_factory):
    keep = tmp_path_factory.mktemp("keep")
    before = set(_netns())
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["fabric", "simulate", "--stack", "sx", "--project-dir", str(project),
                   "--fault", "swap@node_leaf:1", "--fault", "down@node_leaf:1",
                   "--keep", str(keep), "--json"])  # fmt: skip
    return rc, json.loads(buf.getvalue()), keep, before


def test_bgp_up_and_ecmp_at_the_designed_width(run):
    rc, out, _, _ = run
    assert rc == 0 and out["ok"] is True, out
    # 4 leaves x 32 uplinks, seen from both ends: 256 unnumbered sessions
    assert out["sessions_designed"] == 256 and out["sessions_up"] == 256
    assert out["bgp_converged_s"] is not None and out["routes_converged_s"] is not None
    assert set(out["designed_width"].values()) == {32}  # every uplink one ECMP path
    # 4 leaves x the other leaves' cabled NICs (255 of 256: one cable missing)
    assert out["routes_checked"] == 765 and out["routes_ok"] == 765
    assert out["ping"] is True  # the data plane across the spines, on 127/8


def test_downed_uplink_rerouted(run):
    _, out, _, _ = run
    rr = out["reroute"]
    assert rr["ok"] is True and rr["seconds"] is not None and rr["ping_after"] is True
    leaf = rr["link"].split()[0]
    assert rr["widths_before"][leaf] == 32 and rr["widths_after"][leaf] == 31
    others = {k: v for k, v in rr["widths_after"].items() if k != leaf}
    assert set(others.values()) == {32}  # the spine still reaches that leaf 15 ways


def test_lldp_finds_exactly_the_injected_faults_with_places(run):
    _, out, _, _ = run
    assert out["faults_found"] is True
    assert sorted(f["kind"] for f in out["findings"]) == ["missing", "miswired"]
    for f in out["findings"]:
        assert len(f["places"]) == (4 if f["kind"] == "miswired" else 2)
        assert all(p.startswith("hall hall1 row ") and " U" in p for p in f["places"])
        assert any(" switch p0-leaf-" in p and " port swp" in p for p in f["places"])
        assert any(" node hall1-su001-n" in p and " NIC mlx5_" in p for p in f["places"])


def test_kept_lldpd_output_validates_the_same(run, project, capsys):
    _, out, keep, _ = run
    real = keep / "lldp.json"  # what lldpcli -f json show neighbors printed per switch
    rc = main(["fabric", "validate", "--stack", "sx", "--project-dir", str(project),
               "--lldp", str(real), "--json"])  # fmt: skip
    again = json.loads(capsys.readouterr().out)
    assert rc == 1 and again["counts"] == {"miswired": 1, "missing": 1}
    assert sorted(f["summary"] for f in again["findings"]) == sorted(
        f["summary"] for f in out["findings"]
    )


def test_nothing_left_behind(run):
    _, _, _, before = run
    assert set(_netns()) <= before  # every namespace of the run deleted
    mine = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"ethfabric-" in cmd and (b"zebra" in cmd or b"bgpd" in cmd or b"lldpd" in cmd):
                mine.append(pid)
    assert mine == []


def test_faults_lldp_cannot_see_are_refused(project, capsys):
    rc = main(["fabric", "simulate", "--stack", "sx", "--project-dir", str(project),
               "--fault", "speed:1"])  # fmt: skip
    assert rc == 2 and "swap, down" in capsys.readouterr().err


def test_missing_tool_is_exit_3(project, monkeypatch, capsys):
    import infra.sim.ethfabric as eth

    monkeypatch.setattr(eth, "TOOLS", (*eth.TOOLS, "no-such-tool-xyz"))
    rc = main(["fabric", "simulate", "--stack", "sx", "--project-dir", str(project)])
    assert rc == 3 and "no-such-tool-xyz not found" in capsys.readouterr().err


def _netns() -> list[str]:
    try:
        return os.listdir("/run/netns")
    except OSError:
        return []
