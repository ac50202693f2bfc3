"""GUID plan and the designed topology written in ibnetdiscover format."""

from __future__ import annotations

from infra.fabric.discovered import guids_by_desc, parse_discovered
from infra.fabric.guids import CA_TAG, SWITCH_TAG, ca_guid, port_guid, switch_guid
from infra.fabric.plane import plane_fabric
from infra.fabric.topology import write_topology


def test_guids_are_deterministic_tagged_and_leave_room_for_ports():
    assert switch_guid("p0-leaf-su001-r0") == switch_guid("p0-leaf-su001-r0")
    assert switch_guid("p0-leaf-su001-r0") != switch_guid("p0-leaf-su001-r1")
    g = ca_guid("hall1-su001-n01 mlx5_0")
    assert g >> 56 == CA_TAG and switch_guid("x") >> 56 == SWITCH_TAG
    assert g & 0xF == 0 and port_guid(g, 1) == g + 1


def test_guid_plan_of_a_superpod_is_collision_free(superpod_design):
    fabric = plane_fabric(superpod_design, "p0")
    guids = [switch_guid(s) for s in fabric.switches] + [ca_guid(c) for c in fabric.cas]
    # 48 switches, 127 nodes x 8 rails and the UFM's 4 HCAs: the plane's LID count
    assert len(guids) == len(set(guids)) == superpod_design.planes[0].lids == 48 + 1020
    assert fabric.sm_ca == "ufm mlx5_0"


def test_designed_topology_carries_the_plan_and_every_cable(dev_design):
    fabric = plane_fabric(dev_design, "p0")
    text = write_topology(fabric)
    found = parse_discovered(text)
    assert set(found.switches) == set(fabric.switches)
    # every cable is listed from its switch end(s): node links once, switch links twice
    ports = sum(len(v) for v in found.switches.values())
    node_leaf = sum(1 for *_, t in fabric.links if t == "node_leaf")
    assert ports == node_leaf + 2 * (len(fabric.links) - node_leaf)
    by_desc = guids_by_desc(text)
    assert by_desc["p0-spine-001"] == switch_guid("p0-spine-001")
    assert by_desc["hall1-su001-n01 mlx5_3"] == ca_guid("hall1-su001-n01 mlx5_3")


def test_hca_descriptions_follow_rdma_ndd(dev_design):
    fabric = plane_fabric(dev_design, "p0")
    assert fabric.cas[0] == "hall1-su001-n01 mlx5_0"
    assert len(fabric.cas) == len(fabric.compute) == 256
    assert sorted(fabric.roots) == [f"p0-spine-00{i}" for i in range(1, 5)]
