"""Fabric counts against NVIDIA's DGX SuperPOD reference architecture tables and the
fat-tree formulas."""

from __future__ import annotations

import pytest
import yaml

from infra.design import compile_design
from infra.presets import superpod
from infra.spec import parse_spec
from tests.design.specs import hall, spec_dict


def preset_design(sus: int):
    doc = yaml.safe_load(superpod(sus, "sp"))
    return compile_design(parse_spec(doc["config"]["supercluster:cluster"]), "sp")


def counts(design):
    sw = {t: sum(1 for s in design.switches if s.tier == t) for t in ("leaf", "spine", "core")}
    ln = {
        t: sum(1 for k in design.links if k.tier == t)
        for t in ("node_leaf", "leaf_spine", "spine_core")
    }
    return len(design.nodes), design.gpus, sw, ln


# RA-11333-001 Table 4 (1-4 SUs, one node slot given to UFM): nodes, GPUs, leaf, spine,
# compute+UFM cables, spine-leaf cables.
RA_H100 = {
    1: (31, 248, 8, 4, 252, 256),
    2: (63, 504, 16, 8, 508, 512),
    3: (95, 760, 24, 16, 764, 768),
    4: (127, 1016, 32, 16, 1020, 1024),
}
# DGX SuperPOD scaling table (larger PODs): nodes, GPUs, leaf, spine, core, and each
# of node-leaf / leaf-spine / spine-core cable counts.
RA_SCALE = {
    8: (256, 2048, 64, 32, 0, 2048, 2048, 0),
    16: (512, 4096, 128, 128, 64, 4096, 4096, 4096),
    32: (1024, 8192, 256, 256, 128, 8192, 8192, 8192),
    64: (2048, 16384, 512, 512, 256, 16384, 16384, 16384),
}


@pytest.mark.parametrize("sus", sorted(RA_H100))
def test_superpod_matches_ra_table_4(sus):
    nodes, gpus, leaf, spine, compute_cables, spine_leaf = RA_H100[sus]
    d = preset_design(sus)
    assert counts(d) == (
        nodes,
        gpus,
        {"leaf": leaf, "spine": spine, "core": 0},
        {"node_leaf": compute_cables, "leaf_spine": spine_leaf, "spine_core": 0},
    )
    assert [p.tiers for p in d.planes] == [2]


@pytest.mark.parametrize("sus", sorted(RA_SCALE))
def test_superpod_matches_ra_scaling_table(sus):
    nodes, gpus, leaf, spine, core, nl, ls, sc = RA_SCALE[sus]
    d = preset_design(sus)
    assert counts(d) == (
        nodes,
        gpus,
        {"leaf": leaf, "spine": spine, "core": core},
        {"node_leaf": nl, "leaf_spine": ls, "spine_core": sc},
    )
    assert d.planes[0].tiers == (2 if sus <= 8 else 3)


def test_every_rail_of_an_su_lands_on_its_own_leaf():
    d = compile_design(parse_spec(spec_dict()), "t")
    for node in d.nodes:
        leaves = [h.leaf for h in node.hcas]
        assert len(set(leaves)) == 8
        assert all(h.leaf_port == node.slot + 1 for h in node.hcas)
    # 32 nodes, each leaf has exactly one cable from each node on its rail
    leaf0 = [k for k in d.links if k.b_dev == "p0-leaf-su001-r0"]
    assert sorted(k.b_port for k in leaf0) == list(range(1, 33))


def test_per_rail_planes_are_separate_subnets():
    spec = spec_dict(fabric={"su_nodes": 32, "planes": "per_rail"}, halls=[hall("hall1", 2, 4)])
    d = compile_design(parse_spec(spec), "t")
    assert [p.name for p in d.planes] == [f"p{r}" for r in range(8)]
    for plane in d.planes:
        # 2 SUs: one leaf per SU per plane; 64 endpoints; smallest spine count that
        # divides 32 uplinks and holds 2*32 uplinks on 64-port spines: 1
        assert (plane.leaves, plane.spines, plane.endpoints) == (2, 1, 64)
        assert plane.lids == 64 + 3
    for link in d.links:
        assert link.plane == f"p{link.a_port}" or link.tier != "node_leaf"


def test_three_tiers_when_forced_match_formulas():
    spec = spec_dict(
        fabric={"su_nodes": 32, "tiers": 3, "core_area": {"hall": "hall1", "x_m": 10, "y_m": 10}}
    )
    d = compile_design(parse_spec(spec), "t")
    p = d.planes[0]
    # 8 leaves in one pod of 32 spines; each spine has 32 uplinks; one pod needs
    # ceil(1*32/64) = 1 core per group, 32 groups.
    assert (p.tiers, p.leaves, p.spines, p.cores) == (3, 8, 32, 32)
    assert sum(1 for k in d.links if k.tier == "spine_core") == 32 * 32


def test_leaf_oversubscription_halves_uplinks():
    spec = spec_dict(fabric={"su_nodes": 32, "oversubscription": {"leaf": 2.0}})
    d = compile_design(parse_spec(spec), "t")
    assert sum(1 for k in d.links if k.tier == "leaf_spine") == 8 * 16
    assert d.planes[0].oversubscription["leaf"] == 2.0


@pytest.mark.parametrize(
    ("spine_y", "medium", "length"),
    [(30.0, "sr4", 40.5), (80.0, "dr4", 95.5), (120.0, "2xdr4", 139.5)],
)
def test_medium_follows_distance(spine_y, medium, length):
    spec = spec_dict()
    spec["halls"][0]["spine_area"] = {"x_m": 0.0, "y_m": spine_y}
    d = compile_design(parse_spec(spec), "t")
    # leaf rack at x=2.4, spine rack at x=0: (2.4 + y + 2 * 2.0 rise) * 1.1 slack
    assert {(k.medium, k.length_m) for k in d.links if k.tier == "leaf_spine"} == {(medium, length)}


def test_lengths_are_manhattan_plus_rise_and_slack():
    d = compile_design(parse_spec(spec_dict()), "t")
    link = next(k for k in d.links if k.a_dev == "hall1-su001-n01" and k.a_port == 0)
    # rack 1 at x=0, leaf rack 5 at x=2.4: (2.4 + 2*2.0) * 1.1 = 7.04 -> 7.5 m
    assert link.length_m == 7.5
