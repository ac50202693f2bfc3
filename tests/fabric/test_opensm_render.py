"""OpenSM configuration rendered from the design (the simulation tests run OpenSM on it)."""

from __future__ import annotations

import jinja2
import pytest

from infra.cli import main
from infra.errors import InputError
from infra.fabric import opensm
from infra.fabric.guids import ca_guid, hex_guid, port_guid, switch_guid
from infra.fabric.opensm import GuidSource, render_plane
from infra.fabric.plane import plane_fabric
from infra.fabric.topology import write_topology

from .conftest import PROJECT_DIR


def test_opensm_files_for_a_superpod_plane(superpod_design):
    fabric = plane_fabric(superpod_design, "p0")
    files = render_plane(superpod_design, fabric)
    conf = files["opensm.conf"]
    assert "routing_engine ftree,updn\n" in conf  # a deadlock-free fallback, never minhop
    assert "root_guid_file /etc/opensm/p0/root_guids.conf\n" in conf
    assert f"guid {hex_guid(port_guid(ca_guid('ufm mlx5_0'), 1))}\n" in conf  # SM on UFM
    assert "qos FALSE\n" in conf and "qos_sl2vl 0,1," in conf  # storage has its own NICs
    roots = files["root_guids.conf"].split()
    assert roots == [hex_guid(switch_guid(f"p0-spine-{i:03d}")) for i in range(1, 17)]
    cns = files["cn_guids.conf"].split()
    assert len(cns) == 127 * 8 and hex_guid(port_guid(ca_guid("ufm mlx5_0"), 1)) not in cns
    parts = files["partitions.conf"]
    # Compute runs at P_Key index 0 (the default partition): its HCAs are full members there;
    # the IPoIB groups carry the 4K MTU (code 5) and the NDR 400 Gb/s rate (code 21).
    head = "Default=0x7fff, ipoib, mtu=5, rate=21, sl=0, defmember=limited :\n  ALL, SELF=full,\n"
    assert head in parts
    default = parts.split(head)[1].split(";")[0].split()
    assert default == [f"{g}=full," for g in cns[:-1]] + [f"{cns[-1]}=full"]
    assert "storage=0x0002, ipoib, mtu=5, rate=21, sl=1, defmember=full :" in parts
    assert "compute=0x0001" not in parts  # NCCL would not use it without NCCL_IB_PKEY
    assert parts.count(" ;\n") == 2  # every definition closed on a member line
    plan = files["guid-plan.csv"].splitlines()
    assert len(plan) == 1 + 48 + 1020 and "rack" in plan[1]


def test_render_uses_real_guids_from_a_discovered_file(dev_design):
    fabric = plane_fabric(dev_design, "p0")
    real = write_topology(fabric).replace("5c", "b8", 1)  # stand-in: same names, any GUIDs
    from infra.fabric.discovered import guids_by_desc

    guids = guids_by_desc(real)
    files = render_plane(dev_design, fabric, guids=GuidSource(guids))
    assert files["root_guids.conf"].split()[0] == hex_guid(guids["p0-spine-001"])


def test_templates_fail_on_missing_values(dev_design, monkeypatch):
    monkeypatch.setattr(opensm, "QOS", {"max_vls": 2})  # vlarb/sl2vl missing
    with pytest.raises(jinja2.UndefinedError):
        render_plane(dev_design, plane_fabric(dev_design, "p0"))


def test_render_cli_writes_every_plane(tmp_path, capsys):
    out = tmp_path / "fabric"
    argv = ["fabric", "render", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]
    assert main([*argv, "--out", str(out)]) == 0
    names = sorted(p.name for p in (out / "p0").iterdir())
    assert names == sorted(
        ["opensm.conf", "root_guids.conf", "cn_guids.conf", "partitions.conf",
         "node-name-map", "guid-plan.csv", "designed.topo"]
    )  # fmt: skip
    assert not [p for p in (out / "p0").iterdir() if p.name.startswith(".")]  # no temp files
    assert main([*argv, "--out", str(out), "--plane", "p9"]) == 2


def test_partition_rate_follows_the_split_mode(dev_design):
    """NDR200 split ports (128 per QM9700) run at 200 Gb/s: IBTA rate code 17."""
    from dataclasses import replace

    fabric = plane_fabric(dev_design, "p0")
    assert opensm.link_gbps(dev_design, "p0") == 400
    split = replace(dev_design, switches=tuple(replace(s, ports=128) for s in dev_design.switches))
    assert opensm.link_gbps(split, "p0") == 200
    assert ", mtu=5, rate=17, " in render_plane(split, fabric)["partitions.conf"]
    odd = replace(dev_design, switches=tuple(replace(s, ports=50) for s in dev_design.switches))
    with pytest.raises(InputError, match="cannot tell the link rate"):
        opensm.link_gbps(odd, "p0")
